"""Several workers on one sweep: they share its study, and one dying does not hang it."""

import pytest
from django.db import connection

from tests.tuning.support import alive, kill, logs, wait_for
from tuning.models import SweepStatus, Trial, TrialState
from tuning.services import sweep_create
from tuning.storage import open_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def make_sweep(owner, **fields):
    base = {
        "name": "shared",
        "entry_point": "tests.tuning.test_entrypoints:steady",
        "objective": "score",
        "direction": "maximize",
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "sampler": "random",
        "pruner": "none",
        "parallelism": 2,
    }
    return sweep_create(user=owner, project="p", fields={**base, **fields})


def ended(sweep) -> bool:
    sweep.refresh_from_db()
    return sweep.status in (SweepStatus.FINISHED, SweepStatus.STOPPED, SweepStatus.FAILED)


def max_overlap(trials: list[Trial]) -> int:
    events = sorted([(t.started_at, 1) for t in trials] + [(t.finished_at, -1) for t in trials])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://...): SQLite serialises every writer anyway",
)
def test_two_workers_on_postgresql_share_one_study_without_duplicate_trial_numbers(
    owner, sweep_workers, tmp_path
):
    first, second = sweep_workers(2)
    sweep = make_sweep(owner, n_trials=8, seed=1, config={"epochs": 3, "delay": 0.2})
    wait_for(lambda: ended(sweep), 90, "the sweep to end", tmp_path)
    assert sweep.status == SweepStatus.FINISHED, logs(tmp_path)

    trials = list(sweep.trials.order_by("number"))
    assert [t.number for t in trials] == list(range(8))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert {t.worker_pid for t in trials} == {first.proc.pid, second.proc.pid}
    assert max_overlap(trials) == 2  # parallelism reached and never exceeded
    study = open_study(sweep.study_name, sweep.direction)
    stored = {t.number: (t.params, t.value) for t in study.trials}
    assert stored == {t.number: (t.params, t.value) for t in trials}


def test_a_worker_killed_mid_trial_fails_its_trial_and_the_sweep_still_reaches_n_trials(
    owner, sweep_workers, tmp_path
):
    victim, survivor = sweep_workers(2, beat=True)
    sweep = make_sweep(owner, n_trials=4, seed=3, config={"epochs": 15, "delay": 0.2})

    def victim_trial():
        trials = Trial.objects.filter(sweep=sweep, worker_pid=victim.proc.pid, child_pid__isnull=False)
        return trials.exclude(intermediate=[]).first()

    trial = wait_for(victim_trial, 60, "a trial with logged values on the first worker", tmp_path)
    kill(victim.proc.pid)
    victim.proc.wait(5)

    wait_for(lambda: ended(sweep), 90, "the sweep to end after the kill", tmp_path)
    assert sweep.status == SweepStatus.FINISHED, logs(tmp_path)
    trial.refresh_from_db()
    assert trial.state == TrialState.FAILED
    assert trial.error.startswith(f"worker lost: no heartbeat from {trial.worker} (pid {victim.proc.pid})")
    # The kernel took the trial's process down with its worker; its run says what happened.
    wait_for(lambda: not alive(trial.child_pid), 5, "the orphaned trial process to die")
    assert (trial.run.status, trial.run.stop_requested) == ("failed", True)
    assert trial.run.error.startswith("worker lost")

    trials = list(sweep.trials.order_by("number"))
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3, [
        (t.number, t.state, t.error[:300]) for t in trials
    ]
    assert sum(t.worker_pid == survivor.proc.pid for t in trials if t.state == TrialState.COMPLETE) >= 2
    # Optuna agrees: the lost trial is failed in the study too, so samplers ignore it.
    # (The worker that noticed tells Optuna right after settling the sweep: allow it a moment.)
    wait_for(
        lambda: open_study(sweep.study_name, sweep.direction).trials[trial.number].state.name == "FAIL",
        15,
        "Optuna to record the lost trial as failed",
        tmp_path,
    )
