"""Reads about teams: whose they are, a person's role in one. Access to projects is
decided in ``experiments.selectors``; these answer the team pages' own questions."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from teams.models import RANK, AuditEvent, Invitation, Role, Team, TeamMembership


def teams_of(user: AbstractBaseUser) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).order_by("slug")


def team_role(user: AbstractBaseUser, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return TeamMembership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def team_at_least(user: AbstractBaseUser, team: Team, minimum: str) -> bool:
    role = team_role(user, team)
    return role is not None and RANK[Role(role)] >= RANK[Role(minimum)]


def team_members(team: Team) -> QuerySet[TeamMembership]:
    return team.memberships.select_related("user").order_by("user__username")


def audit_events_for(team: Team, limit: int = 200) -> list[AuditEvent]:
    """The team's recent events, newest first (for its admins)."""
    return list(AuditEvent.objects.filter(team=team).select_related("project").order_by("-at")[:limit])


def team_invitations(team: Team, limit: int = 50) -> list[Invitation]:
    """The team's recent invitations, newest first, used, revoked and expired ones
    included (for its admins: who made each link, and what became of it)."""
    return list(team.invitations.order_by("-created_at", "-pk")[:limit])
