"""The media API: validation that names the field, all-or-nothing batches, retries
stored once, access control, and the histogram / summary views the run page reads."""

import numpy as np
import pytest

from experiments.media.items import media_store, parse_media
from experiments.media.reads import histogram_quantiles
from experiments.models import Media
from tests import factories
from tests.helpers import auth, post


@pytest.fixture
def run(owner):
    return factories.run(owner, "r")


def item(uid="a", kind="confusion_matrix", name="val", step=1, data=None):
    return {
        "uid": uid,
        "kind": kind,
        "name": name,
        "step": step,
        "data": data if data is not None else {"labels": ["x", "y"], "matrix": [[3, 1], [0, 4]]},
    }


def media_url(run) -> str:
    return f"/api/v1/runs/{run.pk}/media"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"kind": "video"}, "items[1].kind"),
        ({"uid": "has space"}, "items[1].uid"),
        ({"step": -1}, "items[1].step"),
        ({"name": ""}, "items[1].name"),
        ({"data": {"labels": ["x"], "matrix": [[1, 2]]}}, "items[1].data.matrix[0]"),
        ({"data": {"labels": ["x", "y"], "matrix": [[1, -2], [0, 0]]}}, "items[1].data.matrix[0][1]"),
        ({"kind": "roc_curve", "data": {"curves": [{"x": [0, 1], "y": [0]}]}}, "items[1].data.curves[0].y"),
        (
            {"kind": "roc_curve", "data": {"curves": [{"x": [0, "NaN"], "y": [0, 1]}]}},
            "items[1].data.curves[0].x[1]",
        ),
        ({"kind": "histogram", "data": {"edges": [0, 1], "counts": [1, 2]}}, "items[1].data.edges"),
        ({"kind": "histogram", "data": {"edges": [1, 0], "counts": [1]}}, "items[1].data.edges"),
        (
            {"kind": "model_summary", "data": {"rows": [{"name": "a", "params": -1}]}},
            "items[1].data.rows[0].params",
        ),
    ],
)
def test_a_bad_item_is_refused_naming_its_field_and_nothing_is_stored(client, run, api_key, bad, field):
    response = post(client, media_url(run), {"items": [item(), {**item(uid="b"), **bad}]}, api_key)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Media.objects.exists()


@pytest.mark.django_db
def test_items_are_stored_once_by_uid_and_only_for_the_owner(client, run, api_key, stranger_api_key):
    body = {"items": [item("a"), item("b", step=2)]}
    assert post(client, media_url(run), body, stranger_api_key).status_code == 404
    assert post(client, media_url(run), body, None).status_code == 401
    first = post(client, media_url(run), body, api_key)
    assert first.json() == {"stored": 2, "duplicates": 0}
    retry = post(client, media_url(run), {"items": [item("b", step=2), item("c", step=3)]}, api_key)
    assert retry.json() == {"stored": 1, "duplicates": 1}
    assert sorted(Media.objects.values_list("uid", "step")) == [("a", 1), ("b", 2), ("c", 3)]

    listed = client.get(media_url(run), {"kind": "confusion_matrix", "step": 2}, **auth(api_key)).json()
    assert [m["step"] for m in listed["media"]] == [2]
    assert listed["media"][0]["data"]["matrix"] == [[3, 1], [0, 4]]
    assert client.get(media_url(run), **auth(stranger_api_key)).status_code == 404
    bad_kind = client.get(media_url(run), {"kind": "nope"}, **auth(api_key))
    assert (bad_kind.status_code, bad_kind.json()["field"]) == (400, "kind")


def test_histogram_quantiles_interpolate_within_bins():
    rng = np.random.default_rng(0)
    values = rng.normal(2.0, 3.0, 200_000)
    counts, edges = np.histogram(values, bins=200)
    quantiles = histogram_quantiles(edges.tolist(), counts.tolist(), (0.0, 0.1587, 0.5, 0.8413, 1.0))
    assert quantiles[0] == pytest.approx(values.min()) and quantiles[-1] == pytest.approx(values.max())
    exact = np.quantile(values, [0.1587, 0.5, 0.8413])
    assert quantiles[1:4] == pytest.approx(exact.tolist(), abs=0.02)
    assert histogram_quantiles([0, 1], [0]) == [None] * 9
    # Empty edge bins do not stretch the extremes.
    assert histogram_quantiles([0, 1, 2, 3], [0, 4, 0], (0.0, 0.5, 1.0)) == [1.0, 1.5, 2.0]


@pytest.mark.django_db
def test_the_page_reads_histograms_over_time_and_the_model_summary(client, run, owner, stranger):
    items = [
        item(f"h{s}", "histogram", "grad/fc.weight", s, {"edges": [0, 1, 2, 3], "counts": [1, 2, 1]})
        for s in range(0, 500, 2)
    ]
    summary = {
        "model": "Net",
        "rows": [{"name": "(model)", "type": "Net", "depth": 0, "params": 10, "trainable": 10, "bytes": 40}],
        "total_params": 10,
        "trainable_params": 10,
        "bytes": 40,
    }
    items.append(item("s", "model_summary", "model", 0, summary))
    media_store(run=run, items=parse_media({"items": items}))

    url = f"/runs/{run.pk}/media.json"
    assert client.get(url).status_code == 302  # login first
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    index = client.get(url).json()
    assert index["media"]["histogram"] == {"grad/fc.weight": 250}  # counted, not listed
    assert index["media"]["model_summary"] == {"model": [0]}
    view = client.get(url, {"kind": "histogram", "name": "grad/fc.weight"}).json()
    assert view["total_steps"] == 250 and len(view["steps"]) == 120  # evenly thinned for drawing
    assert view["steps"][0] == 0 and view["steps"][-1] == 498
    assert view["quantiles"][0][4] == pytest.approx(1.5)  # the median of 1, 2, 2, 1 spread evenly
    assert client.get(url, {"kind": "model_summary"}).json()["rows"][0]["type"] == "Net"
    missing = client.get(url, {"kind": "roc_curve", "name": "val"})
    assert missing.status_code == 404 and missing.json()["field"] == "name"


@pytest.mark.django_db
def test_the_openapi_schema_describes_the_media_and_checkpoint_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/runs/{run_id}/media"])
    assert {"post", "get"} <= set(paths["/runs/{run_id}/checkpoints"])
    upload = paths["/runs/{run_id}/checkpoints"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert {p["name"] for p in upload["parameters"]} >= {"step", "sha256", "uid", "keep_best", "best_metric"}
    assert "get" in paths["/runs/{run_id}/checkpoints/{checkpoint_id}/file"]
