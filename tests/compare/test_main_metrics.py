"""A comparison is judged on the project's main metrics (validation figures, losses, a
sweep's objective): a lower ``lr/group0``, more RAM or other layer statistics are
compared but decide nothing, on the page, in the API and for ``--fail-if-worse``."""

import re

import pytest
from django.urls import reverse

from tests.compare.support import log, make_run
from tests.helpers import auth, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(owner):
    """``new`` beats ``base`` on every main metric and is "worse" on the internals."""
    base = make_run(owner, "base")
    new = make_run(owner, "new")
    for run, acc, loss, lr, ram, act, epoch in (
        (base, 0.80, 0.60, 0.05, 1.0e9, 0.9, 9),
        (new, 0.90, 0.40, 0.01, 1.5e9, 0.5, 9),
    ):
        log(run, "val/acc", [acc - 0.2, acc])
        log(run, "val/loss", [loss + 0.3, loss])
        log(run, "train/loss", [loss + 0.4, loss - 0.1])
        log(run, "lr/group0", [lr, lr])
        log(run, "sys/ram_used", [ram, ram])
        log(run, "act/0/mean", [act, act])
        log(run, "epoch", [epoch - 1, epoch])
    return base, new


def test_the_api_judges_only_the_main_metrics_unless_metrics_are_named(client, api_key, runs):
    base, new = runs
    url = reverse("api-run-compare", args=[new.pk]) + f"?against={base.pk}"
    body = client.get(url, **auth(api_key)).json()

    assert body["main"] == ["val/acc", "val/loss", "train/loss"]
    rows = {row["key"]: row for row in body["metrics"]}
    others = {"lr/group0", "sys/ram_used", "act/0/mean", "epoch"}
    assert set(rows) == {"val/acc", "val/loss", "train/loss"} | others
    assert {key for key, row in rows.items() if row["main"]} == set(body["main"])
    # Every metric is still compared: a lower learning rate reads "worse" by its name...
    assert rows["lr/group0"]["sides"][0]["verdict"] == "worse"
    # ...but only a main metric can fail the comparison.
    assert rows["lr/group0"]["sides"][0]["gate"]["fails"] is False
    assert body["worse"] is False

    named = client.get(url + "&metric=lr/group0", **auth(api_key)).json()
    assert named["main"] == ["lr/group0"] and named["metrics"][0]["main"] is True
    assert named["worse"] is True  # the caller asked to be judged on it


def test_a_sweeps_objective_is_a_main_metric(client, owner, api_key, runs):
    from tuning.models import Sweep

    base, new = runs
    Sweep.objects.create(project=base.project, name="s", objective="epoch", direction="maximize")
    url = reverse("api-run-compare", args=[new.pk]) + f"?against={base.pk}"
    assert "epoch" in client.get(url, **auth(api_key)).json()["main"]


def test_the_page_counts_main_metrics_in_its_headline_and_lists_the_rest_apart(client, owner, api_key, runs):
    base, new = runs
    post(client, reverse("api-project-baseline", args=["digits"]), {"run": base.pk}, api_key)
    client.force_login(owner)
    html = client.get(reverse("compare", args=["digits"]) + f"?s={new.pk}").content.decode()

    summary, other = html.split('id="other-table"')
    main = re.findall(r'<tr data-key="([^"]+)" data-main="1"', summary)
    assert main == ["val/acc", "val/loss", "train/loss"]
    others = set(re.findall(r'<tr data-key="([^"]+)">', other))
    assert others == {"lr/group0", "sys/ram_used", "act/0/mean", "epoch"}
    assert re.search(r'data-count="better"\s*>3 better<', html)
    assert re.search(r'data-count="worse" hidden>0 worse<', html)  # lr, RAM, act not counted
    assert 'id="other-count">4<' in html
