"""No pruning at a trial's last report: once the entry point has returned, the pruner's
verdict on the report that arrives last (the final points are sent by ``finish()``, after
the training is done) is ignored, and the trial is complete with its value.

Real parts throughout: the supervisor's poll (``_step``) reads the objective the run
stored through the ingest service, reports it to a real Optuna study with a median
pruner, and watches a real child process; the runner's marker is the file the trial
process writes when its entry point returns."""

import math
import shutil
import subprocess
import sys
import time

import optuna
import pytest

from experiments.models import Run
from tests import factories
from tests.diagnostics.support import ingest
from tuning import supervisor
from tuning.models import Trial, TrialState
from tuning.runner import returned_marker

pytestmark = pytest.mark.django_db

SCORES = [0.5, 0.6, 0.7, 0.1]  # the last report is far below the first trial's 0.8


@pytest.fixture
def trial(owner):
    project = factories.project(owner, "tune")
    sweep = factories.sweep(
        project, entry_point="tests.tuning.test_entrypoints:steady", objective="score", direction="maximize"
    )
    run = factories.run(owner, "trial-1", project="tune")
    trial = Trial.objects.create(sweep=sweep, number=1, run=run)
    # Ids restart with each test's database: a directory left by an earlier test is not this trial's.
    shutil.rmtree(supervisor.trial_dir(trial.pk))
    return trial


@pytest.fixture
def study():
    """A study whose first trial scored 0.8 at every report: the median to beat."""
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    )
    first = study.ask()
    for step in range(len(SCORES)):
        first.report(0.8, step)
    study.tell(first, 0.8)
    return study


@pytest.fixture
def child():
    """A live child process, as a trial's is while ``finish()`` sends its last points."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def poll(trial, otrial, child) -> supervisor.Watch:
    """The supervisor's polls until it has read every stored report."""
    watch = supervisor.Watch(next_beat=math.inf, next_check=math.inf)
    assert supervisor._step(trial, otrial, child, watch, prune=True) is None
    return watch


def test_a_verdict_at_the_last_report_after_the_entry_point_returned_does_not_prune(trial, study, child):
    ingest(trial.run, {"score": (range(len(SCORES)), SCORES)})
    returned_marker(supervisor.trial_dir(trial.pk) / "result.json").write_text(repr(time.time()))
    otrial = study.ask()

    watch = poll(trial, otrial, child)

    assert otrial.should_prune()  # the pruner would have pruned it...
    assert watch.pruned_at is None and watch.kept_last  # ...but that was its last report
    assert not Run.objects.get(pk=trial.run_id).stop_requested
    state, value, error, note = supervisor._decide(watch, 0, {"value": 0.1}, supervisor.trial_dir(trial.pk))
    assert (state, value, error, note) == (TrialState.COMPLETE, 0.1, "", "")


def test_the_same_verdict_while_the_training_runs_prunes(trial, study, child):
    ingest(trial.run, {"score": (range(len(SCORES)), SCORES)})
    otrial = study.ask()

    watch = poll(trial, otrial, child)

    assert watch.pruned_at == len(SCORES) - 1
    assert Run.objects.get(pk=trial.run_id).stop_requested  # the training is asked to stop
    state, _, _, note = supervisor._decide(watch, 0, {"value": 0.1}, supervisor.trial_dir(trial.pk))
    assert state == TrialState.PRUNED and note == "pruned after 4 report(s)"


def test_a_prune_requested_after_the_entry_point_had_returned_is_undone_at_the_end(trial, study, child):
    """The marker written between the poll's check and its stop request: the trial's end
    compares the times and keeps the complete result."""
    ingest(trial.run, {"score": (range(len(SCORES)), SCORES)})
    otrial = study.ask()
    watch = poll(trial, otrial, child)
    assert watch.pruned_at is not None
    returned_at = watch.pruned_wall - 0.01  # the entry point returned just before the request

    state, value, _, _ = supervisor._decide(
        watch, 0, {"value": 0.1}, supervisor.trial_dir(trial.pk), returned_at
    )
    assert (state, value) == (TrialState.COMPLETE, 0.1)
    later = supervisor.Watch(pruned_at=3, pruned_wall=returned_at - 5)  # returned after the request
    assert supervisor._decide(later, 0, {"value": 0.1}, supervisor.trial_dir(trial.pk), returned_at)[0] == (
        TrialState.PRUNED
    )
