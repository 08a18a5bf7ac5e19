"""Invitations (issue #15): a team's admins see every link made (who made it, its role,
its expiry, whether it was used) and revoke a pending one; a revoked, expired or used
link says so on its page and makes no account; a revocation is in the audit log."""

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from teams.models import AuditEvent, Invitation, TeamMembership
from tests.teams.world import build

pytestmark = pytest.mark.django_db

NEWCOMER = {"username": "nina", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _invite(admin, role: str = "member") -> str:
    """The path of a new invitation link made on the team page by ``admin``."""
    page = _client(admin).post("/teams/vision/", {"action": "invite", "role": role})
    url = re.search(r'id="invite-url">([^<]+)<', page.content.decode()).group(1)
    return url.split("testserver", 1)[1]


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _row(html: str, invitation: Invitation) -> str:
    match = re.search(rf'<tr data-invitation="{invitation.pk}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"invitation #{invitation.pk} is not listed"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_admins_see_each_invitation_with_its_maker_role_expiry_and_use(django_user_model):
    world = build(django_user_model)
    adam = world.people["adam"]
    used_path = _invite(adam, "viewer")
    _invite(world.people["olivia"], "member")
    assert Client().post(used_path, NEWCOMER).status_code == 302
    used, pending = Invitation.objects.order_by("pk")
    assert (used.created_by_name, used.role, used.used_by_name) == ("adam", "viewer", "nina")
    # Made for the configured lifetime (TEAMS_INVITE_MAX_AGE_DAYS, 7 by default).
    lifetime = pending.expires_at - pending.created_at
    assert timedelta(days=7) - timedelta(seconds=5) < lifetime <= timedelta(days=7)

    html = _client(adam).get("/teams/vision/").content.decode()
    used_row, pending_row = _row(html, used), _row(html, pending)
    assert "adam viewer" in used_row and "used by nina" in used_row and "Revoke" not in used_row
    assert "olivia member" in pending_row and "pending, not used" in pending_row and "Revoke" in pending_row
    assert f"{pending.expires_at:%Y-%m-%d}" in pending_row
    # A member (not an admin) sees no invitations at all.
    assert 'id="invitations"' not in _client(world.people["mia"]).get("/teams/vision/").content.decode()


def test_a_revoked_link_names_who_revoked_it_and_makes_no_account(django_user_model):
    world = build(django_user_model)
    path = _invite(world.people["olivia"], "member")
    invitation = Invitation.objects.get()
    revoked = _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": invitation.pk}
    )
    assert revoked.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == "revoked" and invitation.revoked_by_name == "adam"

    users_before = django_user_model.objects.count()
    newcomer = Client()
    shown = newcomer.get(path)
    assert shown.status_code == 410
    assert "This invitation was revoked by adam on" in shown.content.decode()
    assert 'name="password1"' not in shown.content.decode()  # no form to fill
    tried = newcomer.post(path, NEWCOMER)
    assert tried.status_code == 410 and "revoked by adam" in tried.content.decode()
    assert django_user_model.objects.count() == users_before
    assert not django_user_model.objects.filter(username="nina").exists()
    # A signed-in person cannot join with it either.
    sam = world.people["sam"]
    assert _client(sam).post(path).status_code == 410
    assert not TeamMembership.objects.filter(team=world.team, user=sam).exists()

    event = AuditEvent.objects.get(action="invite.revoke")
    assert (event.actor_name, event.team, event.target) == (
        "adam",
        world.team,
        f"invitation #{invitation.pk} (member)",
    )
    assert event.detail == {"invitation": invitation.pk, "made_by": "olivia"}
    # The audit log on the team page shows it.
    assert "invite.revoke" in _client(world.people["olivia"]).get("/teams/vision/").content.decode()


def test_an_expired_link_says_when_it_expired_and_makes_no_account(django_user_model):
    world = build(django_user_model)
    path = _invite(world.people["adam"])
    expired_at = timezone.now() - timedelta(hours=2)
    Invitation.objects.update(expires_at=expired_at)
    users_before = django_user_model.objects.count()
    answer = Client().post(path, NEWCOMER)
    assert answer.status_code == 410
    assert (
        f"This invitation expired on {timezone.localtime(expired_at):%Y-%m-%d %H:%M}"
        in answer.content.decode()
    )
    assert django_user_model.objects.count() == users_before
    html = _client(world.people["adam"]).get("/teams/vision/").content.decode()
    row = _row(html, Invitation.objects.get())
    assert row.endswith("expired") and "Revoke" not in row


def test_a_link_makes_one_membership(django_user_model):
    world = build(django_user_model)
    path = _invite(world.people["adam"], "viewer")
    assert Client().post(path, NEWCOMER).status_code == 302
    again = Client().post(path, {**NEWCOMER, "username": "nils"})
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert not django_user_model.objects.filter(username="nils").exists()


def test_only_a_pending_invitation_of_ones_own_team_can_be_revoked_by_an_admin(django_user_model):
    world = build(django_user_model)
    _invite(world.people["adam"])
    invitation = Invitation.objects.get()
    # A member of the team may not.
    refused = _client(world.people["mia"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": invitation.pk}
    )
    assert refused.status_code == 400 and "at least admin of team 'vision'" in _text(refused)
    # Another team's admin reaches no such team (404), and the link still works.
    otto = world.people["otto"]
    assert (
        _client(otto)
        .post("/teams/vision/", {"action": "revoke-invite", "invitation": invitation.pk})
        .status_code
        == 404
    )
    invitation.refresh_from_db()
    assert invitation.state == "pending"
    # A number that is no invitation of this team, or not a number, is named.
    missing = _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": 999999}
    )
    assert missing.status_code == 400 and "team 'vision' has no invitation #999999" in _text(missing)
    garbage = _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": "x"}
    )
    assert garbage.status_code == 400 and "invitation: must be an invitation number" in _text(garbage)
    # Revoked once; a second revocation says it already is.
    _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": invitation.pk}
    )
    twice = _client(world.people["adam"]).post(
        "/teams/vision/", {"action": "revoke-invite", "invitation": invitation.pk}
    )
    assert twice.status_code == 400 and f"invitation #{invitation.pk} is already revoked" in _text(twice)
    assert AuditEvent.objects.filter(action="invite.revoke").count() == 1
