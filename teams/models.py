"""Teams and roles.

A project belongs to a user (``Project.owner``, ``team`` empty) or to a team
(``Project.team``). What a person may do in a project is their *role* there:

- ``viewer``: read runs, charts, media, checkpoints, sweeps;
- ``member``: also log runs, edit notes and tags, set baselines and directions,
  dismiss findings;
- ``admin``: also delete runs, start and stop sweeps, manage members and settings;
- ``owner``: everything, including deleting the project or the team.

The role comes from the team membership, unless a ``ProjectMember`` row overrides it
for one project. ``experiments.selectors`` is the one place that turns these rows into
answers; nothing else reads them to decide access.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


# Higher is more. A role grants everything a lower one does.
RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}


def roles_at_least(minimum: str) -> list[str]:
    """The roles that include ``minimum``'s rights (``member`` -> member, admin, owner)."""
    return [role for role, rank in RANK.items() if rank >= RANK[Role(minimum)]]


class Team(models.Model):
    """A group of people who share projects; addressed by its ``slug`` (``vision``)."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.slug


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_member_once")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ProjectMember(models.Model):
    """A person's role in one project, overriding their team role there (a team viewer
    who may log to one project; a colleague from outside the team on a private project).
    A team's owners and admins are never lowered by an override."""

    project = models.ForeignKey("experiments.Project", on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_roles")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="project_member_once")]

    def __str__(self) -> str:
        return f"{self.user} on {self.project} ({self.role})"


class AuditEvent(models.Model):
    """One state change an admin would ask about: who, what, when, from where. Rows are
    only ever added; the names are copied so that an event outlives what it names."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, db_index=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    project = models.ForeignKey(
        "experiments.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    target = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["team", "-at"], name="audit_team_recent")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"


class Invitation(models.Model):
    """One invitation link: the signed token carries this row's id, so that an admin
    sees who made each link and whether it was used, and can revoke it before it
    expires. A link makes one membership; then it is used up."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_by_name = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        indexes = [models.Index(fields=["team", "-created_at"], name="invitation_team_recent")]

    def __str__(self) -> str:
        return f"invitation #{self.pk} to {self.team} as {self.role}"

    @property
    def state(self) -> str:
        """``pending``, ``used``, ``revoked`` or ``expired`` (in that order of precedence)."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"
