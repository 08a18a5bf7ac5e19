"""A project's baseline: the run or group of runs every new run is judged against.

One active baseline per project (a partial unique index says so); setting another one
closes the previous row instead of deleting it, so the history stays readable.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from experiments.errors import ApiError, NotFound
from experiments.models import Baseline, Project, Run
from experiments.selectors import project_named, runs_visible_to
from teams.audit import audit_record


def project_get_for_user(user: AbstractBaseUser, name: str) -> Project:
    project = project_named(user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    return project


def group_runs(user: AbstractBaseUser, project: Project, group: str) -> list[Run]:
    """The runs of ``group`` in ``project`` the user may see, oldest first."""
    return list(runs_visible_to(user).filter(project=project, group=group).order_by("created_at", "pk"))


def baseline_active(project: Project) -> Baseline | None:
    return Baseline.objects.active().filter(project=project).select_related("run", "project").first()


def baseline_history(project: Project) -> list[Baseline]:
    """Every baseline the project has had, newest first (the active one leads)."""
    return list(Baseline.objects.filter(project=project).select_related("run", "set_by").order_by("-set_at"))


@transaction.atomic
def baseline_set(
    *,
    user: AbstractBaseUser,
    project: Project,
    run: Run | None = None,
    group: str = "",
    note: str = "",
) -> Baseline:
    """Make ``run`` (or the runs of ``group``) the project's baseline; the previous one
    is kept as history. Setting the baseline that is already active changes nothing.

    Raises ApiError naming the field when the run belongs elsewhere or the group is empty.
    """
    if (run is None) == (not group):
        raise ApiError("give either a run id or a group name", "run" if run is None else "group")
    if run is not None and run.project_id != project.pk:
        raise ApiError(f"run {run.pk} belongs to project {run.project.name!r}, not {project.name!r}", "run")
    if group and not runs_visible_to(user).filter(project=project, group=group).exists():
        raise NotFound(f"project {project.name!r} has no run in group {group!r}", "group")
    # Lock the project row: two concurrent "set" requests must not both close the same
    # active row and then collide on the one-active index.
    Project.objects.select_for_update().filter(pk=project.pk).first()
    current = Baseline.objects.active().filter(project=project).first()
    if current is not None and current.run_id == (run.pk if run else None) and current.group == group:
        if note and note != current.note:
            current.note = note
            current.save(update_fields=["note"])
        return current
    now = timezone.now()
    if current is not None:
        current.replaced_at = now
        current.save(update_fields=["replaced_at"])
    audit_record("baseline.set", project=project, target=run.name if run is not None else f"group {group}")
    return Baseline.objects.create(
        project=project,
        run=run,
        group=group,
        label=run.name if run is not None else group,
        note=note,
        set_by=user if getattr(user, "pk", None) else None,
        set_at=now,
    )


@transaction.atomic
def baseline_clear(*, project: Project) -> Baseline | None:
    """Retire the active baseline (kept in the history); returns it, or None."""
    Project.objects.select_for_update().filter(pk=project.pk).first()
    current = Baseline.objects.active().filter(project=project).first()
    if current is not None:
        current.replaced_at = timezone.now()
        current.save(update_fields=["replaced_at"])
        audit_record("baseline.clear", project=project, target=current.label)
    return current


def baseline_dict(baseline: Baseline | None) -> dict | None:
    if baseline is None:
        return None
    return {
        "id": baseline.pk,
        "kind": baseline.kind,
        "run": baseline.run_id,
        "group": baseline.group or None,
        "label": baseline.label,
        "note": baseline.note,
        "set_at": baseline.set_at,
        "replaced_at": baseline.replaced_at,
        "active": baseline.replaced_at is None,
    }
