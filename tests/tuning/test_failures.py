"""What goes wrong inside a trial stays in that trial: exceptions, silent entry points,
crashing processes. And a trial's memory leaves with its process."""

from pathlib import Path

import pytest

from experiments.models import Run, RunStatus
from tests.tuning.support import alive, logs, wait_for
from tuning.models import SweepStatus, TrialState
from tuning.services import sweep_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def make_sweep(owner, **fields):
    base = {
        "name": "s",
        "objective": "score",
        "direction": "maximize",
        "sampler": "grid",
        "pruner": "none",
        "n_trials": 1,
        "parallelism": 1,
        "config": {},
    }
    return sweep_create(user=owner, project="p", fields={**base, **fields})


def ended(sweep):
    sweep.refresh_from_db()
    return sweep.status in (SweepStatus.FINISHED, SweepStatus.STOPPED, SweepStatus.FAILED)


def test_failing_trials_keep_their_reason_and_the_sweep_goes_on(owner, sweep_workers, tmp_path):
    sweep_workers(1)
    sweep = make_sweep(
        owner,
        entry_point="tests.tuning.test_entrypoints:varied",
        space={"mode": {"type": "categorical", "choices": ["raise", "silent", "exit", "ok"]}},
        n_trials=4,
        seed=0,
    )
    wait_for(lambda: ended(sweep), 60, "the sweep to end", tmp_path)
    assert sweep.status == SweepStatus.FINISHED, logs(tmp_path)
    by_mode = {t.params["mode"]: t for t in sweep.trials.all()}
    assert sorted(by_mode) == ["exit", "ok", "raise", "silent"]

    raised = by_mode["raise"]
    assert raised.state == TrialState.FAILED
    assert raised.error.startswith("Traceback (most recent call last):")
    assert "ValueError: no good: mode=raise" in raised.error
    assert 'tuning/test_entrypoints.py", line' in raised.error
    run = Run.objects.get(pk=raised.run_id)
    assert run.status == RunStatus.FAILED and "ValueError: no good" in run.error

    assert by_mode["silent"].state == TrialState.FAILED
    assert "objective was never logged" in by_mode["silent"].error

    died = by_mode["exit"]
    assert (died.state, died.exit_code) == (TrialState.FAILED, 3)
    assert died.error.startswith("trial process exited with code 3")
    # The child could not end its run; the worker did.
    assert Run.objects.get(pk=died.run_id).status == RunStatus.FAILED

    ok = by_mode["ok"]
    assert (ok.state, ok.value, ok.error) == (TrialState.COMPLETE, 1.0, "")


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_trials_memory_is_released_with_its_process(owner, sweep_workers, tmp_path):
    (worker,) = sweep_workers(1)
    sweep = make_sweep(
        owner,
        entry_point="tests.tuning.test_entrypoints:hog",
        space={"mb": {"type": "categorical", "choices": [300, 301]}},
        n_trials=2,
    )
    wait_for(lambda: ended(sweep), 60, "the sweep to end", tmp_path)
    trials = list(sweep.trials.order_by("number"))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, logs(tmp_path)
    for trial in trials:
        # The child's own peak, measured by the kernel: the 300 MiB it held.
        assert trial.peak_rss_bytes >= 300 * 2**20
        assert trial.peak_gpu_bytes is None  # no CUDA here
        assert not alive(trial.child_pid)
    # The worker itself never held the trials' memory.
    assert _rss(worker.proc.pid) < 250 * 2**20


def test_a_worker_that_cannot_reach_the_tracker_server_fails_its_trials_saying_so(
    owner, sweep_workers, tmp_path
):
    sweep_workers(1, TRACKER_PUBLIC_URL="http://127.0.0.1:9")  # nothing listens on port 9
    sweep = make_sweep(
        owner,
        entry_point="tests.tuning.test_entrypoints:varied",
        space={"mode": {"type": "categorical", "choices": ["ok"]}},
    )
    wait_for(lambda: ended(sweep), 60, "the sweep to end", tmp_path)
    trial = sweep.trials.get()
    assert trial.state == TrialState.FAILED
    assert "cannot reach the tracker server at http://127.0.0.1:9" in trial.error
    assert "TRACKER_PUBLIC_URL" in trial.error
    # Its only trial failed: the sweep is failed, not finished, and says why (issue #12).
    assert sweep.status == SweepStatus.FAILED, logs(tmp_path)
    assert sweep.error.startswith("the trial failed: "), sweep.error
    assert "cannot reach the tracker server at http://127.0.0.1:9" in sweep.error
