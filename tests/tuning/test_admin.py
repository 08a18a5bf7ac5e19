"""Sweeps in the admin, as a staff user: the search-space rows, actions, progress, trials.

The last test drives a real worker: start from the admin, stop from the admin (running
trials end promptly through ``should_stop``), resume to the end.
"""

import pytest

from experiments.models import Project, Run
from tests.tuning.support import wait_for
from tuning.models import Sweep, SweepStatus, Trial, TrialState

ADD = "/admin/tuning/sweep/add/"
LIST = "/admin/tuning/sweep/"
INLINE = {
    "trials-TOTAL_FORMS": "0",
    "trials-INITIAL_FORMS": "0",
    "trials-MIN_NUM_FORMS": "0",
    "trials-MAX_NUM_FORMS": "0",
}


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("admin", password="x", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def project(staff):
    return Project.objects.create(owner=staff, name="digits")


def form(project, **extra):
    data = {
        "project": str(project.pk),
        "name": "from-admin",
        "entry_point": "tests.tuning.test_entrypoints:steady",
        "objective": "score",
        "direction": "maximize",
        "config": '{"epochs": 3}',
        "sampler": "tpe",
        "sampler_options": "{}",
        "pruner": "median",
        "pruner_options": "{}",
        "seed": "",
        "n_trials": "3",
        "parallelism": "1",
        "space-json": "{}",
        "space-json-initial": "{}",
        **INLINE,
    }
    return {**data, **extra}


def rows(*specs):
    data = {"space-count": str(len(specs))}
    for i, spec in enumerate(specs):
        data.update({f"space-{i}-{k}": v for k, v in spec.items()})
    return data


@pytest.mark.django_db
def test_the_add_form_builds_the_space_from_parameter_rows(client, project):
    page = client.get(ADD)
    assert (
        page.status_code == 200
        and b'name="space-0-name"' in page.content
        and b"Add a parameter" in page.content
    )
    data = form(
        project,
        **rows(
            {"name": "x", "type": "float", "low": "0.001", "high": "1", "log": "on"},
            {"name": "width", "type": "int", "low": "16", "high": "128", "step": "16"},
            {"name": "opt", "type": "categorical", "choices": "adam, sgd, 0.5, true"},
            {"name": "", "type": "float"},  # a spare blank row
        ),
    )
    response = client.post(ADD, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    sweep = Sweep.objects.get(name="from-admin")
    assert sweep.space == {
        "x": {"type": "float", "low": 0.001, "high": 1.0, "log": True},
        "width": {"type": "int", "low": 16, "high": 128, "step": 16},
        "opt": {"type": "categorical", "choices": ["adam", "sgd", 0.5, True]},
    }
    assert (sweep.status, sweep.created_by.username, sweep.config) == ("created", "admin", {"epochs": 3})
    # Editing shows the rows again (PostgreSQL's jsonb may reorder them), and the JSON.
    page = client.get(f"{LIST}{sweep.pk}/change/").content.decode()
    assert all(f'-name" value="{name}"' in page for name in ("x", "width", "opt"))
    assert 'name="space-3-name" value=""' in page  # a spare row
    assert "&quot;choices&quot;" in page


@pytest.mark.django_db
def test_the_raw_json_is_used_when_it_is_the_part_that_changed(client, project):
    data = form(project, **rows({"name": "ignored", "type": "float", "low": "0", "high": "1"}))
    data["space-json"] = '{"x": {"type": "categorical", "choices": [1, 2]}}'
    assert client.post(ADD, data).status_code == 302
    assert Sweep.objects.get().space == {"x": {"type": "categorical", "choices": [1, 2]}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"name": "lr", "type": "float", "low": "0", "high": "1", "log": "on"}, "lr: a log scale needs"),
        ({"name": "lr", "type": "float", "low": "abc", "high": "1"}, "lr: &#x27;low&#x27; must be a number"),
        ({"name": "", "type": "float", "low": "0", "high": "1"}, "row 1: give the parameter a name"),
        (
            {"name": "opt", "type": "categorical", "choices": ""},
            "opt: &#x27;choices&#x27; must be a non-empty",
        ),
    ],
)
def test_a_bad_row_is_shown_with_the_parameters_name_and_nothing_is_saved(client, project, row, message):
    response = client.post(ADD, form(project, **rows(row)))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Sweep.objects.exists()


@pytest.mark.django_db
def test_a_sampler_that_cannot_search_the_space_is_refused_on_its_field(client, project):
    data = form(project, sampler="grid", **rows({"name": "x", "type": "float", "low": "0", "high": "1"}))
    response = client.post(ADD, data)
    assert "grid search needs a &#x27;step&#x27;" in response.content.decode()
    assert not Sweep.objects.exists()


def make(project, **fields):
    base = {
        "name": "s",
        "entry_point": "tests.tuning.test_entrypoints:steady",
        "objective": "score",
        "space": {"x": {"type": "float", "low": 0, "high": 1}},
        "n_trials": 3,
    }
    return Sweep.objects.create(project=project, **{**base, **fields})


@pytest.mark.django_db
def test_start_stop_and_resume_actions(client, project, django_capture_on_commit_callbacks):
    sweep = make(project)
    with django_capture_on_commit_callbacks() as enqueued:
        client.post(LIST, {"action": "start", "_selected_action": [sweep.pk]})
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.RUNNING and len(enqueued) == 1

    run = Run.objects.create(project=project, name="s-0")
    Trial.objects.create(sweep=sweep, number=0, run=run)
    client.post(LIST, {"action": "stop", "_selected_action": [sweep.pk]})
    sweep.refresh_from_db()
    run.refresh_from_db()
    assert (sweep.status, run.stop_requested) == (SweepStatus.STOPPING, True)

    Trial.objects.filter(sweep=sweep).update(state=TrialState.PRUNED)
    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(LIST, {"action": "resume", "_selected_action": [sweep.pk]}, follow=True)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.RUNNING and len(enqueued) == 1
    assert "Resumed 1 sweep(s)." in response.content.decode()


@pytest.mark.django_db
def test_the_list_shows_progress_and_the_best_trial_and_refreshes_while_running(client, project):
    sweep = make(project, status=SweepStatus.RUNNING)
    run = Run.objects.create(project=project, name="best")
    Trial.objects.create(sweep=sweep, number=0, state=TrialState.COMPLETE, value=0.25)
    Trial.objects.create(sweep=sweep, number=1, state=TrialState.COMPLETE, value=0.75, run=run)
    Trial.objects.create(sweep=sweep, number=2, state=TrialState.PRUNED, value=0.1)
    Trial.objects.create(sweep=sweep, number=3, state=TrialState.RUNNING)
    page = client.get(LIST).content.decode()
    assert '<meta http-equiv="refresh" content="5">' in page
    for column, value in (
        ("complete", 2),
        ("pruned", 1),
        ("failed", 0),
        ("running", 1),
        ("best_value", "0.75"),
    ):
        assert f'<td class="field-{column}">{value}</td>' in page
    assert f'<a href="/runs/{run.pk}/">#1 (run {run.pk})</a>' in page


@pytest.mark.django_db
def test_the_change_form_lists_trials_with_run_links_and_tracebacks(client, project):
    sweep = make(project, status=SweepStatus.FINISHED, started_at="2024-01-01T00:00:00Z")
    run = Run.objects.create(project=project, name="t")
    Trial.objects.create(
        sweep=sweep, number=0, state=TrialState.COMPLETE, value=0.5, run=run, params={"x": 0.3}
    )
    Trial.objects.create(
        sweep=sweep, number=1, state=TrialState.FAILED, error="Traceback ...\nValueError: boom"
    )
    page = client.get(f"{LIST}{sweep.pk}/change/").content.decode()
    assert f'<a href="/runs/{run.pk}/">run {run.pk}</a>' in page
    assert "<summary>ValueError: boom</summary>" in page
    assert f'href="/sweeps/{sweep.pk}/"' in page
    # A started sweep's definition is frozen: the space is shown, not editable.
    assert 'name="space-0-name"' not in page and 'name="n_trials"' in page
    assert 'name="resume"' in page  # the client is a superuser: may run code


@pytest.mark.django_db
def test_deleting_a_sweep_keeps_its_runs_and_drops_its_study(
    client, project, django_capture_on_commit_callbacks
):
    sweep = make(project, status=SweepStatus.FINISHED, started_at="2024-01-01T00:00:00Z")
    run = Run.objects.create(project=project, name="t")
    Trial.objects.create(sweep=sweep, number=0, state=TrialState.COMPLETE, value=0.5, run=run)
    with django_capture_on_commit_callbacks() as enqueued:
        client.post(LIST, {"action": "delete_selected", "_selected_action": [sweep.pk], "post": "yes"})
    assert not Sweep.objects.exists() and not Trial.objects.exists()
    assert Run.objects.filter(pk=run.pk).exists()
    assert len(enqueued) == 1  # study_delete


@pytest.mark.django_db(transaction=True)
def test_stopping_from_the_admin_ends_running_trials_promptly_and_resume_finishes_the_sweep(
    client, staff, project, sweep_workers, tmp_path
):
    sweep_workers(1)
    data = form(project, **rows({"name": "x", "type": "float", "low": "0.5", "high": "1"}))
    data.update(config='{"epochs": 60, "delay": 0.1}', pruner="none", n_trials="2")
    assert client.post(ADD, data).status_code == 302
    sweep = Sweep.objects.get()
    client.post(LIST, {"action": "start", "_selected_action": [sweep.pk]})

    def reporting_trial():
        return Trial.objects.filter(sweep=sweep, state=TrialState.RUNNING).exclude(intermediate=[]).first()

    trial = wait_for(reporting_trial, 60, "a running trial", tmp_path)
    response = client.post(f"{LIST}{sweep.pk}/control/stop/")
    assert response.status_code == 302
    stopped = wait_for(
        lambda: Sweep.objects.get(pk=sweep.pk).status == SweepStatus.STOPPED, 30, "stopped", tmp_path
    )
    assert stopped
    trial.refresh_from_db()
    # Ended early (a full trial logs 60 values) as pruned, its curve kept.
    assert (trial.state, trial.note) == (TrialState.PRUNED, "stopped with the sweep")
    assert 0 < len(trial.intermediate) < 40
    assert trial.value == trial.intermediate[-1][1]
    assert sweep.trials.count() == 1

    client.post(LIST, {"action": "resume", "_selected_action": [sweep.pk]})
    wait_for(lambda: Sweep.objects.get(pk=sweep.pk).status == SweepStatus.FINISHED, 60, "finished", tmp_path)
    assert [t.state for t in sweep.trials.order_by("number")] == [TrialState.PRUNED, TrialState.COMPLETE]
