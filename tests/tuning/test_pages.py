"""The sweep page and its JSON: Optuna's figures from the stored trials, owner only."""

import pytest

from experiments.models import Project, Run
from tuning.models import Sweep, SweepStatus, Trial, TrialState
from tuning.plots import TITLES, figures

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
    "width": {"type": "int", "low": 8, "high": 64, "step": 8},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
}


@pytest.fixture
def sweep(owner):
    project = Project.objects.create(owner=owner, name="digits")
    sweep = Sweep.objects.create(
        project=project,
        name="search",
        entry_point="examples.train_digits:train",
        objective="val/acc",
        space=SPACE,
        status=SweepStatus.RUNNING,
        n_trials=10,
    )
    for n in range(6):
        lr, width, opt = 10 ** -(1 + n % 3), 8 * (1 + n), ["adam", "sgd"][n % 2]
        curve = [[s * 10 + 9, 0.5 + 0.05 * s + 0.01 * n] for s in range(3)]
        Trial.objects.create(
            sweep=sweep,
            number=n,
            state=TrialState.PRUNED if n == 4 else TrialState.COMPLETE,
            params={"lr": lr, "width": width, "opt": opt},
            value=curve[-1][1],
            intermediate=curve,
            run=Run.objects.create(project=project, name=f"search-{n}", group="search"),
        )
    Trial.objects.create(sweep=sweep, number=6, state=TrialState.FAILED, error="Traceback\nValueError: nope")
    Trial.objects.create(
        sweep=sweep, number=7, state=TrialState.RUNNING, params={"lr": 0.01, "width": 8, "opt": "sgd"}
    )
    return sweep


@pytest.mark.django_db
def test_every_optuna_figure_is_drawn_from_the_stored_trials(sweep):
    result = figures(sweep)
    assert set(result) == set(TITLES)
    for name, entry in result.items():
        assert "figure" in entry, (name, entry)
        assert entry["figure"]["data"], name
    history = result["history"]["figure"]["data"][0]
    # The optimisation history plots the complete trials' values, by trial number.
    assert list(history["x"]) == [0, 1, 2, 3, 5]
    assert [round(v, 4) for v in history["y"]] == [0.6, 0.61, 0.62, 0.63, 0.65]


@pytest.mark.django_db
def test_before_any_trial_completes_the_figures_say_when_they_appear(owner):
    project = Project.objects.create(owner=owner, name="p")
    empty = Sweep.objects.create(project=project, name="e", entry_point="m:f", objective="o", space=SPACE)
    result = figures(empty)
    assert result["history"] == {"message": "Appears when a trial completes."}


@pytest.mark.django_db
def test_the_sweep_page_lists_trials_with_their_runs_and_errors(client, owner, sweep):
    client.force_login(owner)
    page = client.get(f"/sweeps/{sweep.pk}/").content.decode()
    assert "vendor/plotly/plotly.min.js" in page and "js/sweep.js" in page
    for title in TITLES.values():
        assert title in page
    best = sweep.trials.get(number=5)
    assert f'<a href="/runs/{best.run_id}/">run {best.run_id}</a>' in page
    assert "ValueError: nope" in page
    assert '<span class="badge badge-complete" data-state="complete">5 complete</span>' in page


@pytest.mark.django_db
def test_the_pages_json_has_progress_best_trials_and_figures(client, owner, sweep):
    client.force_login(owner)
    data = client.get(f"/sweeps/{sweep.pk}/data.json").json()
    assert data["status"] == "running"
    assert data["progress"] == {"running": 1, "complete": 5, "pruned": 1, "failed": 1}
    assert data["best"]["number"] == 5
    assert [t["number"] for t in data["trials"]] == list(range(8))
    assert set(data["figures"]) == set(TITLES)


@pytest.mark.django_db
def test_a_sweep_page_is_for_its_owner_only(client, stranger, sweep):
    assert client.get(f"/sweeps/{sweep.pk}/").status_code == 302  # to the login page
    client.force_login(stranger)
    assert client.get(f"/sweeps/{sweep.pk}/").status_code == 404
    assert client.get(f"/sweeps/{sweep.pk}/data.json").status_code == 404
