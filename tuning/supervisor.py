"""One trial, as a worker runs it: ask Optuna, start the child, watch it, tell Optuna.

The worker never imports the training code: the trial runs in a fresh child process
(``tuning.runner``), and the worker supervises it. Every poll it reads the objective the
child has logged (``Metric`` rows the ingest path keeps current), reports new values to
the pruner and, when the pruner says so, sets the run's ``stop_requested`` so the
training's ``tracker.should_stop()`` turns true. It also keeps the trial's heartbeat, so a
worker that dies is noticed, and notices a stopped or deleted sweep.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from optuna.trial import TrialState as OptunaState
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from experiments.models import Metric, Run
from experiments.queries import metric_history
from tuning import conf, services
from tuning.entrypoints import refusal
from tuning.models import Sweep, Trial, TrialState
from tuning.runner import returned_marker
from tuning.samplers import build_pruner, build_sampler
from tuning.space import parse_space, sample_config
from tuning.storage import open_study

logger = logging.getLogger(__name__)


@dataclass
class Watch:
    """What the supervisor has seen of one trial so far."""

    intermediate: list[list[Any]] = field(default_factory=list)  # [run step, value or None]
    last_step: int | None = None
    pruned_at: int | None = None
    pruned_wall: float | None = None  # time.time() of the prune request
    kept_last: bool = False  # the pruner's verdict came at the last report: ignored
    stopped: bool = False  # the sweep was stopped or deleted
    lost: bool = False  # someone else declared the trial lost
    timed_out: bool = False
    stop_deadline: float | None = None
    deadline: float = math.inf  # TUNING_TRIAL_TIMEOUT
    next_beat: float = 0.0  # heartbeat and sweep-status check
    next_check: float = 0.0  # look for other workers' lost trials


def trial_dir(trial_id: int) -> Path:
    root = Path(settings.VAR_DIR) / "tuning"
    path = root / f"trial-{trial_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _listed(name: str, patterns) -> bool:
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns)


def _child_env(raw_key: str, directory: Path) -> dict[str, str]:
    """The trial process's environment, built from scratch: what a Python process and a
    GPU training need (``conf.TRIAL_ENV_BASE``), the names the operator lists
    (``TUNING_TRIAL_ENV_PASSTHROUGH``), the trial's own key and the server's address.
    Never the worker's whole environment: it holds the server's secrets, and the trial
    runs code that a sweep's creator chose."""
    wanted = (*conf.TRIAL_ENV_BASE, *conf.trial_env_passthrough())
    env = {
        name: value
        for name, value in os.environ.items()
        if _listed(name, wanted) and not _listed(name, conf.NEVER_PASSED)
    }
    env.setdefault("PATH", os.defpath)
    root = str(Path(settings.BASE_DIR))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.getcwd(), env.get("PYTHONPATH", "")) if p)
    env.update(
        TRACKER_SERVER=conf.server_url(),
        TRACKER_API_KEY=raw_key,
        TRACKER_DIR=str(directory / "spool"),
        TRACKER_MODE="online",
        PYTHONUNBUFFERED="1",
        **conf.child_sdk_env(),
    )
    return env


def _start_child(trial: Trial, raw_key: str, config: dict, directory: Path) -> subprocess.Popen:
    spec = {
        "entry_point": trial.sweep.entry_point,
        "run_id": trial.run_id,
        "project": trial.sweep.project.name,
        "config": config,
        "parent_pid": os.getpid(),
        "result": str(directory / "result.json"),
        # The child checks again right before it imports the entry point.
        "allowed_modules": conf.entry_point_modules(),
    }
    (directory / "spec.json").write_text(json.dumps(spec))
    log = open(directory / "output.log", "wb")  # noqa: SIM115 (the child owns it)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "tuning.runner", str(directory / "spec.json")],
            env=_child_env(raw_key, directory),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        log.close()


def _reap(proc: subprocess.Popen, block: bool = False) -> tuple[int, int] | None:
    """(exit code, peak RSS in bytes) once the child has exited. ``wait4`` gives the
    child's own peak RSS, which the child cannot report if it is killed."""
    pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return proc.returncode, usage.ru_maxrss * scale


def _new_objective_values(run_id: int, key: str, watch: Watch) -> list[tuple[int, float]]:
    """Points of the objective logged since the last poll (rank 0, newest value per step)."""
    metric = Metric.objects.filter(run_id=run_id, key=key).first()
    if metric is None or metric.last_step is None or metric.last_step == watch.last_step:
        return []
    series = metric_history(metric, rank=0)
    after = -1 if watch.last_step is None else watch.last_step
    fresh = [(s, v) for s, v in zip(series.step, series.value, strict=True) if s > after]
    if fresh:
        watch.last_step = fresh[-1][0]
    return fresh


def _report(otrial: optuna.Trial, fresh: list[tuple[int, float]], watch: Watch, prune: bool) -> bool:
    """Report new values as steps 0, 1, 2... (the n-th value logged is step n, so trials
    with different batch sizes still compare epoch by epoch); True to prune."""
    for step, value in fresh:
        otrial.report(value, len(watch.intermediate))
        watch.intermediate.append([step, value if math.isfinite(value) else None])
    return prune and bool(fresh) and otrial.should_prune()


# Errors a supervisor rides out (a database restart, a lock timeout): the trial's own
# heartbeat grace period bounds how long.
_TRANSIENT = (DatabaseError, optuna.exceptions.StorageInternalError, SQLAlchemyOperationalError)


def _step(
    trial: Trial, otrial: optuna.Trial, proc: subprocess.Popen, watch: Watch, prune: bool
) -> tuple | None:
    """One poll: (exit code, peak RSS) once the child has ended, else None."""
    sweep = trial.sweep
    exited = _reap(proc)
    fresh = _new_objective_values(trial.run_id, sweep.objective, watch)
    if fresh:
        should_prune = _report(otrial, fresh, watch, prune)
        services.trial_record_intermediate(trial_id=trial.pk, intermediate=watch.intermediate)
        if should_prune and watch.pruned_at is None and _returned_at(trial) is not None:
            # The entry point has returned: this was the trial's last report, and its work
            # is done. Pruning now would throw a complete result away and save nothing.
            watch.kept_last = True
            logger.info("trial %s of sweep %s: not pruned at its last report", otrial.number, sweep.pk)
        elif should_prune and watch.pruned_at is None and exited is None:
            watch.pruned_at = len(watch.intermediate) - 1
            watch.pruned_wall = time.time()
            services.run_request_stop(run_id=trial.run_id)
            watch.stop_deadline = time.monotonic() + conf.stop_timeout()
            logger.info("trial %s of sweep %s pruned at step %s", otrial.number, sweep.pk, watch.pruned_at)
    if exited is not None:
        return exited
    now = time.monotonic()
    if now >= watch.next_beat:
        watch.next_beat = now + conf.heartbeat_interval()
        if not services.trial_heartbeat(trial_id=trial.pk):
            watch.lost = True
            proc.kill()
            return _reap(proc, block=True)
        if not watch.stopped and services.request_stop_if_sweep_inactive(
            sweep_id=sweep.pk, run_id=trial.run_id
        ):
            watch.stopped = True
            watch.stop_deadline = watch.stop_deadline or now + conf.stop_timeout()
    if now >= watch.next_check:
        # Other workers' lost trials are noticed here too, not only by the beat task.
        watch.next_check = now + max(1.0, conf.grace_period() / 2)
        services.trials_recover_lost(sweep_id=sweep.pk)
    if (watch.stop_deadline is not None and now > watch.stop_deadline) or now > watch.deadline:
        watch.timed_out = now > watch.deadline
        proc.kill()
        return _reap(proc, block=True)
    return None


def _supervise(
    trial: Trial, otrial: optuna.Trial, proc: subprocess.Popen, prune: bool
) -> tuple[Watch, tuple]:
    watch = Watch(deadline=time.monotonic() + conf.trial_timeout())
    services.trial_heartbeat(trial_id=trial.pk, child_pid=proc.pid)
    failing_since = None
    while True:
        try:
            exited = _step(trial, otrial, proc, watch, prune)
            failing_since = None
        except _TRANSIENT as exc:
            close_old_connections()
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > conf.grace_period():
                raise
            logger.warning("sweep %s trial %s: %s; retrying", trial.sweep_id, otrial.number, exc)
            exited = None
        if exited is not None:
            return watch, exited
        time.sleep(conf.poll_interval())


def _read_outcome(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "result.json").read_text())
    except (OSError, ValueError):
        return {}


def _output_tail(directory: Path, limit: int = 4000) -> str:
    try:
        data = (directory / "output.log").read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _returned_at(trial: Trial) -> float | None:
    """When the trial's entry point returned (the runner's marker), or None if not yet."""
    try:
        return float(returned_marker(trial_dir(trial.pk) / "result.json").read_text())
    except (OSError, ValueError):
        return None


def _decide(
    watch: Watch, code: int, outcome: dict, directory: Path, returned_at: float | None = None
) -> tuple[str, float | None, str, str]:
    """(state, value, error, note) of an ended trial. A prune requested after the entry
    point had returned (the last report, seen late) does not count: the trial is complete."""
    if (
        watch.pruned_at is not None
        and returned_at is not None
        and watch.pruned_wall is not None
        and returned_at <= watch.pruned_wall
    ):
        watch.pruned_at, watch.kept_last = None, True
    last = next((v for _, v in reversed(watch.intermediate) if v is not None), None)
    if watch.timed_out:
        return (
            TrialState.FAILED,
            None,
            f"timed out after {conf.trial_timeout():.0f} s (TUNING_TRIAL_TIMEOUT)",
            "",
        )
    if outcome.get("error"):
        return TrialState.FAILED, None, outcome["error"], ""
    if watch.pruned_at is not None:
        return TrialState.PRUNED, last, "", f"pruned after {watch.pruned_at + 1} report(s)"
    if watch.stopped:
        return TrialState.PRUNED, last, "", "stopped with the sweep"
    if code != 0 or not outcome:
        tail = _output_tail(directory)
        return TrialState.FAILED, None, f"trial process {_exit_reason(code)}\n\n{tail}".strip(), ""
    value = outcome.get("value")
    value = last if value is None else value
    if value is None or not math.isfinite(value):
        return TrialState.FAILED, None, "the objective was never logged and the entry point returned None", ""
    return TrialState.COMPLETE, float(value), "", ""


def _tell(study: optuna.Study, otrial: optuna.Trial, state: str, value: float | None) -> None:
    try:
        if state == TrialState.COMPLETE:
            study.tell(otrial, value)
        elif state == TrialState.PRUNED:
            study.tell(otrial, state=OptunaState.PRUNED)
        else:
            study.tell(otrial, state=OptunaState.FAIL)
    except RuntimeError as exc:
        # The grid sampler calls study.stop() once its grid is done, which only works
        # inside study.optimize(); the outcome is stored before that (n_trials is capped
        # to the grid's size, so no slot asks for more).
        if "Study.stop" not in str(exc):
            raise


def run_trial(trial: Trial, index: int) -> str:
    """Run one claimed trial to its end; returns its final state."""
    began = time.monotonic()
    sweep: Sweep = trial.sweep
    distributions = parse_space(sweep.space)
    # A fresh sampler per trial, in whatever worker; its seed is derived from the index.
    sampler = build_sampler(sweep.sampler, distributions, sweep.seed, sweep.sampler_options, index)
    pruner = build_pruner(sweep.pruner, sweep.pruner_options)
    study = open_study(sweep.study_name, sweep.direction, sampler, pruner)
    otrial = study.ask(distributions)
    params = dict(otrial.params)
    config = sample_config(sweep.config, params)
    raw_key = services.trial_attach(trial=trial, number=otrial.number, params=params, config=config)
    directory = trial_dir(trial.pk)
    proc = _start_child(trial, raw_key, config, directory)
    try:
        watch, (code, peak_rss) = _supervise(trial, otrial, proc, prune=sweep.pruner != "none")
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            _reap(proc, block=True)
        raise
    outcome = _read_outcome(directory)
    # Asked to stop by someone else (the sweep's Stop, the run's Stop button) before this
    # loop noticed: the training ended early, so its value is not a complete result.
    asked = Run.objects.filter(pk=trial.run_id, stop_requested=True).exists()
    watch.stopped = watch.stopped or (watch.pruned_at is None and (outcome.get("stopped") or asked))
    state, value, error, note = _decide(watch, code, outcome, directory, _returned_at(trial))
    if watch.lost:
        state, error = TrialState.FAILED, "declared lost while running (heartbeat too late)"
    else:
        _tell(study, otrial, state, value)
    services.run_end_unfinished(run_id=trial.run_id, state=state, exit_code=code, error=error)
    services.trial_finish(
        trial_id=trial.pk,
        state=state,
        value=value,
        error=error,
        note=note,
        exit_code=code,
        intermediate=watch.intermediate,
        peak_rss_bytes=peak_rss,
        peak_gpu_bytes=outcome.get("peak_gpu_bytes"),
        peak_gpu_reserved_bytes=outcome.get("peak_gpu_reserved_bytes"),
    )
    if not outcome.get("pending_batches"):
        shutil.rmtree(directory, ignore_errors=True)
    total = time.monotonic() - began
    inside = outcome.get("entry_seconds")
    logger.info(
        "sweep %s trial %s: %s value=%s, %.2f s in all, %s in the entry point",
        sweep.pk,
        otrial.number,
        state,
        value,
        total,
        "?" if inside is None else f"{inside:.2f} s",
    )
    return state


def _refuse_entry_point(trial: Trial) -> bool:
    """The sweep's entry point checked against this worker's allowlist right before it
    would run: a sweep stored before the operator narrowed ``TUNING_ENTRY_POINT_MODULES``
    (or a row edited in the database) fails here, with its trial saying why."""
    refused = refusal(trial.sweep.entry_point, conf.entry_point_modules())
    if refused is None:
        return False
    error = f"refused to run {trial.sweep.entry_point!r} on this worker: {refused}"
    logger.warning("sweep %s: %s", trial.sweep_id, error)
    services.trial_finish(trial_id=trial.pk, state=TrialState.FAILED, error=error, note="entry point refused")
    services.sweep_fail(sweep_id=trial.sweep_id, error=error)
    return True


def run_slot(sweep_id: int) -> str | None:
    """One turn of a slot: claim a trial of the sweep and run it, then hand the slot on.
    Returns the trial's state, or None when there was no free slot."""
    services.trials_recover_lost(sweep_id=sweep_id)
    claimed = services.trial_claim(sweep_id=sweep_id, worker=socket.gethostname(), pid=os.getpid())
    if claimed is None:
        services.sweep_settle(sweep_id=sweep_id, slot_continues=False)
        return None
    trial, index = claimed
    trial = Trial.objects.select_related("sweep__project__owner").get(pk=trial.pk)
    try:
        if _refuse_entry_point(trial):
            return TrialState.FAILED
        return run_trial(trial, index)
    except Exception:
        error = traceback.format_exc()
        logger.exception("trial %s of sweep %s could not run", trial.pk, sweep_id)
        services.trial_finish(
            trial_id=trial.pk, state=TrialState.FAILED, error=f"the worker failed:\n{error}"
        )
        trial.error = error
        services.trial_abandon(trial=trial)  # ends its run and fails it in Optuna, as far as they got
        if Trial.objects.filter(sweep_id=sweep_id).exclude(state=TrialState.FAILED).count() == 0 and (
            Trial.objects.filter(sweep_id=sweep_id, error__startswith="the worker failed").count() >= 3
        ):
            # Three trials in a row that could not even start: the setup is broken.
            services.sweep_fail(sweep_id=sweep_id, error=error)
        return TrialState.FAILED
    finally:
        # The trial has ended: recover the sweep's lost trials before handing the slot on.
        services.trials_recover_lost(sweep_id=sweep_id)
        services.sweep_settle(sweep_id=sweep_id, slot_continues=True)
