"""The contract on numbers JSON lacks: NaN, +inf and -inf are spelled "NaN", "Infinity"
and "-Infinity" in every answer that carries them (history, run, comparison, findings,
chart series, media), as the API README promises and the SDK decodes. Chart arrays keep
null for a gap, with the values themselves listed beside it."""

import math

import orjson
import pytest

from experiments.diagnostics import store
from experiments.diagnostics.base import Finding
from experiments.models import Run
from tests.helpers import auth, post

pytestmark = pytest.mark.django_db

SPELLED = ["NaN", "Infinity", "-Infinity"]


def strict_json(response) -> dict:
    """The answer parsed by a strict parser (no NaN/Infinity literals allowed)."""
    assert response.status_code == 200, response.content
    return orjson.loads(response.content)


def start(client, api_key, name: str, values: list) -> int:
    r = post(client, "/api/v1/runs", {"project": "nonfinite", "name": name}, api_key)
    run_id = r.json()["id"]
    rows = [[step, 1.7e9 + step, {"train/loss": value}] for step, value in enumerate(values)]
    r = post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 0, "rows": rows}, api_key)
    assert r.status_code == 200, r.content
    return run_id


@pytest.fixture
def diverged(client, api_key) -> int:
    """A run whose loss went NaN, then +inf, then -inf (its last value)."""
    return start(client, api_key, "diverged", [1.0, "NaN", 0.5, "Infinity", "-Infinity"])


def test_history_and_the_run_spell_them_as_strings(client, api_key, diverged):
    history = strict_json(client.get(f"/api/v1/runs/{diverged}/history", **auth(api_key)))
    assert history["metrics"]["train/loss"]["value"] == [1.0, *SPELLED[:1], 0.5, *SPELLED[1:]]
    run = strict_json(client.get(f"/api/v1/runs/{diverged}", **auth(api_key)))
    assert run["metrics"]["train/loss"]["last_value"] == "-Infinity"


def test_a_comparison_spells_them_as_strings(client, api_key, diverged):
    healthy = start(client, api_key, "healthy", [1.0, 0.8, 0.6, 0.5, 0.4])
    url = f"/api/v1/runs/{diverged}/compare?against={healthy}&metric=train/loss&curves=1"
    data = strict_json(client.get(url, **auth(api_key)))
    side = data["metrics"][0]["sides"][0]
    assert side["final"]["value"] == "-Infinity"
    assert side["delta"]["final"]["improvement"] == "-Infinity"
    (line,) = [c for c in data["curves"][0]["lines"] if c["role"] == "side"]
    assert [line["value"][i] for i in (1, 3, 4)] == [None, None, None]  # chart gaps


def test_findings_evidence_spells_them_as_strings(client, api_key, diverged):
    run = Run.objects.get(pk=diverged)
    finding = Finding(
        kind="divergence",
        severity="critical",
        title="Diverged",
        summary="s",
        explanation="e",
        remedies=["r"],
        evidence={"first_bad_value": math.nan, "peak": math.inf, "floor": [-math.inf, 1.0]},
    )
    store.findings_replace(run=run, produced={"divergence": [(finding, 1.0)]}, errors={})
    health = strict_json(client.get(f"/api/v1/runs/{diverged}/findings", **auth(api_key)))
    assert health["findings"][0]["evidence"] == {
        "first_bad_value": "NaN",
        "peak": "Infinity",
        "floor": ["-Infinity", 1.0],
    }


def test_the_run_pages_chart_series_lists_them_spelled_beside_its_gaps(client, owner, diverged):
    client.force_login(owner)
    data = strict_json(client.get(f"/runs/{diverged}/series.json"))
    (series,) = data["series"]
    assert series["value"] == [1.0, None, 0.5, None, None]
    assert series["nonfinite"] == {"step": [1, 3, 4], "value": SPELLED}


def test_media_answers_spell_them_as_strings(client, api_key, owner, diverged, monkeypatch):
    item = {
        "uid": "roc-1",
        "kind": "roc_curve",
        "name": "val",
        "step": 1,
        "data": {"curves": [{"label": "a", "x": [0.0, 1.0], "y": [0.0, 1.0], "auc": 0.5}]},
    }
    assert post(client, f"/api/v1/runs/{diverged}/media", {"items": [item]}, api_key).status_code == 200
    # Media validation keeps non-finite numbers out of what is stored; what a read derives
    # may still hold them, and is encoded like every other answer.
    odd = {"auc": math.nan, "bounds": [math.inf, -math.inf]}
    monkeypatch.setattr("experiments.media.reads.media_dict", lambda row: {"kind": row.kind, "data": odd})
    monkeypatch.setattr("experiments.media.reads.curves_view", lambda *args: {"name": "val", **odd})
    listed = strict_json(client.get(f"/api/v1/runs/{diverged}/media", **auth(api_key)))
    assert listed["media"][0]["data"] == {"auc": "NaN", "bounds": ["Infinity", "-Infinity"]}
    client.force_login(owner)
    page = strict_json(client.get(f"/runs/{diverged}/media.json?kind=roc_curve&name=val"))
    assert page == {"name": "val", "auc": "NaN", "bounds": ["Infinity", "-Infinity"]}
