"""MLflow's ids for our rows, both ways, through the visibility rules.

- An experiment is a project; its id is the project's primary key. Experiment ``0``
  (MLflow's "Default", where runs go when no experiment is set) is the caller's own
  project "Default", made on first use.
- A run's id is its primary key as 32 hex digits: stable, the same from either API,
  for every run (one logged by our SDK too), with no table to keep in step.
"""

import re

from experiments.models import Project, Run
from experiments.selectors import projects_visible_to, runs_visible_to
from mlflow_api import access
from mlflow_api.access import project_create
from mlflow_api.http import MlflowError

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def run_hex(run: Run) -> str:
    return f"{run.pk:032x}"


def run_pk(run_id: str) -> int | None:
    """Our primary key for an MLflow run id, or None when it cannot name one of ours."""
    if not _RUN_ID.fullmatch(run_id):
        return None
    pk = int(run_id, 16)
    return pk if 0 < pk < 2**63 else None


def run_for(user, run_id: str, *, write: bool = False) -> Run:
    """A run the user may see, by its MLflow id, with its MLflow extras; ``RESOURCE_DOES_NOT_EXIST``
    otherwise (a stranger's run is not revealed to exist). With ``write``, one the user may
    also log to (``PERMISSION_DENIED`` for a visible run they may only read)."""
    pk = run_pk(run_id)
    run = None
    if pk is not None:
        if write:  # the common case in one query: a run the caller logs to
            run = access.runs_writable(user).filter(pk=pk).select_related("project", "mlflow").first()
            if run is not None:
                return run
        run = runs_visible_to(user).filter(pk=pk).select_related("project", "mlflow").first()
    if run is None:
        raise MlflowError(f"Run with id={run_id[:64]} not found", "RESOURCE_DOES_NOT_EXIST")
    if write:
        access.require_write(user, run.project)
        raise MlflowError(f"you may not log to run {run_id}", "PERMISSION_DENIED")
    return run


def experiment_id(project: Project, user) -> str:
    if project.name == DEFAULT_EXPERIMENT_NAME and project.owner_id == user.pk:
        return DEFAULT_EXPERIMENT_ID
    return str(project.pk)


def default_project(user) -> Project:
    """The user's "Default" project, made on first use (where MLflow puts runs that name
    no experiment)."""
    found = projects_visible_to(user).filter(owner=user, name=DEFAULT_EXPERIMENT_NAME).first()
    return found or project_create(user, DEFAULT_EXPERIMENT_NAME)


def project_for(user, raw_id: str) -> Project:
    """The project an experiment id names, if the user may see it."""
    if raw_id == DEFAULT_EXPERIMENT_ID:
        return default_project(user)
    project = None
    if raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 19:
        project = projects_visible_to(user).filter(pk=int(raw_id)).first()
    if project is None:
        raise MlflowError(f"No Experiment with id={raw_id[:64]} exists", "RESOURCE_DOES_NOT_EXIST")
    return project


def project_named(user, name: str) -> Project | None:
    """The project an experiment name names for this user: their own first."""
    if name == DEFAULT_EXPERIMENT_NAME:
        return default_project(user)
    return access.project_named(user, name)
