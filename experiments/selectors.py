"""Who may see and change what: the one place that decides. Pages, JSON endpoints, the
API, websockets, media and checkpoint downloads, sweeps and the admin's non-superuser
views all ask here; nothing else reads memberships to decide access.

A person's *role* in a project (``teams.models.Role``: viewer < member < admin < owner):

- their personal project (``team`` empty): owner;
- a per-project override (``teams.ProjectMember``) wins, except that a team's owners and
  admins are never lowered by one;
- a team project: their team role, if the project's visibility is ``team`` or
  ``instance``; a ``private`` team project is its team's owners' and admins' only
  (and of those with an override);
- an ``instance`` project: every other signed-in user is a viewer.

An API key narrows its user's rights (``experiments.api.http`` attaches it to the user
of the request): a read-only key is at most a viewer, a key limited to a list of
projects sees only those.

Reads one may not make answer 404 (existence is not revealed): callers filter the
``*_visible_to`` querysets. A visible object one may not change answers 403, naming the
role needed (``require_role`` / ``RoleDenied``).
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import Http404

from experiments.errors import ApiError
from experiments.models import Metric, Project, Run, Visibility
from teams.models import RANK, ProjectMember, Role, TeamMembership, roles_at_least

VIEWER, MEMBER, ADMIN, OWNER = Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER

# What each role is needed for, in the words of a refusal.
NEEDED_FOR = {VIEWER: "read", MEMBER: "log runs and edit them", ADMIN: "manage it", OWNER: "do this"}


class RoleDenied(ApiError):
    """A visible object the user's role (or key) does not allow this on: 403."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None, status=403)


def request_key(user):
    """The API key the request was authenticated with (``experiments.api.http``), or None
    for a browser session or a worker acting as the user."""
    return getattr(user, "tracker_api_key", None)


def _signed_in(user) -> bool:
    if user is None or isinstance(user, AnonymousUser):
        return False
    return bool(user.is_authenticated and user.is_active)


def projects_with_role(user: AbstractBaseUser | None, minimum: str) -> QuerySet[Project]:
    """The projects where ``user`` has at least role ``minimum`` (as the request's key,
    if any, allows)."""
    if not _signed_in(user):
        return Project.objects.none()
    key = request_key(user)
    if key is not None and key.read_only and RANK[Role(minimum)] > RANK[VIEWER]:
        return Project.objects.none()
    wanted = roles_at_least(minimum)
    overrides = ProjectMember.objects.filter(user=user)
    teams = TeamMembership.objects.filter(user=user)
    team_managers = teams.filter(role__in=[OWNER, ADMIN])
    q = Q(owner=user, team__isnull=True)
    # An override, in any project it names.
    q |= Q(pk__in=overrides.filter(role__in=wanted).values("project"))
    # A team's owners and admins: every project of the team, whatever its visibility.
    q |= Q(team__in=team_managers.filter(role__in=wanted).values("team"))
    # Any other team role, in the team's non-private projects without an override.
    q |= Q(
        team__in=teams.filter(role__in=wanted).values("team"),
        visibility__in=[Visibility.TEAM, Visibility.INSTANCE],
    ) & ~Q(pk__in=overrides.values("project"))
    if minimum == VIEWER:
        q |= Q(visibility=Visibility.INSTANCE)
    projects = Project.objects.filter(q)
    if key is not None and not key.all_projects:
        projects = projects.filter(pk__in=key.projects.values("pk"))
    return projects


def projects_visible_to(user: AbstractBaseUser | None) -> QuerySet[Project]:
    return projects_with_role(user, VIEWER)


def runs_visible_to(user: AbstractBaseUser | None) -> QuerySet[Run]:
    return Run.objects.filter(project__in=projects_visible_to(user)).select_related("project__team")


def runs_of_project(user: AbstractBaseUser | None, project: Project) -> QuerySet[Run]:
    """The runs of ``project`` that ``user`` may see: all of them or none, decided by one
    query here. The project pages and the runs API filter 100,000 runs: a plain
    ``project_id = ?`` lets PostgreSQL push the page's LIMIT into its sort (a top-N sort
    in memory), which the membership subquery of ``runs_visible_to`` prevented (a sort
    of every run on disk: a sort by a metric's best took 315 ms, now 77 ms)."""
    if not projects_visible_to(user).filter(pk=project.pk).exists():
        return Run.objects.none()
    return Run.objects.filter(project=project).select_related("project__team")


def runs_with_role(user: AbstractBaseUser | None, minimum: str) -> QuerySet[Run]:
    return Run.objects.filter(project__in=projects_with_role(user, minimum)).select_related("project__team")


def project_role(user: AbstractBaseUser | None, project: Project) -> str | None:
    """The user's role in ``project`` (as the request's key allows), or None: not visible."""
    for role in (OWNER, ADMIN, MEMBER, VIEWER):
        if projects_with_role(user, role).filter(pk=project.pk).exists():
            return role
    return None


def has_role(user: AbstractBaseUser | None, project: Project, minimum: str) -> bool:
    return projects_with_role(user, minimum).filter(pk=project.pk).exists()


def can_write(user: AbstractBaseUser | None, project: Project) -> bool:
    """Log runs, edit notes and tags, set baselines and directions, dismiss findings."""
    return has_role(user, project, MEMBER)


def can_admin(user: AbstractBaseUser | None, project: Project) -> bool:
    """Delete runs, start and stop sweeps, manage members and settings."""
    return has_role(user, project, ADMIN)


def _refusal(user, project: Project, minimum: str) -> str:
    key = request_key(user)
    action = NEEDED_FOR[Role(minimum)]
    if key is not None and key.read_only:
        return f"this API key is read-only: it cannot {action} in project {project.name!r}"
    if key is not None and not key.all_projects and not key.projects.filter(pk=project.pk).exists():
        return f"this API key is limited to other projects than {project.name!r}"
    role = project_role(user, project) or "none"
    return f"your role in project {project.name!r} is {role}: you need to be at least {minimum} to {action}"


def require_role(user: AbstractBaseUser | None, project: Project, minimum: str) -> None:
    """Raise ``RoleDenied`` (403, the API's error shape) unless ``user`` has ``minimum``
    in ``project``. Call it on a project the user can already see (else answer 404)."""
    if not has_role(user, project, minimum):
        raise RoleDenied(_refusal(user, project, minimum))


def require_role_page(user: AbstractBaseUser | None, project: Project, minimum: str) -> None:
    """``require_role`` for server-rendered pages: Django's 403."""
    if not has_role(user, project, minimum):
        raise PermissionDenied(_refusal(user, project, minimum))


def project_named(user: AbstractBaseUser | None, name: str, minimum: str = VIEWER) -> Project | None:
    """The visible project called ``name`` (``entity/name`` or a bare name: the user's
    own first, then their teams'), or None. 403 (``RoleDenied``) when it is visible but
    the role is below ``minimum``."""
    entity, _, bare = name.rpartition("/")
    visible = projects_visible_to(user).filter(name=bare)
    if entity:
        visible = visible.filter(Q(team__slug=entity) | Q(team__isnull=True, owner__username=entity))
    else:
        # The user's personal project first, then a team's of the same name.
        visible = visible.order_by(F("team_id").asc(nulls_first=True), "pk")
    project = visible.select_related("team", "owner").first()
    if project is not None and minimum != VIEWER:
        require_role(user, project, minimum)
    return project


def run_metrics(run: Run) -> QuerySet[Metric]:
    return Metric.objects.filter(run=run).order_by("key")


def project_named_or_404(user: AbstractBaseUser | None, name: str) -> Project:
    """``project_named`` for pages: Django's 404 when the user sees no such project."""
    project = project_named(user, name)
    if project is None:
        raise Http404(f"project {name!r} does not exist or is not yours")
    return project
