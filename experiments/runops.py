"""Managing runs after the fact: edit a run's name, group, tags and notes, archive and
restore, move it to another project, delete runs (issue #16). Roles come from ``experiments.selectors``:
members edit; admins move and delete (and must be members of the target project).

Deleting is in two steps so that a run of millions of points answers at once: the run
leaves its project for a hidden one at once (no list shows it), and a ``deleted`` run
event has the Celery task ``run_purge`` (``experiments.tasks``) delete its points in
batches, then the run with its media, checkpoints, findings and files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from experiments import events
from experiments.errors import ApiError
from experiments.models import Metric, PointChunk, Project, Run
from experiments.payloads import _obj, _tags, check_str
from experiments.selectors import ADMIN, MEMBER, require_role

PURGE_BATCH = 20_000  # chunk rows per DELETE


@dataclass(frozen=True)
class RunChanges:
    """What a PATCH sets; None leaves a field as it is."""

    name: str | None = None
    group: str | None = None
    notes: str | None = None
    tags: list[str] | None = None
    project: str | None = None
    archived: bool | None = None


def parse_run_changes(data: Any) -> RunChanges:
    """A PATCH body: any of name, group, notes (Markdown), tags, project, archived (true
    archives, false restores). Raises ApiError naming the field."""
    data = _obj(data)
    known = {"name", "group", "notes", "tags", "project", "archived"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ApiError(
            f"unknown field {unknown[0]!r}; a run's editable fields are {', '.join(sorted(known))}",
            unknown[0],
        )
    if not data:
        raise ApiError("nothing to change: send name, group, notes, tags, project or archived", "body")
    if "archived" in data and type(data["archived"]) is not bool:
        raise ApiError(f"archived must be true or false, got {data['archived']!r:.40}", "archived")

    def text(name: str, limit: int) -> str | None:
        if name not in data:
            return None
        value = check_str(data[name], name, limit)
        return value.strip() if name != "notes" else value

    name = text("name", 200)
    if name == "":
        raise ApiError("a run's name cannot be empty", "name")
    return RunChanges(
        name=name,
        group=text("group", 200),
        notes=text("notes", 100_000),
        tags=_tags(data["tags"]) if "tags" in data else None,
        project=text("project", 200),
        archived=data.get("archived"),
    )


def run_update(*, actor: AbstractBaseUser, run: Run, changes: RunChanges) -> Run:
    """Apply ``changes`` (the member role; moving needs admin here and member there)."""
    from teams.audit import audit_record

    require_role(actor, run.project, ADMIN if changes.project else MEMBER)
    fields = {k: v for k, v in vars(changes).items() if v is not None and k not in ("project", "archived")}
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        for name, value in fields.items():
            setattr(run, name, value)
        if changes.archived is not None and changes.archived != (run.archived_at is not None):
            run.archived_at = timezone.now() if changes.archived else None
            fields["archived_at"] = run.archived_at
            action = "run.archive" if changes.archived else "run.restore"
            audit_record(action, project=run.project, target=run.name, run=run.pk)
        if changes.project is not None and changes.project != run.project.name:
            target = _target_project(actor, run, changes.project)
            audit_record("run.move", project=run.project, target=run.name, run=run.pk, to=target.name)
            run.project = target
            fields["project"] = target
        if fields:
            run.save(update_fields=list(fields))
            audit_record("run.edit", project=run.project, target=run.name, run=run.pk, fields=sorted(fields))
            events.emit(run, {"type": "edited", "fields": sorted(fields)})
    return run


def _target_project(actor: AbstractBaseUser, run: Run, name: str) -> Project:
    from experiments.selectors import project_named

    target = project_named(actor, name, MEMBER)
    if target is None:
        raise ApiError(
            f"project {name!r} does not exist or you may not log runs to it", "project", status=404
        )
    if run.join_key and Run.objects.filter(project=target, join_key=run.join_key).exists():
        raise ApiError(f"project {name!r} already holds a run of the same distributed job", "project", 409)
    return target


def runs_delete(*, actor: AbstractBaseUser, runs: list[Run]) -> list[int]:
    """Delete ``runs`` (the admin role in each project): their points go in the background
    (``run_purge``), the rest with them. Returns the ids queued."""
    from teams.audit import audit_record

    for run in runs:
        require_role(actor, run.project, ADMIN)
    with transaction.atomic():
        for run in runs:
            audit_record("run.delete", project=run.project, target=run.name, run=run.pk)
            events.emit(run, {"type": "deleted"})  # to its project's page; then run_purge
        ids = [run.pk for run in runs]
        # Out of every list at once: a run being purged is in a project no one can see.
        Run.objects.filter(pk__in=ids).update(stop_requested=True, project=_trash_project())
    return ids


def _trash_project() -> Project:
    """The project runs wait in while their points are purged: owned by no one who can
    see it (a system user), named so no one can address it."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="tracker-trash", defaults={"is_active": False, "email": ""}
    )
    project, _ = Project.objects.get_or_create(owner=user, name=".trash")
    return project


BULK_ACTIONS = ("delete", "tag", "untag", "archive", "restore")
MAX_BULK = 1000


def parse_bulk(data: Any) -> tuple[str, list[int], str]:
    """``(action, run ids, tag)`` of a bulk request; raises ApiError naming the field."""
    data = _obj(data)
    action = data.get("action")
    if action not in BULK_ACTIONS:
        raise ApiError(f"action must be one of {', '.join(BULK_ACTIONS)}, got {action!r:.40}", "action")
    ids = data.get("runs")
    if type(ids) is not list or not ids or any(type(i) is not int or not 0 < i < 2**63 for i in ids):
        raise ApiError("runs must be a non-empty list of run ids", "runs")
    if len(ids) > MAX_BULK:
        raise ApiError(f"at most {MAX_BULK} runs per request, got {len(ids)}", "runs")
    tag = ""
    if action in ("tag", "untag"):
        tag = _tags([data.get("tag")])[0] if isinstance(data.get("tag"), str) and data["tag"].strip() else ""
        if not tag:
            raise ApiError("tag must be a non-empty string", "tag")
    return action, list(dict.fromkeys(ids)), tag.strip()


def runs_tag(*, actor: AbstractBaseUser, runs: list[Run], tag: str, add: bool) -> list[int]:
    """Add ``tag`` to (or remove it from) each run (the member role in each project);
    returns the ids that changed."""
    for run in runs:
        require_role(actor, run.project, MEMBER)
    changed = []
    with transaction.atomic():
        for run in Run.objects.select_for_update().filter(pk__in=[r.pk for r in runs]).order_by("pk"):
            tags = [t for t in run.tags if t != tag] + ([tag] if add else [])
            if tags != run.tags:
                run.tags = _tags(tags)  # a run at the tag limit: 400 naming "tags"
                run.save(update_fields=["tags"])
                events.emit(run, {"type": "edited", "fields": ["tags"]})
                changed.append(run.pk)
    return changed


ARCHIVED_CHOICES = {"false": False, "0": False, "true": True, "1": True, "any": None}


def archived_filter(runs: QuerySet[Run], archived: str | None) -> QuerySet[Run]:
    """``runs`` as lists show them: without archived runs by default; ``true`` (or ``1``)
    only archived ones, ``any`` both. Raises ApiError naming ``archived``."""
    value = (archived or "false").strip().lower()
    if value not in ARCHIVED_CHOICES:
        raise ApiError(f"archived must be true, false or any, got {archived!r:.40}", "archived")
    choice = ARCHIVED_CHOICES[value]
    return runs if choice is None else runs.filter(archived_at__isnull=not choice)


def runs_archive(*, actor: AbstractBaseUser, runs: list[Run], archived: bool) -> list[int]:
    """Archive (or restore) each run (the member role in each project); returns the ids
    that changed, in order."""
    changes = RunChanges(archived=archived)
    for run in runs:
        require_role(actor, run.project, MEMBER)
    changed = []
    for run in sorted(runs, key=lambda r: r.pk):
        if (run.archived_at is not None) != archived:
            run_update(actor=actor, run=run, changes=changes)
            changed.append(run.pk)
    return changed


def run_purge(run_id: int) -> int:
    """Delete a run's points in batches, then the run (metrics, media, checkpoints,
    findings cascade) and its files. Returns the chunk rows deleted. Idempotent."""
    from experiments.media.artifacts import artifact_root

    metric_ids = list(Metric.objects.filter(run_id=run_id).values_list("pk", flat=True))
    deleted = 0
    while metric_ids:
        batch = list(
            PointChunk.objects.filter(metric_id__in=metric_ids).values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not batch:
            break
        deleted += PointChunk.objects.filter(pk__in=batch)._raw_delete(PointChunk.objects.db)
    Run.objects.filter(pk=run_id).delete()
    root = artifact_root()
    for folder in root.glob(f"*/run-{run_id}"):
        shutil.rmtree(folder, ignore_errors=True)
    return deleted
