"""A sweep made in the admin with a real browser: fill the parameter rows, start it, and
watch trials appear and Optuna's figures render on the sweep page while it runs."""

import pytest

from tests.tuning.support import logs
from tuning.models import Sweep, SweepStatus, TrialState

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIGURE_DRAWN = (
    "name => { const el = document.querySelector(`[data-figure='${name}'] .chart`);"
    " return el && el.data && el.data.length > 0; }"
)


def test_a_sweep_created_and_started_in_the_admin_shows_its_trials_and_plots(
    request, server, owner, sweep_workers, tmp_path
):
    from experiments.models import Project

    tab = request.getfixturevalue("page")  # set up after the workers and the server
    owner.is_staff = owner.is_superuser = True
    owner.save()
    Project.objects.create(owner=owner, name="digits")
    sweep_workers(1)

    tab.goto(server.url + "/admin/tuning/sweep/add/")
    tab.fill("input[name=username]", owner.username)
    tab.fill("input[name=password]", owner.raw_password)
    tab.click("input[type=submit]")
    tab.wait_for_url(server.url + "/admin/tuning/sweep/add/")

    tab.select_option("select[name=project]", label="digits")
    tab.fill("input[name=name]", "browser-sweep")
    tab.fill("input[name=entry_point]", "tests.tuning.test_entrypoints:steady")
    tab.fill("input[name=objective]", "score")
    tab.fill("input[name=space-0-name]", "x")
    tab.fill("input[name=space-0-low]", "0")
    tab.fill("input[name=space-0-high]", "1")
    tab.fill("input[name=space-1-name]", "opt")
    tab.select_option("select[name=space-1-type]", "categorical")
    tab.fill("input[name=space-1-choices]", "adam, sgd")
    tab.click("text=Add a parameter")  # a third row, added by the widget's script
    tab.fill("input[name=space-2-name]", "k")
    tab.select_option("select[name=space-2-type]", "int")
    tab.fill("input[name=space-2-low]", "1")
    tab.fill("input[name=space-2-high]", "8")
    tab.fill("textarea[name=config]", '{"epochs": 4, "delay": 0.15}')
    tab.select_option("select[name=pruner]", "none")
    tab.fill("input[name=n_trials]", "5")
    tab.click("input[name=_continue]")
    tab.wait_for_selector("text=was added successfully")

    sweep = Sweep.objects.get(name="browser-sweep")
    assert sweep.space == {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
        "k": {"type": "int", "low": 1, "high": 8},
    }
    tab.click("button[name=start]")
    tab.wait_for_selector("text=start requested")
    tab.click("text=Sweep page (plots)")
    tab.wait_for_url(f"{server.url}/sweeps/{sweep.pk}/")

    # Trials appear while the sweep runs, and the history plot once one completes.
    tab.wait_for_selector("#trials-table tbody tr[data-trial='0']", timeout=30_000)
    tab.wait_for_function(FIGURE_DRAWN, arg="history", timeout=30_000)
    tab.wait_for_function(
        "() => document.getElementById('sweep-status').dataset.status === 'finished'", timeout=60_000
    )
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.FINISHED, logs(tmp_path)
    for name in ("history", "importances", "parallel", "contour", "slice"):
        tab.wait_for_function(FIGURE_DRAWN, arg=name, timeout=10_000)
    rows = tab.locator("#trials-table tbody tr").count()
    assert rows == 5 == sweep.trials.filter(state=TrialState.COMPLETE).count()
    history_x = tab.evaluate(
        "() => Array.from(document.querySelector(\"[data-figure='history'] .chart\").data[0].x)"
    )
    assert history_x == [0, 1, 2, 3, 4]
    best = sweep.trials.order_by("-value").first()
    assert tab.locator("tr.best-row td").first.inner_text() == str(best.number)
    assert tab.errors == []
