"""Who may read and write what, asked of ``experiments.selectors`` and
``experiments.services`` (the one place that decides), never decided here.

Reads go through ``projects_visible_to`` / ``runs_visible_to`` (404 otherwise, revealing
nothing); writes also need the member role (``require_role``, 403 naming it) where the
selectors have roles. The ``getattr`` look-ups bridge the arrival of teams and roles in
those modules: without them, visible means owned, and owned means writable.
"""

import inspect

from experiments import selectors, services
from experiments.models import Project, Run
from experiments.payloads import RunStart
from mlflow_api.http import MlflowError


def require_write(user, project: Project) -> None:
    """403 in MLflow's shape unless ``user`` (as their key allows) may log to ``project``."""
    require_role = getattr(selectors, "require_role", None)
    if require_role is None:
        return
    try:
        require_role(user, project, getattr(selectors, "MEMBER", "member"))
    except services.ApiError as exc:
        raise MlflowError(exc.message, "PERMISSION_DENIED") from None


def runs_writable(user):
    """The runs ``user`` may log to (as their key allows): one query on the hot path."""
    with_role = getattr(selectors, "runs_with_role", None)
    if with_role is None:
        return selectors.runs_visible_to(user)
    return with_role(user, getattr(selectors, "MEMBER", "member"))


def project_named(user, name: str) -> Project | None:
    """The visible project an experiment name names (``entity/name`` or a bare name, the
    user's own first)."""
    named = getattr(selectors, "project_named", None)
    if named is not None:
        return named(user, name)
    visible = selectors.projects_visible_to(user).filter(name=name)
    return visible.filter(owner=user).first() or visible.order_by("pk").first()


_RUN_START_TAKES_PROJECT = "project" in inspect.signature(services.run_start).parameters


def run_create(user, project: Project, start: RunStart) -> Run:
    """A new run in ``project`` through the shared service (its events, its checks)."""
    require_write(user, project)
    if _RUN_START_TAKES_PROJECT:
        run, _ = services.run_start(user=user, start=start, project=project)
    else:
        start.project = project.name
        run, _ = services.run_start(user=user, start=start)
    return run


def project_create(user, name: str) -> Project:
    """The user's project ``name`` (``team/name`` for a team's), created on first use by
    the shared service, with its checks (the key's scope, the role, archived projects)."""
    create = getattr(services, "project_for_run", None)
    if create is not None:
        return create(user, name)
    project, _ = Project.objects.get_or_create(owner=user, name=name)
    return project
