"""A sweep whose trials are Hugging Face trainings: a real Celery worker runs each trial
in its own process, ``TrackerCallback`` logs the objective, the median pruner stops the bad
trial through ``tracker.should_stop()`` -> ``control.should_training_stop``."""

import pytest

import tracker
from experiments.models import Metric, Run
from experiments.queries import metric_history
from tests.tuning.conftest import sweep_workers_fixture  # noqa: F401  (the sweep_workers fixture)
from tests.tuning.support import grant_run_sweeps, logs
from tuning.models import TrialState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

pytest.importorskip("transformers")

GOOD_LR, BAD_LR = 0.005, 0.000001
STEPS = 16


@pytest.fixture(autouse=True)
def _allow_the_entry_point(monkeypatch):
    # Before the server and workers start (autouse fixtures come first): they may run it.
    monkeypatch.setenv("TUNING_ENTRY_POINT_MODULES", "tests.integrations.hf_training")


@pytest.mark.timeout(600)  # two trial processes each import torch and transformers: slow on a busy machine
def test_a_sweep_with_a_pruner_stops_a_bad_hugging_face_trial_early(
    server, api_key, owner, sweep_workers, tmp_path
):
    grant_run_sweeps(owner)
    # A trial imports torch and transformers: on a loaded machine that is slow enough for
    # the default grace period to take the trial for lost.
    sweep_workers(1, TUNING_GRACE_PERIOD="60")
    # Random search with seed 2 tries the good, then the bad learning rate (as in
    # tests/tuning/test_sweep.py); the median pruner, after one complete trial, stops the bad one.
    sweep = tracker.sweep(
        project="hf-sweep",
        entry_point="tests.integrations.hf_training:train",
        space={"lr": {"type": "categorical", "choices": [GOOD_LR, BAD_LR]}},
        objective="eval/loss",
        direction="minimize",
        n_trials=2,
        sampler="random",
        seed=2,
        pruner="median",
        pruner_options={"n_startup_trials": 1},
        parallelism=1,
        config={"steps": STEPS, "delay": 0.3},
        server=server.url,
        api_key=api_key,
    )
    try:
        sweep.wait(timeout=500, poll=0.5)
    except TimeoutError as exc:
        pytest.fail(f"{exc}; trials: {sweep.trials()}\n{logs(tmp_path)}")
    assert sweep.status == "finished", logs(tmp_path)

    trials = sorted(sweep.trials(), key=lambda t: t["number"])
    assert [t["params"]["lr"] for t in trials] == [GOOD_LR, BAD_LR]
    assert [t["state"] for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED], logs(tmp_path)
    good, bad = (Run.objects.get(pk=t["run_id"]) for t in trials)
    # The complete trial trained every step; the pruned one was stopped by its Trainer early.
    assert good.summary["trained_steps"] == STEPS
    assert bad.summary["trained_steps"] < STEPS and bad.stop_requested
    assert (good.status, bad.status) == ("finished", "finished")
    # The pruner saw exactly the objective TrackerCallback logged, evaluation by evaluation.
    for trial, run in zip(trials, (good, bad)):
        history = metric_history(Metric.objects.get(run=run, key="eval/loss"))
        assert [[s, v] for s, v in zip(history.step, history.value)] == trial["intermediate"]
    assert len(trials[1]["intermediate"]) < len(trials[0]["intermediate"]) == STEPS // 4
