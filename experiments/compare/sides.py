"""The sides of a comparison: a run, or a group of runs of one project (seeds, folds),
named by a token (``12`` or ``group:NAME``), and the project's baseline as one."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser

from experiments.compare.baselines import baseline_active, group_runs
from experiments.errors import ApiError, NotFound
from experiments.models import Project, Run
from experiments.payloads import parse_int
from experiments.selectors import runs_visible_to


@dataclass
class Side:
    """One side of a comparison: a run, or a group of runs of one project."""

    kind: str  # "run" | "group"
    label: str
    runs: list[Run]
    group: str = ""

    @property
    def token(self) -> str:
        return f"group:{self.group}" if self.kind == "group" else str(self.runs[0].pk)

    @property
    def project(self) -> Project:
        return self.runs[0].project


def side_of_run(run: Run) -> Side:
    return Side(kind="run", label=run.name, runs=[run])


def side_of_group(group: str, runs: list[Run]) -> Side:
    return Side(kind="group", label=group, runs=runs, group=group)


def parse_side(user: AbstractBaseUser, project: Project | None, token: str, field: str = "run") -> Side:
    """A side from its token: a run id (``12``) or ``group:NAME`` (needs ``project``).
    Raises ApiError/NotFound naming ``field``; another user's run is "not found"."""
    token = str(token).strip()
    if token.startswith("group:"):
        name = token[len("group:") :]
        if project is None:
            raise ApiError("a group needs its project", field)
        runs = group_runs(user, project, name)
        if not runs:
            raise NotFound(f"project {project.name!r} has no run in group {name!r}", field)
        return side_of_group(name, runs)
    if not token.isdigit():
        raise ApiError(f"must be a run id or group:NAME, got {token[:60]!r}", field)
    run_id = parse_int(token, field, minimum=1)
    runs = runs_visible_to(user).filter(pk=run_id)
    if project is not None:
        runs = runs.filter(project=project)
    run = runs.first()
    if run is None:
        raise NotFound(f"run {run_id} does not exist or is not yours", field)
    return side_of_run(run)


def baseline_side(user: AbstractBaseUser, project: Project, field: str = "against") -> Side:
    """The project's active baseline as a side. NotFound (naming ``field``) when the
    project has none, or its run or group is gone."""
    baseline = baseline_active(project)
    if baseline is None:
        raise NotFound(
            f"project {project.name!r} has no baseline; set one from a run's page, the API "
            "or `python -m tracker baseline set RUN_OR_GROUP`",
            field,
        )
    if baseline.group:
        runs = group_runs(user, project, baseline.group)
        if not runs:
            raise NotFound(f"the baseline group {baseline.group!r} has no runs left", field)
        return side_of_group(baseline.group, runs)
    if baseline.run is None:
        raise NotFound(f"the baseline run {baseline.label!r} was deleted; set another baseline", field)
    return side_of_run(baseline.run)


def reference_side(user: AbstractBaseUser, project: Project, token: str, field: str = "against") -> Side:
    """``baseline`` (the project's), a run id, or ``group:NAME``."""
    token = (token or "baseline").strip()
    if token == "baseline":
        return baseline_side(user, project, field)
    return parse_side(user, project, token, field)


def side_dict(side: Side) -> dict:
    return {
        "token": side.token,
        "kind": side.kind,
        "label": side.label,
        "group": side.group or None,
        "runs": [{"id": run.pk, "name": run.name, "status": run.status} for run in side.runs],
    }
