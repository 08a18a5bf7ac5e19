"""A real sweep over the digits CNN: created with ``tracker.sweep`` over the API, run by a
real Celery worker, each trial a child process logging to a real server."""

import pytest

import tracker
from experiments.models import ApiKey, Metric, Run
from experiments.queries import metric_history
from tests.tuning.support import grant_run_sweeps, logs
from tuning.models import Sweep, SweepStatus, TrialState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOOD_LR, BAD_LR = 0.003, 0.00001
# Lean trials: no layer hooks or checkpoints (keys the example ignores if it lacks them).
FIXED = {"epochs": 6, "width": 16, "watch": None, "keep_checkpoints": 0}


def test_a_sweep_over_the_digits_cnn_prunes_bad_trials_and_finds_the_best(
    server, api_key, owner, sweep_workers, tmp_path
):
    grant_run_sweeps(owner)
    sweep_workers(1)
    # Random search with seed 2 tries a good, then a bad learning rate; the median pruner
    # (after one complete trial) stops the bad one after its first epochs.
    sweep = tracker.sweep(
        project="digits",
        entry_point="examples.train_digits:train",
        space={"lr": {"type": "categorical", "choices": [GOOD_LR, BAD_LR]}},
        objective="val/acc",
        direction="maximize",
        n_trials=2,
        sampler="random",
        seed=2,
        pruner="median",
        pruner_options={"n_startup_trials": 1},
        parallelism=1,
        config=FIXED,
        name="lr-search",
        server=server.url,
        api_key=api_key,
    )
    assert sweep.status == "running"
    sweep.wait(timeout=150, poll=0.5)
    assert sweep.status == "finished", logs(tmp_path)

    trials = sorted(sweep.trials(), key=lambda t: t["number"])
    assert [t["number"] for t in trials] == [0, 1]
    assert [t["params"]["lr"] for t in trials] == [GOOD_LR, BAD_LR]
    assert trials[0]["state"] == TrialState.COMPLETE
    complete = [t for t in trials if t["state"] == TrialState.COMPLETE]
    bad = [t for t in trials if t["params"]["lr"] == BAD_LR]
    assert all(t["state"] == TrialState.PRUNED for t in bad), trials

    for trial in trials:
        run = Run.objects.get(pk=trial["run_id"])
        # Each trial is a normal run of the project, grouped under the sweep.
        assert (run.project.name, run.group, run.status) == ("digits", "lr-search", "finished")
        assert run.config == {**FIXED, "lr": trial["params"]["lr"]}
        val_acc = metric_history(Metric.objects.get(run=run, key="val/acc"))
        # The pruner saw exactly the objective the run logged, epoch by epoch.
        assert [v for _, v in trial["intermediate"]] == val_acc.value
        assert trial["peak_rss_bytes"] > 50 * 2**20
        if trial["state"] == TrialState.COMPLETE:
            assert trial["value"] == val_acc.value[-1]
            assert len(val_acc.step) == 6
    # Pruned trials stopped early: fewer epochs logged than any complete trial.
    for trial in bad:
        assert len(trial["intermediate"]) < min(len(t["intermediate"]) for t in complete), trials
        assert trial["value"] == trial["intermediate"][-1][1]

    best = max(complete, key=lambda t: t["value"])
    assert sweep.best == {
        "number": best["number"],
        "params": best["params"],
        "value": best["value"],
        "run_id": best["run_id"],
    }
    stored = Metric.objects.get(run_id=sweep.best["run_id"], key="val/acc")
    assert stored.last_value == sweep.best["value"]
    # Per-trial keys are revoked once their trial ends.
    assert not ApiKey.objects.filter(name__startswith="sweep ", revoked_at__isnull=True).exists()
    assert Sweep.objects.get(pk=sweep.id).status == SweepStatus.FINISHED
