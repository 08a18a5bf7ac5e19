"""The sweeps API: create-and-start with an API key, read back, stop, resume; errors name
the field and store nothing."""

import pytest

import tracker
from experiments.models import Project, Run
from tests.helpers import auth, post
from tests.tuning.support import grant_run_sweeps
from tuning.models import Sweep, SweepStatus, Trial, TrialState

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}
BODY = {
    "project": "digits",
    "entry_point": "examples.train_digits:train",
    "space": SPACE,
    "objective": "val/acc",
    "n_trials": 5,
    "parallelism": 2,
    "config": {"epochs": 2},
}


@pytest.fixture(autouse=True)
def owner_may_run_sweeps(owner):
    """The owner creates and starts sweeps here: that runs code on workers, granted explicitly."""
    grant_run_sweeps(owner)


@pytest.mark.django_db
def test_creating_a_sweep_stores_it_and_enqueues_one_task_per_slot(
    client, api_key, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as enqueued:
        response = post(client, "/api/v1/sweeps", BODY, api_key)
    assert response.status_code == 201, response.json()
    data = response.json()
    sweep = Sweep.objects.get(pk=data["id"])
    assert (sweep.project.owner, sweep.project.name, sweep.name) == (owner, "digits", "sweep-1")
    assert (sweep.status, sweep.space, sweep.config, sweep.direction) == (
        "running",
        SPACE,
        {"epochs": 2},
        "maximize",
    )
    assert data["trials"] == {"running": 0, "complete": 0, "pruned": 0, "failed": 0}
    assert data["best"] is None and data["url"].endswith(f"/sweeps/{sweep.pk}/")
    assert len(enqueued) == 2  # parallelism 2: two slots


@pytest.mark.django_db
def test_a_sweep_created_without_start_waits(client, api_key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as enqueued:
        data = post(client, "/api/v1/sweeps", {**BODY, "start": False}, api_key).json()
    assert data["status"] == "created" and not enqueued


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        (
            {"space": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}},
            "space.lr",
            "lr: 'low' (0.1) must not be above",
        ),
        ({"sampler": "bayes"}, "sampler", "unknown sampler 'bayes'"),
        ({"entry_point": "os:system"}, "entry_point", "module 'os' is not training code"),
        ({"n_trials": -1}, "n_trials", "must be an integer from 1"),
    ],
)
def test_a_bad_sweep_is_refused_naming_the_field_and_nothing_is_stored(client, api_key, change, field, error):
    response = post(client, "/api/v1/sweeps", {**BODY, **change}, api_key)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(error)
    assert not Sweep.objects.exists() and not Project.objects.exists()


@pytest.mark.django_db
def test_the_api_needs_a_key_and_shows_a_sweep_only_to_its_owner(client, api_key, stranger_api_key):
    assert post(client, "/api/v1/sweeps", BODY, None).status_code == 401
    sweep_id = post(client, "/api/v1/sweeps", {**BODY, "start": False}, api_key).json()["id"]
    for path in (f"/api/v1/sweeps/{sweep_id}", f"/api/v1/sweeps/{sweep_id}/trials"):
        assert client.get(path, **auth(stranger_api_key)).status_code == 404
        assert client.get(path, **auth(api_key)).status_code == 200
    response = post(client, f"/api/v1/sweeps/{sweep_id}/stop", {}, stranger_api_key)
    assert response.status_code == 404
    assert Sweep.objects.get(pk=sweep_id).status == SweepStatus.CREATED


@pytest.mark.django_db
def test_stop_asks_running_trials_runs_to_stop_and_resume_continues(client, api_key, owner):
    sweep_id = post(client, "/api/v1/sweeps", BODY, api_key).json()["id"]
    sweep = Sweep.objects.get(pk=sweep_id)
    run = Run.objects.create(project=sweep.project, name="t0")
    Trial.objects.create(sweep=sweep, number=0, run=run, state=TrialState.RUNNING)
    Trial.objects.create(sweep=sweep, number=1, value=0.5, state=TrialState.COMPLETE)

    data = post(client, f"/api/v1/sweeps/{sweep_id}/stop", {}, api_key).json()
    assert data["status"] == "stopping"
    run.refresh_from_db()
    assert run.stop_requested  # tracker.should_stop() turns true in that trial

    data = post(client, f"/api/v1/sweeps/{sweep_id}/start", {}, api_key).json()
    assert data["status"] == "running"


@pytest.mark.django_db
def test_resuming_a_sweep_that_ran_all_its_trials_says_to_raise_n_trials(client, api_key):
    sweep_id = post(client, "/api/v1/sweeps", {**BODY, "n_trials": 1}, api_key).json()["id"]
    Trial.objects.create(sweep_id=sweep_id, number=0, value=0.9, state=TrialState.COMPLETE)
    Sweep.objects.filter(pk=sweep_id).update(status=SweepStatus.FINISHED)
    response = post(client, f"/api/v1/sweeps/{sweep_id}/start", {}, api_key)
    assert response.status_code == 409
    assert response.json() == {
        "error": "all 1 trials have run; raise n_trials to continue",
        "field": "n_trials",
    }


@pytest.mark.django_db
def test_trials_and_best_read_back_with_their_runs(client, api_key):
    sweep_id = post(client, "/api/v1/sweeps", {**BODY, "start": False}, api_key).json()["id"]
    sweep = Sweep.objects.get(pk=sweep_id)
    run = Run.objects.create(project=sweep.project, name="t1")
    Trial.objects.create(sweep=sweep, number=0, value=0.7, state=TrialState.COMPLETE, params={"lr": 0.01})
    Trial.objects.create(
        sweep=sweep, number=1, value=0.9, state=TrialState.COMPLETE, params={"lr": 0.003}, run=run
    )
    Trial.objects.create(sweep=sweep, number=2, value=0.95, state=TrialState.PRUNED, params={"lr": 0.1})
    Trial.objects.create(sweep=sweep, number=3, state=TrialState.FAILED, error="Traceback...\nValueError: x")

    data = client.get(f"/api/v1/sweeps/{sweep_id}", **auth(api_key)).json()
    # Pruned trials never count as best: their value is only an intermediate one.
    assert data["best"] == {"number": 1, "params": {"lr": 0.003}, "value": 0.9, "run_id": run.pk}
    assert data["trials"] == {"running": 0, "complete": 2, "pruned": 1, "failed": 1}
    trials = client.get(f"/api/v1/sweeps/{sweep_id}/trials", **auth(api_key)).json()["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [
        (0, "complete"),
        (1, "complete"),
        (2, "pruned"),
        (3, "failed"),
    ]
    assert trials[3]["error"].endswith("ValueError: x")


@pytest.mark.django_db(transaction=True)
def test_the_sdk_reports_a_bad_space_with_the_servers_message(server, api_key):
    with pytest.raises(tracker.RequestFailed) as caught:
        tracker.sweep(
            project="digits",
            entry_point="examples.train_digits:train",
            space={"lr": {"type": "float", "low": 0, "high": 1, "log": True}},
            objective="val/acc",
            server=server.url,
            api_key=api_key,
        )
    assert (caught.value.status, caught.value.field) == (400, "space.lr")
    assert str(caught.value) == "HTTP 400: lr: a log scale needs 'low' above 0, got 0.0 (field space.lr)"
