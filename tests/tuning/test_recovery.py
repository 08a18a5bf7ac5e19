"""A worker SIGKILLed mid-trial does not stall its sweep, with no beat running (issue #10,
finding 7): the trial is failed ("worker lost") and replaced when another worker starts
or is running, or when anyone reads the sweep."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Project, Run, RunStatus
from tests.helpers import auth
from tests.tuning.support import FAST, alive, kill, logs, wait_for
from tuning import tasks
from tuning.models import Sweep, SweepStatus, Trial, TrialState
from tuning.services import sweep_create
from tuning.storage import open_study

GRACE = float(FAST["TUNING_GRACE_PERIOD"])


def lost_trial_setup(owner) -> tuple[Sweep, Trial, Trial]:
    """A running sweep with one trial whose worker fell silent a minute ago and one whose
    worker is alive."""
    project = Project.objects.create(owner=owner, name="p")
    sweep = Sweep.objects.create(
        project=project,
        name="s",
        entry_point="examples.train_digits:train",
        objective="val/acc",
        space={"lr": {"type": "float", "low": 0.001, "high": 0.1}},
        status=SweepStatus.RUNNING,
        n_trials=4,
        parallelism=2,
        activity_at=timezone.now(),
    )
    silent = timezone.now() - timedelta(seconds=60)
    run = Run.objects.create(project=project, name="s-0", group="s")
    lost = Trial.objects.create(
        sweep=sweep, run=run, worker="gpu-7", worker_pid=4242, started_at=silent, heartbeat_at=silent
    )
    busy = Trial.objects.create(sweep=sweep, worker="gpu-8", worker_pid=99)
    return sweep, lost, busy


@pytest.mark.django_db
@pytest.mark.parametrize("read", ["api", "api-trials", "page", "page-data"])
def test_reading_a_sweep_fails_and_replaces_its_lost_trials(
    client, owner, api_key, settings, monkeypatch, django_capture_on_commit_callbacks, read
):
    settings.TUNING_GRACE_PERIOD = GRACE
    slots = []
    monkeypatch.setattr(tasks.trial_run, "delay", slots.append)
    sweep, lost, busy = lost_trial_setup(owner)
    client.force_login(owner)
    path = {
        "api": f"/api/v1/sweeps/{sweep.pk}",
        "api-trials": f"/api/v1/sweeps/{sweep.pk}/trials",
        "page": f"/sweeps/{sweep.pk}/",
        "page-data": f"/sweeps/{sweep.pk}/data.json",
    }[read]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(path, **auth(api_key))
    assert response.status_code == 200

    lost.refresh_from_db()
    assert (lost.state, lost.note) == (TrialState.FAILED, "worker lost")
    assert lost.error.startswith("worker lost: no heartbeat from gpu-7 (pid 4242) since ")
    run = Run.objects.get(pk=lost.run_id)
    assert (run.status, run.stop_requested) == (RunStatus.FAILED, True)
    assert run.error.startswith("worker lost")
    busy.refresh_from_db()
    assert busy.state == TrialState.RUNNING  # its worker beats: left alone
    assert slots == [sweep.pk]  # one replacement slot for the lost trial
    if read == "api":
        assert response.json()["trials"] == {"running": 1, "complete": 0, "pruned": 0, "failed": 1}
    if read == "page-data":
        assert response.json()["progress"]["failed"] == 1


@pytest.mark.django_db
def test_a_read_fails_a_silent_trial_only_once_its_grace_period_is_over(
    client, owner, api_key, settings, monkeypatch, django_capture_on_commit_callbacks
):
    slots = []
    monkeypatch.setattr(tasks.trial_run, "delay", slots.append)
    sweep, lost, _ = lost_trial_setup(owner)  # silent for 60 s
    settings.TUNING_GRACE_PERIOD = 120  # its worker may just be slow
    assert client.get(f"/api/v1/sweeps/{sweep.pk}", **auth(api_key)).json()["trials"]["running"] == 2
    lost.refresh_from_db()
    assert lost.state == TrialState.RUNNING and not slots
    settings.TUNING_GRACE_PERIOD = 30
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/api/v1/sweeps/{sweep.pk}", **auth(api_key))
    assert response.json()["trials"]["running"] == 1
    lost.refresh_from_db()
    assert lost.state == TrialState.FAILED and slots == [sweep.pk]


def make_sweep(owner):
    return sweep_create(
        user=owner,
        project="p",
        fields={
            "name": "lost",
            "entry_point": "tests.tuning.test_entrypoints:steady",
            "objective": "score",
            "direction": "maximize",
            "space": {"x": {"type": "float", "low": 0.5, "high": 1.0}},
            "sampler": "random",
            "pruner": "none",
            "seed": 5,
            "n_trials": 2,
            "parallelism": 1,
            "config": {"epochs": 25, "delay": 0.2},
        },
    )


def kill_mid_trial(sweep, worker, tmp_path) -> Trial:
    def reporting():
        trials = Trial.objects.filter(sweep=sweep, worker_pid=worker.proc.pid, child_pid__isnull=False)
        return trials.exclude(intermediate=[]).first()

    trial = wait_for(reporting, 60, "a trial with logged values", tmp_path)
    kill(worker.proc.pid)
    worker.proc.wait(5)
    return trial


def assert_recovered(sweep, trial, victim_pid: int, survivor_pid: int, tmp_path) -> None:
    def ended():
        sweep.refresh_from_db()
        return sweep.status != SweepStatus.RUNNING

    wait_for(ended, 90, "the sweep to end", tmp_path)
    assert sweep.status == SweepStatus.FINISHED, logs(tmp_path)
    trial.refresh_from_db()
    assert (trial.state, trial.note) == (TrialState.FAILED, "worker lost")
    assert trial.error.startswith(f"worker lost: no heartbeat from {trial.worker} (pid {victim_pid})")
    assert not alive(trial.child_pid)  # the trial process died with its worker
    assert (trial.run.status, trial.run.stop_requested) == (RunStatus.FAILED, True)
    trials = list(sweep.trials.order_by("number"))
    assert [(t.number, t.state) for t in trials] == [(0, TrialState.FAILED), (1, TrialState.COMPLETE)], [
        (t.number, t.state, t.error[:300]) for t in trials
    ]
    assert trials[1].worker_pid == survivor_pid
    assert open_study(sweep.study_name, sweep.direction).trials[0].state.name == "FAIL"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_trial_is_recovered_when_another_worker_starts_without_beat(
    owner, sweep_workers, tmp_path
):
    (victim,) = sweep_workers(1)  # and no beat
    sweep = make_sweep(owner)
    trial = kill_mid_trial(sweep, victim, tmp_path)

    # No beat, no other worker, no reader: past its grace period the trial is still
    # "running" and the sweep would wait for ever.
    time.sleep(GRACE + 1.5)
    trial.refresh_from_db()
    assert trial.state == TrialState.RUNNING

    (survivor,) = sweep_workers(1)  # recovers as it starts (worker_ready)
    assert_recovered(sweep, trial, victim.proc.pid, survivor.proc.pid, tmp_path)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_trial_is_recovered_when_the_sweep_is_read_without_beat(
    client, owner, api_key, settings, sweep_workers, tmp_path
):
    settings.TUNING_GRACE_PERIOD = GRACE  # this process serves the reads
    (victim,) = sweep_workers(1)  # and no beat
    sweep = make_sweep(owner)
    trial = kill_mid_trial(sweep, victim, tmp_path)

    def read_shows_it_failed():
        data = client.get(f"/api/v1/sweeps/{sweep.pk}", **auth(api_key)).json()
        return data if data["trials"]["failed"] == 1 else None

    data = wait_for(read_shows_it_failed, GRACE + 20, "a read to fail the lost trial", tmp_path, poll=1.0)
    assert data["status"] == "running" and data["trials"]["running"] == 0
    trial.refresh_from_db()
    assert trial.error.startswith(f"worker lost: no heartbeat from {trial.worker} (pid {victim.proc.pid})")

    # Its replacement slot waits in the queue for the next worker.
    (survivor,) = sweep_workers(1)
    assert_recovered(sweep, trial, victim.proc.pid, survivor.proc.pid, tmp_path)
