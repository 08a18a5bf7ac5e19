"""The teams pages and what they change (issue #15): API keys (shown once, scopes
enforced, revoked), invitations (a new person makes an account and joins), roles and
project settings (who then sees what), the audit log (its admins only)."""

import json
import re

import pytest
from django.test import Client

from experiments.models import ApiKey, Project, Run, Visibility
from teams.models import AuditEvent, ProjectMember, Role, TeamMembership
from tests.teams.world import SECRET_RUN, build

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _api(key: str, method: str, path: str, body=None):
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if method == "GET":
        return client.get(path, **auth)
    return client.post(path, json.dumps(body or {}), content_type="application/json", **auth)


def test_a_key_made_on_the_keys_page_is_shown_once_and_keeps_its_scope(django_user_model):
    world = build(django_user_model)
    olivia = world.people["olivia"]
    page = _client(olivia).post(
        "/keys/",
        {
            "name": "ci",
            "scope": "read",
            "limit": "on",
            "projects": [world.project.pk],
            "expires_at": "2099-01-31",
        },
    )
    assert page.status_code == 200
    raw = re.search(r'id="new-key-value">(trk_[^<]+)<', page.content.decode()).group(1)
    key = ApiKey.objects.get(name="ci")
    assert (key.scope, key.all_projects, list(key.projects.all()), key.expires_at.year) == (
        "read",
        False,
        [world.project],
        2099,
    )
    # Shown once: the list shows its prefix only.
    listing = _client(olivia).get("/keys/").content.decode()
    assert raw not in listing and key.key_prefix in listing
    # It reads its project, nothing else, and writes nothing.
    assert _api(raw, "GET", f"/api/v1/runs/{world.run.pk}").json()["name"] == SECRET_RUN
    assert [p["name"] for p in _api(raw, "GET", "/api/v1/projects").json()["projects"]] == ["resnet"]
    refused = _api(raw, "POST", f"/api/v1/runs/{world.run.pk}/heartbeat", {})
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    # Last used: when and from where.
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_from == "127.0.0.1"
    # Revoked: refused at once, and the revocation is in the audit log.
    assert _client(olivia).post(f"/keys/{key.pk}/revoke/").status_code == 302
    assert _api(raw, "GET", f"/api/v1/runs/{world.run.pk}").status_code == 401
    assert AuditEvent.objects.filter(action="key.revoke", actor=olivia).exists()


def test_a_bad_key_form_names_the_field_and_makes_nothing(django_user_model):
    world = build(django_user_model)
    before = ApiKey.objects.count()
    page = _client(world.people["olivia"]).post("/keys/", {"name": "x", "expires_at": "soon"})
    assert page.status_code == 400 and "expires_at: must be a date" in page.content.decode()
    assert ApiKey.objects.count() == before


def test_an_invitation_makes_a_new_account_that_joins_the_team(django_user_model):
    world = build(django_user_model)
    page = _client(world.people["adam"]).post("/teams/vision/", {"action": "invite", "role": "viewer"})
    url = re.search(r'id="invite-url">([^<]+)<', page.content.decode()).group(1)
    path = url.split("testserver", 1)[1]
    newcomer = Client()
    assert "Join Vision" in newcomer.get(path).content.decode()
    joined = newcomer.post(
        path, {"username": "nina", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}
    )
    assert joined.status_code == 302 and joined["Location"] == "/teams/vision/"
    nina = django_user_model.objects.get(username="nina")
    assert TeamMembership.objects.get(team=world.team, user=nina).role == Role.VIEWER
    # As a viewer she reads the team project and cannot log to it.
    assert newcomer.get(f"/runs/{world.run.pk}/").status_code == 200
    # A tampered token is refused, naming why.
    bad = Client().get(path[:-3] + "xx/")
    assert bad.status_code == 404 and "not valid" in bad.content.decode()


def test_only_admins_change_roles_and_see_the_audit_log(django_user_model):
    world = build(django_user_model)
    vic, mia = world.people["vic"], world.people["mia"]
    refused = _client(mia).post("/teams/vision/", {"action": "role", "username": "vic", "role": "admin"})
    assert refused.status_code == 400 and "at least admin" in refused.content.decode()
    assert TeamMembership.objects.get(user=vic).role == Role.VIEWER
    assert 'id="audit"' not in _client(mia).get("/teams/vision/").content.decode()
    done = _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "role", "username": "vic", "role": "member"}
    )
    assert done.status_code == 302 and TeamMembership.objects.get(user=vic).role == Role.MEMBER
    log = _client(world.people["adam"]).get("/teams/vision/").content.decode()
    assert 'id="audit"' in log and "member.role" in log and "127.0.0.1" in log
    # An admin may not make an owner; the last owner stays.
    assert (
        _client(world.people["adam"])
        .post("/teams/vision/", {"action": "role", "username": "vic", "role": "owner"})
        .status_code
        == 400
    )
    last = _client(world.people["olivia"]).post(
        "/teams/vision/", {"action": "role", "username": "olivia", "role": "admin"}
    )
    assert last.status_code == 400 and "at least one owner" in last.content.decode()


def test_visibility_and_project_roles_decide_who_sees_and_writes(django_user_model):
    world = build(django_user_model)
    sam, vic = world.people["sam"], world.people["vic"]
    admin = _client(world.people["adam"])
    assert _client(sam).get(f"/runs/{world.run.pk}/").status_code == 404
    admin.post("/projects/resnet/settings/", {"action": "visibility", "visibility": Visibility.INSTANCE})
    assert Project.objects.get(pk=world.project.pk).visibility == Visibility.INSTANCE
    assert _client(sam).get(f"/runs/{world.run.pk}/").status_code == 200  # every signed-in user reads
    admin.post("/projects/resnet/settings/", {"action": "visibility", "visibility": Visibility.PRIVATE})
    assert _client(sam).get(f"/runs/{world.run.pk}/").status_code == 404
    assert _client(vic).get(f"/runs/{world.run.pk}/").status_code == 404  # private: not the team's viewers
    # A per-project role lets one person in (and write) without the team.
    admin.post("/projects/resnet/settings/", {"action": "member", "username": "sam", "role": "member"})
    assert ProjectMember.objects.get(project=world.project, user=sam).role == Role.MEMBER
    key = ApiKey.issue(sam)[1]
    beat = _api(key, "POST", f"/api/v1/runs/{world.run.pk}/heartbeat", {})
    assert beat.status_code == 200 and beat.json()["status"] == "running"
    # Archived: readable, takes no new runs.
    admin.post("/projects/resnet/settings/", {"action": "archive"})
    refused = _api(key, "POST", "/api/v1/runs", {"project": "vision/resnet"})
    assert refused.status_code == 409 and "archived" in refused.json()["error"]
    assert Run.objects.filter(project=world.project).count() == 2
    actions = list(AuditEvent.objects.filter(project=world.project).values_list("action", flat=True))
    assert (
        actions.count("project.visibility") == 2
        and "project.member" in actions
        and "project.archive" in actions
    )


def test_members_log_to_a_team_project_by_entity_and_name(django_user_model):
    world = build(django_user_model)
    key = ApiKey.issue(world.people["mia"])[1]
    made = _api(key, "POST", "/api/v1/runs", {"project": "vision/resnet", "name": "by-mia"})
    assert made.status_code == 201
    run = Run.objects.get(pk=made.json()["id"])
    assert run.project == world.project
    event = AuditEvent.objects.get(action="run.create", project=world.project)
    assert (event.actor, event.target, event.team) == (world.people["mia"], "by-mia", world.team)
    # A new project of the team, by a member; a viewer may not make one.
    assert _api(key, "POST", "/api/v1/runs", {"project": "vision/fresh"}).status_code == 201
    assert Project.objects.get(team=world.team, name="fresh").owner == world.people["mia"]
    viewer_key = ApiKey.issue(world.people["vic"])[1]
    assert _api(viewer_key, "POST", "/api/v1/runs", {"project": "vision/other"}).status_code == 404
    # Another team's member learns nothing of vision's projects.
    otto_key = ApiKey.issue(world.people["otto"])[1]
    refused = _api(otto_key, "POST", "/api/v1/runs", {"project": "vision/resnet"})
    assert refused.status_code == 404 and "resnet" in refused.json()["error"]  # (the name it was sent)


def test_a_sweep_trial_key_writes_its_project_only_and_expires(django_user_model):
    from tuning import services
    from tuning.models import Trial

    world = build(django_user_model)
    trial = Trial.objects.create(sweep=world.sweep)
    raw = services.trial_attach(trial=trial, number=0, params={"lr": 0.01}, config={"lr": 0.01})
    trial.refresh_from_db()
    key = trial.api_key
    assert (key.internal, key.all_projects, list(key.projects.all()), key.scope) == (
        True,
        False,
        [world.project],
        "read-write",
    )
    assert key.expires_at is not None
    assert _api(raw, "POST", f"/api/v1/runs/{trial.run_id}/heartbeat", {}).status_code == 200
    other = Run.objects.create(project=world.other_project, name="elsewhere")
    assert _api(raw, "GET", f"/api/v1/runs/{other.pk}").status_code == 404
    # Not listed among olivia's keys on the keys page.
    assert key.key_prefix not in _client(world.people["olivia"]).get("/keys/").content.decode()
