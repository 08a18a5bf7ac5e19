"""The run page's Data section (templates/runs/_data.html, static/js/run_data.js) and its
endpoint ``/runs/<id>/datasets.json`` (alerts.data_views); and ``?step=N``, an alert's
link to the step that fired, marked on every chart.

``TRACKER_SCREENSHOT=1`` also rewrites static/screenshots/run-data-section.png.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from django.test import Client

import tracker
from experiments.diagnostics.runner import run_diagnose
from tests import factories
from tests.browser import chart_traces, login
from tests.helpers import post
from tests.processes import ROOT
from tracker.datasets import profile

SCREENSHOT = ROOT / "static" / "screenshots" / "run-data-section.png"
COPIED_TRAIN_ROWS = [10, 11, 12, 13]
COPIED_INTO_VAL_AT = [2, 5, 7, 9]


def leaky_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """40 training rows (feature 1 has 2 NaN, feature 2 is 1000x the others' scale, row 39
    repeats row 20) and 12 validation rows, 4 of them copies of training rows."""
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 1.0, 1000.0])
    X_train = rng.normal(size=(40, 3)) * scale
    X_train[[0, 1], 1] = np.nan
    X_train[39] = X_train[20]
    y_train = np.array([0] * 30 + [1] * 10)
    X_val = rng.normal(size=(12, 3)) * scale
    X_val[COPIED_INTO_VAL_AT] = X_train[COPIED_TRAIN_ROWS]
    y_val = np.array([0] * 8 + [1] * 4)
    return X_train, y_train, X_val, y_val


# --- the endpoint ------------------------------------------------------------------------


@pytest.fixture
def leaky_run(owner, api_key):
    """A run whose train and val splits were posted through the API, as the SDK posts them."""
    run = factories.run(owner, name="leaky")
    X_train, y_train, X_val, y_val = leaky_splits()
    client = Client()
    for split, X, y in (("train", X_train, y_train), ("val", X_val, y_val)):
        measured, hashes = profile(X, y)
        body = {"name": "toy", "split": split, "profile": measured, "hashes": hashes}
        response = post(client, f"/api/v1/runs/{run.pk}/datasets", body, api_key)
        assert response.status_code == 201, response.content
    return run


@pytest.mark.django_db
def test_datasets_json_gives_each_split_the_worst_features_first_and_the_overlap(client, owner, leaky_run):
    client.force_login(owner)
    data = client.get(f"/runs/{leaky_run.pk}/datasets.json").json()

    (toy,) = data["datasets"]
    assert toy["name"] == "toy"
    train, val = toy["splits"]
    assert (train["split"], train["rows"], train["feature_count"]) == ("train", 40, 3)
    assert (val["split"], val["rows"]) == ("val", 12)
    assert (train["nan"], train["inf"], train["duplicates"], train["nan_rows"]) == (2, 0, 1, 2)
    assert val["nan"] == 0 and val["duplicates"] == 0
    # NaN first, then the unscaled feature, then the rest.
    assert [f["index"] for f in train["features"]] == [1, 2, 0]
    assert train["features"][0]["nan"] == 2 and train["features"][0]["flags"] == ["nan"]
    assert train["scale_ratio"] > 100
    assert train["classes"] == {"0": 30, "1": 10} and val["classes"] == {"0": 8, "1": 4}

    (overlap,) = data["overlaps"]
    assert (overlap["a"]["split"], overlap["b"]["split"]) == ("train", "val")
    assert overlap["rows"] == 4
    assert overlap["pct"] == pytest.approx(100 * 4 / 12)
    assert overlap["examples"] == [
        {"b": b, "a": a} for b, a in zip(COPIED_INTO_VAL_AT, COPIED_TRAIN_ROWS, strict=True)
    ]


@pytest.mark.django_db
def test_datasets_json_is_404_to_whoever_may_not_see_the_run(client, stranger, leaky_run):
    client.force_login(stranger)
    response = client.get(f"/runs/{leaky_run.pk}/datasets.json")
    assert response.status_code == 404
    assert b"toy" not in response.content and b"leaky" not in response.content


@pytest.mark.django_db
def test_datasets_json_sends_anonymous_to_sign_in(client, leaky_run):
    response = client.get(f"/runs/{leaky_run.pk}/datasets.json")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_a_run_without_data_sets_has_no_data_section(client, owner):
    run = factories.run(owner, name="plain")
    client.force_login(owner)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="data"' not in page and "run_data.js" not in page
    assert client.get(f"/runs/{run.pk}/datasets.json").json()["datasets"] == []


# --- the page in a browser ---------------------------------------------------------------


def _text(page, selector: str) -> str:
    page.wait_for_selector(selector)
    return page.locator(selector).first.inner_text().strip()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_data_section_shows_the_splits_and_the_leak_and_step_marks_every_chart(page, sdk, owner):
    X_train, y_train, X_val, y_val = leaky_splits()
    run = tracker.init(project="data", name="leaky-page")
    tracker.log_dataset("toy", X_train, y_train, split="train")
    tracker.log_dataset("toy", X_val, y_val, split="val")
    for step in range(10):
        tracker.log({"train/loss": 1.0 / (step + 1), "val/loss": 1.2 / (step + 1), "lr": 0.1}, step=step)
    run_id = run.id
    tracker.finish()
    run_diagnose(run_id=run_id)
    page.emulate_media(color_scheme="light")

    login(page, sdk, owner, f"/runs/{run_id}/?step=6")

    train = "#data [data-name='toy'] [data-split='train']"
    val = "#data [data-name='toy'] [data-split='val']"
    assert _text(page, f"{train} [data-fact='rows'] dd") == "40"
    assert _text(page, f"{val} [data-fact='rows'] dd") == "12"
    assert _text(page, f"{train} [data-fact='nan'] dd") == "2"
    assert _text(page, f"{train} [data-fact='duplicates'] dd") == "1"
    # The worst feature leads its table: the one with the NaNs.
    assert _text(page, f"{train} tbody tr:first-child th") == "1"
    assert _text(page, f"{train} tbody tr:first-child [data-col='nan']") == "2"
    overlap = "#data-overlaps tr[data-a='toy/train'][data-b='toy/val']"
    assert _text(page, f"{overlap} [data-col='rows']") == "4"
    assert _text(page, f"{overlap} .data-examples").startswith("val 2 = train 10, val 5 = train 11")
    assert page.locator("#data-overlaps").is_visible()
    bars = page.evaluate(
        "() => document.querySelector(\"#data [data-name='toy'] .data-classes-chart\").data"
        ".map(t => [t.meta.split, Array.from(t.customdata)])"
    )
    assert bars == [["train", [30, 10]], ["val", [8, 4]]]

    # The Health panel's leak finding links to the overlap table.
    link = "#health-findings .finding[data-kind='data_leakage'] .finding-data-link"
    page.wait_for_selector(link)
    assert page.locator(link).get_attribute("href") == "#data-overlaps"

    # ?step=6: said above the charts, a line at 6 on every chart.
    assert "Opened at step 6" in _text(page, "#step-banner")
    for chart in ("loss", "lr"):
        chart_traces(page, chart)
        marks = page.evaluate(
            """name => (document.querySelector(`[data-chart='${name}'] .chart`).layout.shapes || [])
                .filter(s => s.name === 'opened-at-step').map(s => [s.x0, s.x1])""",
            chart,
        )
        assert marks == [[6, 6]], chart

    if os.environ.get("TRACKER_SCREENSHOT") == "1":
        section = page.locator("#data")
        section.scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # Plotly's responsive resize
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(SCREENSHOT))
    assert page.errors == []

    # A step that is not an integer is ignored: no note, no line, no script error.
    page.goto(f"{sdk.url}/runs/{run_id}/?step=6abc")
    chart_traces(page, "loss")
    assert page.locator("#step-banner").count() == 0
    shapes = page.evaluate(
        """() => (document.querySelector("[data-chart='loss'] .chart").layout.shapes || [])
            .filter(s => s.name === 'opened-at-step').length"""
    )
    assert shapes == 0
    assert page.errors == []
