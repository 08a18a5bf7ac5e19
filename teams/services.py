"""Write paths of teams: creating one, members and roles, invitations, API keys and
project settings. Each checks the actor's rights (``experiments.selectors`` for
projects, ``teams.selectors`` for teams), raises ``ApiError`` naming the field, and
records an audit event."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from experiments.errors import ApiError, NotFound
from experiments.models import ApiKey, KeyScope, Project, Visibility
from experiments.selectors import ADMIN, OWNER, projects_visible_to, require_role
from teams.audit import audit_record
from teams.models import Invitation, ProjectMember, Role, Team, TeamMembership
from teams.selectors import team_at_least, team_role

INVITE_SALT = "teams.invite"


def _require_team(actor: AbstractBaseUser, team: Team, minimum: str) -> None:
    if not team_at_least(actor, team, minimum):
        raise ApiError(
            f"you need to be at least {minimum} of team {team.slug!r} to do this", None, status=403
        )


@transaction.atomic
def team_create(*, actor: AbstractBaseUser, slug: str, name: str = "") -> Team:
    """A new team, its creator its owner. The slug names it in URLs and ``team/project``."""
    clean = slugify(slug)[:50]
    if not clean or clean != slug:
        raise ApiError("use lowercase letters, digits, '-' and '_' only (e.g. 'vision')", "slug")
    if Team.objects.filter(slug=clean).exists() or get_user_model().objects.filter(username=clean).exists():
        raise ApiError(f"{clean!r} is taken (by a team or a user)", "slug")
    team = Team.objects.create(slug=clean, name=(name or clean)[:100])
    TeamMembership.objects.create(team=team, user=actor, role=Role.OWNER)
    audit_record("team.create", team=team, target=team.slug)
    return team


@transaction.atomic
def member_set_role(
    *, actor: AbstractBaseUser, team: Team, user: AbstractBaseUser, role: str
) -> TeamMembership:
    """Add ``user`` to the team or change their role. Admins manage members; only an
    owner makes or unmakes owners; the last owner stays an owner."""
    if role not in Role.values:
        raise ApiError(f"must be one of {', '.join(Role.values)}", "role")
    _require_team(actor, team, ADMIN)
    current = team_role(user, team)
    if OWNER in (role, current) and team_role(actor, team) != OWNER:
        raise ApiError("only an owner may make or change an owner", "role", status=403)
    if current == OWNER and role != OWNER and team.memberships.filter(role=OWNER).count() == 1:
        raise ApiError("a team keeps at least one owner: make someone else owner first", "role", status=409)
    membership, _ = TeamMembership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    audit_record("member.role", team=team, target=user.get_username(), role=role, was=current)
    return membership


@transaction.atomic
def member_remove(*, actor: AbstractBaseUser, team: Team, user: AbstractBaseUser) -> None:
    current = team_role(user, team)
    if current is None:
        raise NotFound(f"{user.get_username()!r} is not in team {team.slug!r}", "user")
    if actor.pk != user.pk:  # anyone may leave
        _require_team(actor, team, ADMIN)
        if current == OWNER and team_role(actor, team) != OWNER:
            raise ApiError("only an owner may remove an owner", "user", status=403)
    if current == OWNER and team.memberships.filter(role=OWNER).count() == 1:
        raise ApiError("a team keeps at least one owner: make someone else owner first", "user", status=409)
    TeamMembership.objects.filter(team=team, user=user).delete()
    audit_record("member.remove", team=team, target=user.get_username(), was=current)


@transaction.atomic
def invite_make(*, actor: AbstractBaseUser, team: Team, role: str = Role.MEMBER) -> str:
    """A signed invitation token naming its ``Invitation`` row (which expires after
    ``TEAMS_INVITE_MAX_AGE_DAYS`` and can be revoked until it is used)."""
    _require_team(actor, team, ADMIN)
    if role not in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        raise ApiError("an invitation grants admin, member or viewer", "role")
    invitation = Invitation.objects.create(
        team=team,
        role=role,
        created_by=actor,
        created_by_name=actor.get_username(),
        expires_at=timezone.now() + timedelta(days=settings.TEAMS_INVITE_MAX_AGE_DAYS),
    )
    token = signing.dumps({"team": team.pk, "role": role, "invite": invitation.pk}, salt=INVITE_SALT)
    audit_record("invite.create", team=team, target=role, invitation=invitation.pk)
    return token


def _when(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def _refuse_unusable(invitation: Invitation) -> None:
    """Say, in the invitee's words, why a link no longer works (410: it existed)."""
    state = invitation.state
    if state == "revoked":
        raise ApiError(
            f"This invitation was revoked by {invitation.revoked_by_name or 'an admin'} on "
            f"{_when(invitation.revoked_at)}: ask the team for a new link",
            "token",
            status=410,
        )
    if state == "expired":
        raise ApiError(
            f"This invitation expired on {_when(invitation.expires_at)}: ask the team for a new link",
            "token",
            status=410,
        )
    if state == "used":
        raise ApiError(
            f"This invitation was already used on {_when(invitation.used_at)}: each link makes one "
            "membership; ask the team for a new link",
            "token",
            status=410,
        )


def _invitation_of(token: str, *, lock: bool = False) -> tuple[Team, str, Invitation | None]:
    """The team, role and row of a usable token; ``ApiError`` saying why one is not."""
    try:
        # No max_age here: the row's expiry decides (and names the day it passed).
        data = signing.loads(token, salt=INVITE_SALT)
    except signing.BadSignature:
        raise NotFound("this invitation link is not valid", "token") from None
    invite_id = data.get("invite")
    if invite_id is None:  # a link made before invitations had rows: its signature's age decides
        try:
            signing.loads(token, salt=INVITE_SALT, max_age=settings.TEAMS_INVITE_MAX_AGE_DAYS * 86400)
        except signing.SignatureExpired:
            raise ApiError("this invitation has expired: ask for a new link", "token", status=410) from None
        team = Team.objects.filter(pk=data.get("team")).first()
        if team is None:
            raise NotFound("the team of this invitation no longer exists", "token")
        return team, data["role"], None
    rows = Invitation.objects.select_related("team")
    invitation = (rows.select_for_update() if lock else rows).filter(pk=invite_id).first()
    if invitation is None:  # (rows go with their team)
        raise NotFound("the team of this invitation no longer exists", "token")
    _refuse_unusable(invitation)
    return invitation.team, invitation.role, invitation


def invite_read(token: str) -> tuple[Team, str]:
    """The team and role of a usable token; ``ApiError`` saying why one is not
    (revoked by whom, expired when, already used)."""
    team, role, _ = _invitation_of(token)
    return team, role


@transaction.atomic
def invite_accept(*, token: str, user: AbstractBaseUser) -> Team:
    """Join the team of ``token``, which is then used up; a member already keeps the
    higher of the two roles (and leaves the link unused)."""
    from teams.models import RANK

    team, role, invitation = _invitation_of(token, lock=True)
    current = team_role(user, team)
    if current is None or RANK[Role(current)] < RANK[Role(role)]:
        TeamMembership.objects.update_or_create(team=team, user=user, defaults={"role": role})
        if invitation is not None:
            invitation.used_at, invitation.used_by = timezone.now(), user
            invitation.used_by_name = user.get_username()
            invitation.save(update_fields=["used_at", "used_by", "used_by_name"])
        audit_record("invite.accept", team=team, actor=user, target=user.get_username(), role=role)
    return team


@transaction.atomic
def invite_revoke(*, actor: AbstractBaseUser, team: Team, invitation_id: int) -> Invitation:
    """Revoke a pending invitation of ``team`` (its admins): its link then answers who
    revoked it and creates no account."""
    _require_team(actor, team, ADMIN)
    invitation = team.invitations.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound(f"team {team.slug!r} has no invitation #{invitation_id}", "invitation")
    if invitation.state != "pending":
        raise ApiError(
            f"invitation #{invitation_id} is already {invitation.state}: only a pending one can be revoked",
            "invitation",
            status=409,
        )
    invitation.revoked_at, invitation.revoked_by_name = timezone.now(), actor.get_username()
    invitation.save(update_fields=["revoked_at", "revoked_by_name"])
    audit_record(
        "invite.revoke",
        team=team,
        target=f"invitation #{invitation.pk} ({invitation.role})",
        invitation=invitation.pk,
        made_by=invitation.created_by_name,
    )
    return invitation


def api_key_create(
    *,
    user: AbstractBaseUser,
    name: str,
    scope: str = KeyScope.READ_WRITE,
    projects: list[Project] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A key of ``user``; ``projects`` (visible ones only) limits it; returns the raw key
    (shown once)."""
    if scope not in KeyScope.values:
        raise ApiError(f"must be one of {', '.join(KeyScope.values)}", "scope")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiError("must be in the future", "expires_at")
    if projects is not None:
        visible = set(projects_visible_to(user).values_list("pk", flat=True))
        if not projects or any(p.pk not in visible for p in projects):
            raise ApiError("choose at least one of your projects", "projects")
    key, raw = ApiKey.issue(user, name=name[:100], projects=projects, scope=scope, expires_at=expires_at)
    audit_record("key.create", actor=user, target=f"{key.key_prefix}… {name}"[:300], scope=scope)
    return key, raw


def api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> ApiKey:
    key = ApiKey.objects.filter(pk=key_id, user=user, internal=False).first()
    if key is None:
        raise NotFound(f"you have no key {key_id}", "key")
    if key.revoked_at is None:
        key.revoke()
        audit_record("key.revoke", actor=user, target=f"{key.key_prefix}… {key.name}"[:300])
    return key


def project_settings_set(*, actor: AbstractBaseUser, project: Project, visibility: str) -> Project:
    require_role(actor, project, ADMIN)
    if visibility not in Visibility.values:
        raise ApiError(f"must be one of {', '.join(Visibility.values)}", "visibility")
    if visibility != project.visibility:
        audit_record("project.visibility", project=project, target=project.name, visibility=visibility)
        project.visibility = visibility
        project.save(update_fields=["visibility"])
    return project


def project_member_set(*, actor: AbstractBaseUser, project: Project, username: str, role: str | None) -> None:
    """Give ``username`` a role in this one project (None: remove the override)."""
    require_role(actor, project, ADMIN)
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApiError(f"no user {username!r}", "username")
    if role is None:
        ProjectMember.objects.filter(project=project, user=user).delete()
    else:
        if role not in Role.values or role == OWNER:
            raise ApiError("must be admin, member or viewer", "role")
        ProjectMember.objects.update_or_create(project=project, user=user, defaults={"role": role})
    audit_record("project.member", project=project, target=username, role=role)


def project_archive(*, actor: AbstractBaseUser, project: Project, archived: bool = True) -> Project:
    require_role(actor, project, ADMIN)
    project.archived_at = timezone.now() if archived else None
    project.save(update_fields=["archived_at"])
    audit_record("project.archive" if archived else "project.unarchive", project=project, target=project.name)
    return project


@transaction.atomic
def project_delete(*, actor: AbstractBaseUser, project: Project, confirm: str) -> None:
    """Delete a project and everything in it: its owner only, typing its name."""
    require_role(actor, project, OWNER)
    if confirm != project.name:
        raise ApiError(f"type the project's name, {project.name!r}, to delete it", "confirm")
    audit_record("project.delete", project=None, team=project.team, target=project.name)
    project.delete()
