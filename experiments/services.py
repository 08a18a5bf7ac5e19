"""Write paths: creating and resuming runs, ingesting batches, heartbeats, finishing."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from experiments import events
from experiments.chunks import Chunk, chunks_insert, split_chunks
from experiments.errors import ApiError, NotFound
from experiments.models import BatchReceipt, Metric, Project, Run, RunStatus
from experiments.payloads import INT64_MAX, Batch, RunEnd, RunStart, check_stored_size
from experiments.selectors import MEMBER, VIEWER, require_role, runs_visible_to
from teams.audit import audit_record


def run_get_for_user(user: AbstractBaseUser, run_id: int, minimum: str = VIEWER) -> Run:
    """The run if ``user`` may see it (else 404, revealing nothing) and has at least role
    ``minimum`` in its project (else 403 naming the role: ``experiments.selectors``)."""
    run = runs_visible_to(user).filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"run {run_id} does not exist or is not yours", "run")
    if minimum != VIEWER:
        require_role(user, run.project, minimum)
    return run


def project_for_run(user: AbstractBaseUser, name: str) -> Project:
    """The project a new run of ``user`` goes to: ``entity/name`` (a team's, or a user's
    that ``user`` is a member of), or a bare name: the user's own, created on first use.
    404 when the entity names nothing ``user`` may log to; 403 when the role or the key
    does not allow logging there; 409 when the project is archived."""
    from experiments.selectors import project_named, request_key
    from teams.models import Team

    project = project_named(user, name, MEMBER) if "/" in name else None
    entity, _, bare = name.rpartition("/")
    if project is None and (not entity or entity == user.get_username()):
        project = Project.objects.filter(owner=user, team__isnull=True, name=bare).first()
        if project is not None:
            require_role(user, project, MEMBER)
    if project is None:
        team = None
        if entity and entity != user.get_username():
            team = Team.objects.filter(
                slug=entity, memberships__user=user, memberships__role__in=["owner", "admin", "member"]
            ).first()
            if team is None or Project.objects.filter(team=team, name=bare).exists():
                # An existing project of the team this user cannot see: not revealed.
                raise NotFound(f"no project {name!r} you may log to", "project")
        key = request_key(user)
        if key is not None and (key.read_only or not key.all_projects):
            raise ApiError(
                f"this API key cannot create project {name!r}: it is "
                + ("read-only" if key.read_only else "limited to a list of projects"),
                "project",
                status=403,
            )
        project, _ = Project.objects.get_or_create(owner=user, team=team, name=bare)
    if project.archived_at is not None:
        raise ApiError(f"project {project.name!r} is archived: it takes no new runs", "project", status=409)
    return project


def _auto_name(project: Project) -> str:
    return f"run-{project.runs.count() + 1}"


def _run_save(run: Run, update_fields: list[str] | None = None, grew: tuple[str, ...] = ()) -> None:
    """Save ``run`` after checking its size limits: ``grew`` names the JSON fields a merge
    made larger; each must stay within its byte limit (413 naming the field and the
    setting). The fields' encoder keeps floats floats on PostgreSQL (jsonstore)."""
    for name in grew:
        check_stored_size(getattr(run, name), name, f"TRACKER_MAX_{name.upper()}_BYTES")
    run.save(update_fields=update_fields)


@transaction.atomic
def run_start(*, user: AbstractBaseUser, start: RunStart, project: Project | None = None) -> tuple[Run, bool]:
    """Create a run (in ``project``, or the one ``start.project`` names: ``project_for_run``),
    or resume ``start.resume_id``; returns (run, resumed). Needs the member role."""
    now = timezone.now()
    if start.resume_id is not None:
        run = run_get_for_user(user, start.resume_id, MEMBER)
        run = Run.objects.select_for_update().get(pk=run.pk)
        run.status = RunStatus.RUNNING
        run.heartbeat_at = now
        run.finished_at = None
        run.exit_code = None
        if start.started_at is not None:
            run.started_at = _at(start.started_at, now)
        if start.tags:
            run.tags = sorted(set(run.tags) | set(start.tags))
        for name, value in start.environment.items():
            if value:
                setattr(run, name, value)
        run.config = {**run.config, **start.config}
        _run_save(run, grew=("config",))
        events.emit(run, {"type": "status", "status": run.status})
        return run, True
    if project is None:
        project = project_for_run(user, start.project)
    else:
        require_role(user, project, MEMBER)
    if start.join_key:
        return _run_join(project, start, now)
    return _run_create(project, start, now), False


def _at(unix: float | None, now):
    return now if unix is None else datetime.fromtimestamp(unix, tz=UTC)


def _run_create(project: Project, start: RunStart, now) -> Run:
    run = Run(
        project=project,
        name=start.name or _auto_name(project),
        group=start.group,
        tags=start.tags,
        config=start.config,
        created_at=_at(start.started_at, now),
        started_at=_at(start.started_at, now),
        heartbeat_at=now,
        join_key=start.join_key,
        world_size=start.world_size,
        **start.environment,
    )
    _run_save(run)
    events.emit(run, {"type": "created"})
    audit_record("run.create", project=project, target=run.name, run=run.pk)
    return run


# A run that ended this recently still takes its job's late ranks (a rank that reached
# ``init`` after rank 0 had finished); after that, the key starts a new run.
JOIN_GRACE = timedelta(minutes=2)


def _run_join(project: Project, start: RunStart, now) -> tuple[Run, bool]:
    """Every rank of a distributed job creates "its" run with the job's ``join_key``: the
    first creates it, the others join it (returned as resumed). A run holding the key
    that ended more than ``JOIN_GRACE`` ago gives it up: the key was reused by a new job."""
    for _ in range(3):
        holder = Run.objects.select_for_update().filter(project=project, join_key=start.join_key).first()
        if holder is not None:
            ended = holder.finished_at or holder.heartbeat_at
            if holder.status == RunStatus.RUNNING or ended >= now - JOIN_GRACE:
                if start.world_size > holder.world_size:
                    holder.world_size = start.world_size
                    holder.save(update_fields=["world_size"])
                return holder, True
            holder.join_key = ""
            holder.save(update_fields=["join_key"])
        try:
            with transaction.atomic():  # a savepoint: a rank that lost the race joins
                return _run_create(project, start, now), False
        except IntegrityError:
            continue
    raise ApiError("could not create or join the run for this join_key; retry", "join_key", status=409)


def _metrics_for_keys(run: Run, keys: list[str]) -> list[int]:
    """Metric ids for ``keys`` (in order), creating the missing rows; 413 when the run
    would hold more than ``TRACKER_MAX_METRIC_KEYS`` distinct keys."""
    existing = dict(Metric.objects.filter(run=run, key__in=keys).values_list("key", "id"))
    missing = [k for k in keys if k not in existing]
    if missing:
        limit = settings.TRACKER_MAX_METRIC_KEYS
        total = Metric.objects.filter(run=run).count() + len(missing)
        if total > limit:
            raise ApiError(
                f"run {run.pk} would have {total} distinct metric keys; the limit is {limit} "
                "(TRACKER_MAX_METRIC_KEYS)",
                "rows",
                status=413,
            )
        Metric.objects.bulk_create([Metric(run=run, key=k) for k in missing], ignore_conflicts=True)
        existing = dict(Metric.objects.filter(run=run, key__in=keys).values_list("key", "id"))
    return [existing[k] for k in keys]


def _summarise(chunks: list[Chunk]) -> dict:
    """One metric's statistics over its chunks of a batch: count, last point (highest
    step, latest logged among equals), min/max ignoring NaN, non-finite count."""
    steps = np.concatenate([c.steps for c in chunks])
    values = np.concatenate([c.values for c in chunks])
    walls = np.concatenate([c.wall_times for c in chunks])
    nan = np.isnan(values)
    # The last occurrence of the highest step: argmax on the reversed array.
    last = len(steps) - 1 - int(np.argmax(steps[::-1]))
    stats = {
        "count": len(steps),
        "last": (int(steps[last]), float(values[last]), float(walls[last])),
        "nonfinite": int((nan | np.isinf(values)).sum()),
        "min": None,
        "max": None,
    }
    if not nan.all():
        idx = np.flatnonzero(~nan)
        i, j = idx[int(values[idx].argmin())], idx[int(values[idx].argmax())]
        stats["min"] = (int(steps[i]), float(values[i]))
        stats["max"] = (int(steps[j]), float(values[j]))
    return stats


# Folds one batch's statistics into a metric row. Every right-hand side reads the row's
# old values (SQL semantics on PostgreSQL and SQLite alike), and the row lock taken by
# the UPDATE serialises concurrent batches of one run (several ranks), so none is lost.
# Raw SQL: the ORM's expression compiler cost ~20 ms per metric per batch here.
_METRIC_FOLD = """
UPDATE experiments_metric SET
    count = count + %(count)s,
    nonfinite_count = nonfinite_count + %(nonfinite)s,
    last_value = CASE WHEN last_step IS NULL OR last_step <= %(last_step)s
                      THEN %(last_value)s ELSE last_value END,
    last_wall_time = CASE WHEN last_step IS NULL OR last_step <= %(last_step)s
                          THEN %(last_wall)s ELSE last_wall_time END,
    last_step = CASE WHEN last_step IS NULL OR last_step <= %(last_step)s
                     THEN %(last_step)s ELSE last_step END,
    min_step = CASE WHEN %(lo)s IS NOT NULL AND (min_value IS NULL OR min_value > %(lo)s)
                    THEN %(lo_step)s ELSE min_step END,
    min_value = CASE WHEN %(lo)s IS NOT NULL AND (min_value IS NULL OR min_value > %(lo)s)
                     THEN %(lo)s ELSE min_value END,
    max_step = CASE WHEN %(hi)s IS NOT NULL AND (max_value IS NULL OR max_value < %(hi)s)
                    THEN %(hi_step)s ELSE max_step END,
    max_value = CASE WHEN %(hi)s IS NOT NULL AND (max_value IS NULL OR max_value < %(hi)s)
                     THEN %(hi)s ELSE max_value END
WHERE id = %(id)s
"""


def _metric_fold_params(metric_id: int, s: dict) -> dict:
    step, value, wall_time = s["last"]
    lo_step, lo = s["min"] or (None, None)
    hi_step, hi = s["max"] or (None, None)
    return {
        "id": metric_id,
        "count": s["count"],
        "nonfinite": s["nonfinite"],
        "last_step": step,
        "last_value": None if value != value else value,  # a NaN last value is NULL
        "last_wall": wall_time,
        "lo": lo,
        "lo_step": lo_step,
        "hi": hi,
        "hi_step": hi_step,
    }


def batch_ingest(*, run: Run, batch: Batch) -> int | None:
    """Store a batch all-or-nothing; returns the number of points, or None when this
    (run, writer, seq) was stored before (a retry), in which case nothing changes."""
    try:
        with transaction.atomic():
            BatchReceipt.objects.create(run=run, writer=batch.writer, seq=batch.seq, points=batch.points)
            metric_ids = _metrics_for_keys(run, batch.keys) if batch.keys else []
            per_metric = [
                split_chunks(metric_id, batch.rank, *cols)
                for metric_id, cols in zip(metric_ids, batch.columns, strict=True)
            ]
            chunks_insert(c for chunks in per_metric for c in chunks)
            folds = [
                _metric_fold_params(metric_id, _summarise(chunks))
                for metric_id, chunks in zip(metric_ids, per_metric, strict=True)
                if chunks
            ]
            if folds:
                with connection.cursor() as cur:
                    cur.executemany(_METRIC_FOLD, folds)
            run_updates: dict = {
                "points_count": F("points_count") + batch.points,
                "heartbeat_at": timezone.now(),
            }
            if run.status == RunStatus.CRASHED:
                run_updates["status"] = RunStatus.RUNNING
            Run.objects.filter(pk=run.pk).update(**run_updates)
            if batch.summary:
                _summary_merge(run.pk, batch.summary)
            events.emit(run, {"type": "points", "keys": batch.keys})
    except IntegrityError:
        if BatchReceipt.objects.filter(run=run, writer=batch.writer, seq=batch.seq).exists():
            return None
        raise
    return batch.points


def _summary_merge(run_id: int, summary: dict) -> None:
    run = Run.objects.select_for_update().only("summary").get(pk=run_id)
    run.summary = {**run.summary, **summary}
    _run_save(run, update_fields=["summary"], grew=("summary",))


def _dropped_overflow(run: Run, dropped: int) -> ApiError:
    return ApiError(
        f"would overflow the run's count of dropped points ({run.dropped_points} + {dropped} "
        "is over 2**63 - 1)",
        "dropped",
    )


@transaction.atomic
def run_heartbeat(*, run: Run, dropped: int, quarantined: dict | None = None) -> Run:
    updates: dict = {"heartbeat_at": timezone.now()}
    rows = Run.objects.filter(pk=run.pk)
    if dropped:
        updates["dropped_points"] = F("dropped_points") + dropped
        # The counter is a 64-bit column: a sum that would not fit changes nothing.
        rows = rows.filter(dropped_points__lte=INT64_MAX - dropped)
    if run.status == RunStatus.CRASHED:
        updates["status"] = RunStatus.RUNNING
    if not rows.update(**updates):
        run.refresh_from_db(fields=["dropped_points"])
        raise _dropped_overflow(run, dropped)
    if run.status == RunStatus.CRASHED:
        events.emit(run, {"type": "status", "status": RunStatus.RUNNING})
    if quarantined:
        _quarantine_merge(run, quarantined)
    run.refresh_from_db()
    return run


QUARANTINE_MAX_WRITERS = 256


def _quarantine_merge(run: Run, report: dict) -> None:
    """Fold a client's set-aside totals ({writer: {batches, points, reason, dir}}) into
    the run; a writer with none left is removed, the oldest go past 256 writers."""
    current = Run.objects.select_for_update().only("quarantined").get(pk=run.pk).quarantined or {}
    merged = {writer: item for writer, item in {**current, **report}.items() if item.get("batches")}
    merged = dict(list(merged.items())[-QUARANTINE_MAX_WRITERS:])
    Run.objects.filter(pk=run.pk).update(quarantined=merged)
    run.quarantined = merged


@transaction.atomic
def run_finish(*, run: Run, end: RunEnd, quarantined: dict | None = None) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.dropped_points > INT64_MAX - end.dropped:
        raise _dropped_overflow(run, end.dropped)
    now = timezone.now()
    run.status = end.status
    run.finished_at = _at(end.finished_at, now)
    run.heartbeat_at = now
    run.exit_code = end.exit_code
    if end.error:
        run.error = end.error
    if end.summary:
        run.summary = {**run.summary, **end.summary}
    run.dropped_points += end.dropped
    _run_save(run, grew=("summary",) if end.summary else ())
    if quarantined:
        _quarantine_merge(run, quarantined)
    # Its listeners include the Celery follow-ups of a finished run (experiments.apps).
    events.emit(run, {"type": "status", "status": run.status})
    return run


def runs_mark_crashed(
    *, silent_for_seconds: float, run_id: int | None = None, project_id: int | None = None
) -> list[int]:
    """Mark running runs whose client has been silent too long as crashed (all of them,
    or those of ``run_id`` / ``project_id``); returns their ids. A heartbeat or batch
    makes one running again."""
    cutoff = timezone.now() - timedelta(seconds=silent_for_seconds)
    with transaction.atomic():
        silent = Run.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
        if run_id is not None:
            silent = silent.filter(pk=run_id)
        if project_id is not None:
            silent = silent.filter(project_id=project_id)
        runs = list(silent.select_for_update().only("pk", "project_id"))
        Run.objects.filter(pk__in=[r.pk for r in runs]).update(status=RunStatus.CRASHED)
        for run in runs:
            events.emit(run, {"type": "status", "status": RunStatus.CRASHED})
    return [r.pk for r in runs]


def run_summaries_recompute(*, run_id: int) -> dict:
    """Rebuild every metric's summary of a run from its points (supersede rule applied).

    Returns ``{key: count}``. Runs in the Celery worker after ``finish``.
    """
    from experiments.queries import metric_history

    result = {}
    for metric in Metric.objects.filter(run_id=run_id):
        series = metric_history(metric)
        finite = [(s, v) for s, v in zip(series.step, series.value, strict=True) if v == v]
        updates: dict = {
            "count": len(series.step),
            "nonfinite_count": sum(1 for v in series.value if v != v or math.isinf(v)),
        }
        if series.step:
            last = max(range(len(series.step)), key=lambda i: (series.step[i], -series.rank[i]))
            updates |= {
                "last_step": series.step[last],
                "last_value": None if series.value[last] != series.value[last] else series.value[last],
                "last_wall_time": series.wall_time[last],
            }
        if finite:
            lo = min(finite, key=lambda p: p[1])
            hi = max(finite, key=lambda p: p[1])
            updates |= {"min_step": lo[0], "min_value": lo[1], "max_step": hi[0], "max_value": hi[1]}
        Metric.objects.filter(pk=metric.pk).update(**updates)
        result[metric.key] = updates["count"]
    return result
