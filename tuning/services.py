"""Write paths of sweeps: create, start/resume, stop, delete, and the bookkeeping of trial
slots that the Celery tasks drive.

Concurrency is bounded by "slots": a slot is one ``trial_run`` task chain. A slot claims a
trial (at most ``parallelism`` running, at most ``n_trials`` in all), runs it and then
enqueues its successor; extra tasks find no free slot and end, so an over-enqueue is
harmless and self-correcting. A slot whose worker dies is replaced when its trial is
declared lost (no heartbeat for ``TUNING_GRACE_PERIOD``).

Services never import the tasks: a slot or a study deletion is asked for with a signal
(``tuning.signals``) after the commit, and ``tuning.tasks`` enqueues it.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from experiments.models import ApiKey, Run, RunStatus
from teams.audit import audit_record
from tuning import conf, signals
from tuning.entrypoints import refusal
from tuning.errors import SpecError
from tuning.models import Sweep, SweepStatus, Trial, TrialState, error_summary

logger = logging.getLogger(__name__)


@dataclass
class Counts:
    total: int
    running: int

    @classmethod
    def of(cls, sweep_id: int) -> Counts:
        agg = Trial.objects.filter(sweep_id=sweep_id).aggregate(
            total=Count("id"), running=Count("id", filter=Q(state=TrialState.RUNNING))
        )
        return cls(agg["total"], agg["running"])


def _enqueue(sweep_id: int, slots: int) -> None:
    """``slots`` more slot tasks, once the transaction commits (``tuning.signals``)."""
    for _ in range(max(0, slots)):
        transaction.on_commit(lambda: signals.slot_wanted.send(sender=Sweep, sweep_id=sweep_id))


def _request_stop(runs: list[int]) -> None:
    """``tracker.should_stop()`` turns true in these runs' training (via the SDK's next
    batch or heartbeat response)."""
    if runs:
        Run.objects.filter(pk__in=runs).update(stop_requested=True)


def sweep_create(*, user: AbstractBaseUser, project: str, fields: dict, start: bool = True) -> Sweep:
    """A sweep in the user's project ``project`` (created if new), from validated fields
    (``tuning.payloads.parse_sweep``); started unless ``start`` is False."""
    from experiments.selectors import ADMIN, require_role
    from experiments.services import project_for_run

    with transaction.atomic():
        # ``entity/name`` or the user's own; starting sweeps is for the project's admins.
        project_row = project_for_run(user, project)
        require_role(user, project_row, ADMIN)
        if not fields.get("name"):
            fields = {**fields, "name": f"sweep-{project_row.sweeps.count() + 1}"}
        sweep = Sweep.objects.create(project=project_row, created_by=user, **fields)
        if start:
            sweep = _sweep_start_locked(sweep_id=sweep.pk)
    return sweep


def sweep_start(*, sweep: Sweep) -> Sweep:
    """Start a new sweep, or resume a stopped, failed or finished one (with trials left:
    raise ``n_trials`` to extend a finished one). Enqueues up to ``parallelism`` slots.

    Refused (``SpecError`` on ``entry_point``) when the entry point is no longer in
    ``TUNING_ENTRY_POINT_MODULES``. Trials lost with a dead worker are recovered first,
    so they free their slots (outside the sweep's lock: recovery talks to Optuna's
    storage, which on SQLite must not wait on this connection's write lock)."""
    refused = refusal(sweep.entry_point, conf.entry_point_modules())
    if refused:
        raise SpecError(refused, "entry_point")
    trials_recover_lost(sweep_id=sweep.pk)
    with transaction.atomic():
        return _sweep_start_locked(sweep_id=sweep.pk)


def _sweep_start_locked(*, sweep_id: int) -> Sweep:
    sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
    if sweep.status == SweepStatus.RUNNING:
        return sweep
    counts = Counts.of(sweep.pk)
    remaining = sweep.n_trials - counts.total
    if remaining <= 0:
        raise SpecError(f"all {sweep.n_trials} trials have run; raise n_trials to continue", "n_trials")
    now = timezone.now()
    sweep.status = SweepStatus.RUNNING
    sweep.started_at = sweep.started_at or now
    sweep.finished_at = None
    sweep.error = ""
    sweep.activity_at = now
    sweep.save(update_fields=["status", "started_at", "finished_at", "error", "activity_at"])
    _enqueue(sweep.pk, min(sweep.parallelism - counts.running, remaining))
    audit_record("sweep.start", project=sweep.project, target=sweep.name)
    return sweep


@transaction.atomic
def sweep_stop(*, sweep: Sweep) -> Sweep:
    """Start no more trials and ask the running ones to stop; the sweep is ``stopped``
    once the last of them has ended (they end as pruned, their curves kept)."""
    sweep = Sweep.objects.select_for_update().get(pk=sweep.pk)
    if sweep.status not in (SweepStatus.RUNNING, SweepStatus.STOPPING, SweepStatus.CREATED):
        return sweep
    running = list(sweep.trials.filter(state=TrialState.RUNNING).values_list("run_id", flat=True))
    _request_stop([r for r in running if r is not None])
    sweep.status = SweepStatus.STOPPING if running else SweepStatus.STOPPED
    sweep.finished_at = None if running else timezone.now()
    sweep.save(update_fields=["status", "finished_at"])
    audit_record("sweep.stop", project=sweep.project, target=sweep.name)
    return sweep


def sweep_delete(*, sweep: Sweep) -> None:
    """Delete a sweep and its trial rows (the trials' runs stay in the project), stop its
    running trials, and drop its Optuna study."""
    with transaction.atomic():
        running = sweep.trials.filter(state=TrialState.RUNNING).values_list("run_id", flat=True)
        _request_stop([r for r in running if r is not None])
        ApiKey.objects.filter(pk__in=sweep.trials.values("api_key_id"), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        name = sweep.study_name
        was_started = sweep.started_at is not None
        sweep.delete()
        if was_started:
            transaction.on_commit(lambda: signals.study_unused.send(sender=Sweep, study_name=name))


# -- slots and trials (run by the workers) ---------------------------------------------


def trial_claim(*, sweep_id: int, worker: str, pid: int) -> tuple[Trial, int] | None:
    """Take a free slot of a running sweep: a new trial row, and its index (how many
    trials the sweep had before it, which seeds its sampler). None when the sweep is not
    running, ``parallelism`` trials run already, or ``n_trials`` have been started."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.status != SweepStatus.RUNNING:
            return None
        counts = Counts.of(sweep_id)
        if counts.running >= sweep.parallelism or counts.total >= sweep.n_trials:
            return None
        now = timezone.now()
        trial = Trial.objects.create(
            sweep=sweep, worker=worker, worker_pid=pid, started_at=now, heartbeat_at=now
        )
        Sweep.objects.filter(pk=sweep_id).update(activity_at=now)
    return trial, counts.total


def trial_attach(*, trial: Trial, number: int, params: dict, config: dict) -> str:
    """Give a claimed trial its Optuna number and parameters, a run (a normal run of the
    sweep's project, group = sweep name) and a per-trial API key of whoever created the
    sweep (else the project's owner), with the least rights a trial needs: read-write on
    the sweep's project only, expiring after the trial's timeout. Returns the raw key,
    which only the trial's process gets."""
    from experiments.payloads import RunStart
    from experiments.services import run_start

    sweep = trial.sweep
    owner = sweep.created_by or sweep.project.owner
    with transaction.atomic():
        run, _ = run_start(
            user=owner,
            project=sweep.project,
            start=RunStart(
                project=sweep.project.name,
                name=f"{sweep.name}-{number}",
                group=sweep.name,
                tags=[f"sweep:{sweep.pk}"],
                config=config,
                resume_id=None,
            ),
        )
        key, raw = ApiKey.issue(
            owner,
            name=f"sweep {sweep.pk} trial {number}",
            projects=[sweep.project],
            expires_at=timezone.now() + timedelta(seconds=conf.trial_timeout() + conf.stop_timeout() + 600),
            internal=True,
        )
        trial.number, trial.params, trial.run, trial.api_key = number, params, run, key
        trial.save(update_fields=["number", "params", "run", "api_key"])
    return raw


def trial_heartbeat(*, trial_id: int, child_pid: int | None = None) -> bool:
    """Prove the supervising worker is alive. False when the trial is no longer running
    here (declared lost, or its sweep deleted): the caller must stop it."""
    updates: dict = {"heartbeat_at": timezone.now()}
    if child_pid is not None:
        updates["child_pid"] = child_pid
    return bool(Trial.objects.filter(pk=trial_id, state=TrialState.RUNNING).update(**updates))


def trial_finish(*, trial_id: int, state: str, **fields) -> bool:
    """Record a trial's outcome (value, error, peaks...) and revoke its key. False when
    someone else ended it first (the watchdog declared it lost)."""
    with transaction.atomic():
        done = Trial.objects.filter(pk=trial_id, state=TrialState.RUNNING).update(
            state=state, finished_at=timezone.now(), **fields
        )
        trial = Trial.objects.filter(pk=trial_id).first()
        if trial is not None and trial.api_key_id:
            ApiKey.objects.filter(pk=trial.api_key_id, revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
        if trial is not None:
            Sweep.objects.filter(pk=trial.sweep_id).update(activity_at=timezone.now())
    return bool(done)


def sweep_settle(*, sweep_id: int, slot_continues: bool) -> None:
    """After a slot's turn: enqueue its successor while trials remain, and mark the sweep
    finished (or stopped) when nothing is left running. Under the sweep's row lock, so
    of two slots ending at once the later sees the other's trial as ended."""
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None:
            return
        counts = Counts.of(sweep_id)
        now = timezone.now()
        if sweep.status == SweepStatus.RUNNING:
            if counts.total < sweep.n_trials:
                if slot_continues:
                    _enqueue(sweep_id, 1)
            elif counts.running == 0:
                reason = _failure_reason(sweep_id)
                Sweep.objects.filter(pk=sweep_id).update(
                    status=SweepStatus.FAILED if reason else SweepStatus.FINISHED,
                    error=reason,
                    finished_at=now,
                )
        elif sweep.status == SweepStatus.STOPPING and counts.running == 0:
            Sweep.objects.filter(pk=sweep_id).update(status=SweepStatus.STOPPED, finished_at=now)


def _failure_reason(sweep_id: int) -> str:
    """Why a sweep that ran all its trials failed: none completed and some failed
    ("all 3 trials failed: ValueError: lr must be positive", naming the commonest error);
    "" when one completed, or when none failed (all pruned is a search's own verdict)."""
    trials = list(Trial.objects.filter(sweep_id=sweep_id).order_by("-pk").values_list("state", "error"))
    if any(state == TrialState.COMPLETE for state, _ in trials):
        return ""
    errors = [error_summary(error) for state, error in trials if state == TrialState.FAILED]
    if not errors:
        return ""
    # Commonest first; among equals, the newest trial's (Counter keeps first-seen order).
    reason = Counter(e for e in errors if e).most_common(1)
    what = f": {reason[0][0]}" if reason else ""
    if len(errors) == len(trials):
        head = "the trial failed" if len(trials) == 1 else f"all {len(trials)} trials failed"
    else:
        head = f"no trial completed; {len(errors)} of {len(trials)} failed"
    return head + what


def sweep_fail(*, sweep_id: int, error: str) -> None:
    """A sweep whose trials cannot run at all (its study cannot be opened, say)."""
    running = Trial.objects.filter(sweep_id=sweep_id, state=TrialState.RUNNING).values_list(
        "run_id", flat=True
    )
    _request_stop([r for r in running if r is not None])
    Sweep.objects.filter(pk=sweep_id).update(
        status=SweepStatus.FAILED, error=error, finished_at=timezone.now()
    )


@dataclass
class Recovered:
    """What one ``trials_recover_lost`` call did: trials failed as lost (each replaced by
    a new slot) and running sweeps whose lost slots were enqueued again."""

    lost: list[int]
    restarted: list[int]


def trials_recover_lost(*, sweep_id: int | None = None) -> Recovered:
    """Recover from dead workers, for one sweep or all: fail running trials whose worker
    has sent no heartbeat for ``TUNING_GRACE_PERIOD`` (in their Optuna study too, and end
    their runs), give each a replacement slot, and re-enqueue the slots of running sweeps
    that have been idle that long (their queued task died with a worker).

    The one recovery path, and idempotent: a worker runs it when it starts and then
    periodically, a worker runs it as it advances a sweep, reads of a sweep (API, page)
    and ``sweep_start`` run it, and so does beat's watchdog when beat runs. Several at
    once are safe: a trial is failed by whichever gets there first."""
    lost = _trials_fail_lost(sweep_id=sweep_id)
    return Recovered(lost=[t.pk for t in lost], restarted=_sweeps_restart_idle(sweep_id=sweep_id))


def _trials_fail_lost(*, sweep_id: int | None) -> list[Trial]:
    cutoff = timezone.now() - timedelta(seconds=conf.grace_period())
    candidates = Trial.objects.filter(state=TrialState.RUNNING, heartbeat_at__lt=cutoff)
    if sweep_id is not None:
        candidates = candidates.filter(sweep_id=sweep_id)
    lost = []
    for trial in candidates.select_related("sweep"):
        error = (
            f"worker lost: no heartbeat from {trial.worker or '?'} (pid {trial.worker_pid}) since "
            f"{trial.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC; the worker was killed or its machine is gone"
        )
        if not trial_finish(trial_id=trial.pk, state=TrialState.FAILED, error=error, note="worker lost"):
            continue
        # A child that outlived its worker (another machine, partitioned) is asked to stop.
        _request_stop([trial.run_id] if trial.run_id else [])
        trial.state, trial.error = TrialState.FAILED, error
        trial_abandon(trial=trial)
        lost.append(trial)
        sweep_settle(sweep_id=trial.sweep_id, slot_continues=True)
    return lost


def trial_abandon(*, trial: Trial) -> None:
    """A trial whose process is gone (its worker died, or the worker failed around it):
    end its run as failed and fail it in the Optuna study, so samplers stop treating it
    as running. Best effort: the study may be gone, or the trial never reached Optuna."""
    if trial.run_id is not None:
        run_end_unfinished(run_id=trial.run_id, state=TrialState.FAILED, exit_code=None, error=trial.error)
    if trial.number is None:
        return
    from optuna.trial import TrialState as OptunaState

    from tuning.storage import open_study

    try:
        study = open_study(trial.sweep.study_name, trial.sweep.direction)
        study.tell(trial.number, state=OptunaState.FAIL)
    except Exception as exc:  # already finished, or the study is gone
        logger.info("could not fail trial %s of sweep %s in Optuna: %s", trial.number, trial.sweep_id, exc)


def run_end_unfinished(*, run_id: int, state: str, exit_code: int | None, error: str) -> None:
    """A trial's child that died without finishing its run (killed, OOM, its worker
    gone) leaves the run running: end it."""
    from experiments.payloads import RunEnd
    from experiments.services import run_finish

    run = Run.objects.filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING:
        return
    failed = state == TrialState.FAILED
    end = RunEnd(
        status="failed" if failed else "finished", exit_code=exit_code, error=error, summary={}, dropped=0
    )
    run_finish(run=run, end=end)


def _sweeps_restart_idle(*, sweep_id: int | None) -> list[int]:
    """Running sweeps with trials left, nothing running and nothing claimed for a grace
    period: their slot tasks were lost (a worker died holding a queued task). Enqueue
    their slots again; if the old tasks do turn up they find no free slot."""
    cutoff = timezone.now() - timedelta(seconds=conf.grace_period())
    idle = Sweep.objects.filter(status=SweepStatus.RUNNING, activity_at__lt=cutoff)
    if sweep_id is not None:
        idle = idle.filter(pk=sweep_id)
    restarted = []
    for sweep in idle:
        with transaction.atomic():
            locked = Sweep.objects.select_for_update().get(pk=sweep.pk)
            counts = Counts.of(sweep.pk)
            if locked.status != SweepStatus.RUNNING or counts.running:
                continue
            remaining = locked.n_trials - counts.total
            if remaining > 0:
                _enqueue(sweep.pk, min(locked.parallelism, remaining))
                Sweep.objects.filter(pk=sweep.pk).update(activity_at=timezone.now())
                restarted.append(sweep.pk)
        if remaining <= 0:
            sweep_settle(sweep_id=sweep.pk, slot_continues=False)
    return restarted


def request_stop_if_sweep_inactive(*, sweep_id: int, run_id: int | None) -> bool:
    """For a supervising worker: True (and the run asked to stop) when the trial's sweep
    was stopped or deleted while the trial ran."""
    status = Sweep.objects.filter(pk=sweep_id).values_list("status", flat=True).first()
    if status == SweepStatus.RUNNING:
        return False
    _request_stop([run_id] if run_id else [])
    return True


def run_request_stop(*, run_id: int) -> None:
    _request_stop([run_id])


def trial_record_intermediate(*, trial_id: int, intermediate: list) -> None:
    Trial.objects.filter(pk=trial_id).update(intermediate=intermediate)
