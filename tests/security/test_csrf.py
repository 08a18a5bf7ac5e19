"""CSRF (issue #15): every route of the URL configuration, POSTed to by a signed-in
browser session that sends no CSRF token, is refused (403) and changes nothing.

The routes are walked from the URL configuration (as the persona matrix does), so a
new page with a form cannot be missed. Each route gets a body that *would* change
something if the token were not checked (an invitation, a key, a team, a visibility,
a run's deletion). A page answers Django's own 403; the JSON API is ``csrf_exempt`` on
purpose (its callers send API keys) and refuses such a request in its own way, listed
in ``EXEMPT`` with the reason.
"""

from __future__ import annotations

import json
import re

import pytest
from django.apps import apps
from django.test import Client

from teams import services
from tests.teams.test_matrix import walk
from tests.teams.world import World, build

pytestmark = pytest.mark.django_db

# Apps whose rows the test watches: every model of the project, and the users.
WATCHED_APPS = ("experiments", "teams", "tuning", "alerts", "mlflow_api", "auth")

# csrf_exempt on purpose: each takes API keys (Authorization: Bearer), which a browser
# never sends by itself, so a forged cross-site request carries no credentials.
EXEMPT = {
    "api/v1/": "the tracker's JSON API: API keys; a session may write only where the view "
    "checks the CSRF token itself (SESSION_WRITES), otherwise a session's write is 401",
    "api/2.0/mlflow": "the MLflow-compatible API: API keys only (Bearer or Basic)",
    "ajax-api/2.0/mlflow": "the MLflow-compatible API (the UI's alias): API keys only",
}
# API writes that accept the browser's session: they must refuse a missing token (403).
SESSION_WRITES = {
    ("api/v1/runs/<int:run_id>", "PATCH"),
    ("api/v1/runs/<int:run_id>", "DELETE"),
    ("api/v1/runs/bulk", "POST"),
    ("api/v1/runs/<int:run_id>/findings/<int:finding_id>/dismiss", "POST"),
}


def _fill(pattern: str, world: World, token: str, key_id: int) -> str | None:
    """The route's path with real objects in it (None: a regex route, reached otherwise)."""
    if pattern.startswith("^") or "(?P<" in pattern:
        return None
    known = {
        "run_id": world.run.pk,
        "object_id": world.run.pk,
        "checkpoint_id": world.checkpoint.pk,
        "sweep_id": world.sweep.pk,
        "key_id": key_id,
        "slug": world.team.slug,
        "token": token,
        "name": world.project.name,
        "verb": "stop",
        "app_label": "experiments",
        "content_type_id": "1",
    }

    def value(match: re.Match) -> str:
        return str(known.get(match.group(2), "999999" if match.group(1) == "int" else "x"))

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, pattern)


def _body(pattern: str, world: World) -> dict:
    """What the form would send: enough that, unchecked, it changes something."""
    bodies = {
        "teams/<slug:slug>/": {"action": "invite", "role": "member"},
        "teams/": {"slug": "forged", "name": "Forged"},
        "keys/": {"name": "forged", "scope": "read-write"},
        "projects/<project:name>/settings/": {"action": "visibility", "visibility": "instance"},
        "projects/<project:name>/baseline/": {"side": world.second.pk},
        "teams/join/<str:token>/": {
            "username": "forged",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
        "accounts/login/": {"username": "olivia", "password": "x"},
    }
    if pattern.startswith("admin/"):
        return {
            "post": "yes",
            "name": "forged",
            "action": "delete_selected",
            "_selected_action": [world.run.pk],
        }
    return bodies.get(pattern, {"name": "forged", "notes": "forged", "tag": "forged", "action": "delete"})


def _api_body(pattern: str, world: World) -> dict:
    if pattern == "api/v1/runs/bulk":
        return {"action": "delete", "runs": [world.run.pk]}
    return {"name": "forged", "notes": "forged", "tags": ["forged"], "dismissed": True}


def snapshot() -> dict[str, list]:
    """Every row of the watched apps (the world is small): a forged request changed
    nothing if this is the same after it."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in WATCHED_APPS:
            rows[model._meta.label] = list(model.objects.order_by("pk").values())
    return rows


def _diff(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


@pytest.mark.timeout(600)  # ~300 routes, one request each (most refused by the middleware)
def test_every_session_form_refuses_a_post_without_a_csrf_token(django_user_model):
    world = build(django_user_model)
    olivia = world.people["olivia"]  # owns vision/resnet and the team
    root = django_user_model.objects.create_superuser("root", password="a-long-pass-phrase-9")
    token = services.invite_make(actor=olivia, team=world.team, role="member")
    key_id = olivia.api_keys.order_by("pk").first().pk
    owner = Client(enforce_csrf_checks=True)
    owner.force_login(olivia)
    admin = Client(enforce_csrf_checks=True)
    admin.force_login(root)

    before = snapshot()
    failures, pages, api_calls = [], 0, 0
    for pattern, _name in walk():
        path = _fill(pattern, world, token, key_id)
        if path is None:
            continue
        exempt = next((prefix for prefix in EXEMPT if pattern.startswith(prefix)), None)
        if exempt is None:
            client = admin if pattern.startswith("admin/") else owner
            response = client.post(path, _body(pattern, world))
            pages += 1
            if response.status_code != 403 or b"CSRF" not in response.content:
                failures.append(f"POST {path} answered {response.status_code}, not the CSRF refusal")
            continue
        for method in ("POST", "PATCH", "DELETE"):
            api_calls += 1
            response = getattr(owner, method.lower())(
                path, json.dumps(_api_body(pattern, world)), content_type="application/json"
            )
            status = response.status_code
            if (pattern, method) in SESSION_WRITES:
                ok = status == 403 and response.json().get("field") == "X-CSRFToken"
            elif status == 404:  # a method the MLflow artifact route does not serve
                ok = pattern.startswith("api/2.0/mlflow-artifacts/") and (
                    response.json().get("error_code") == "ENDPOINT_NOT_FOUND"
                )
            else:
                ok = status in (401, 403, 405)
            if not ok:
                failures.append(
                    f"{method} {path} ({EXEMPT[exempt]}) answered {status}: {response.content[:200]!r}"
                )
    after = snapshot()

    assert not failures, "\n".join(failures)
    assert not _diff(before, after), f"a request without a CSRF token changed {_diff(before, after)}"
    # The walk reached the forms it is about (a broken walk would pass vacuously).
    assert pages > 100 and api_calls > 50
    # Still signed in: the tokenless logout was refused too.
    assert owner.get("/keys/").status_code == 200


def test_the_same_forms_work_with_the_token(django_user_model):
    """The refusal above is the token's doing: with it, the same posts change things."""
    world = build(django_user_model)
    olivia = world.people["olivia"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(olivia)
    client.get("/teams/vision/")
    csrf = client.cookies["csrftoken"].value
    before = snapshot()
    answer = client.post(
        "/teams/vision/", {"action": "invite", "role": "member", "csrfmiddlewaretoken": csrf}
    )
    assert answer.status_code == 200 and b'id="invite-url"' in answer.content
    created = client.post("/keys/", {"name": "with-token", "scope": "read", "csrfmiddlewaretoken": csrf})
    assert created.status_code == 200
    after = snapshot()
    assert set(_diff(before, after)) >= {"teams.Invitation", "experiments.ApiKey"}
