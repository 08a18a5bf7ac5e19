"""One validation layer for every input: 64-bit integers, no NUL, bounded depth, sizes
and counts, routable project names, parameters checked before any work. Each input
here once answered 500 (or was stored half-written); now it gets a 4xx naming the field
and nothing is stored."""

import json
import time

import pytest
from django.test import override_settings

from experiments.models import BatchReceipt, Media, Metric, Project, Run
from tests.helpers import auth, post, rejected, stored_state

pytestmark = pytest.mark.django_db

BIG = 2**63  # one past the largest 64-bit signed integer
NUL = "a\u0000b"


@pytest.fixture
def run_id(client, api_key) -> int:
    run = post(client, "/api/v1/runs", {"project": "digits"}, api_key).json()["id"]
    batch = {"writer": "w", "seq": 0, "rows": [[0, 1.0, {"loss": 1.0}], [1, 2.0, {"loss": 0.5}]]}
    assert post(client, f"/api/v1/runs/{run}/batches", batch, api_key).json()["stored"] == 2
    return run


def nested(depth: int, leaf=1) -> dict:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def refused_for_nul(response, field: str) -> None:
    """A 400 naming the field (or the object whose key) holds the NUL."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert "NUL" in body["error"], body
    assert body["field"] == field, body


def everything() -> dict:
    """What a rejected request must leave as it was."""
    return {**stored_state(), "projects": Project.objects.count(), "media": Media.objects.count()}


# --- 64-bit integers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"writer": "w", "seq": 1, "rows": [[BIG, 1.0, {"loss": 1.0}]]}, "rows[0][0]"),
        ({"writer": "w", "seq": 1, "rows": [[2**64 - 1, 1.0, {"loss": 1.0}]]}, "rows[0][0]"),
        ({"writer": "w", "seq": BIG, "rows": [[2, 1.0, {"loss": 1.0}]]}, "seq"),
    ],
)
def test_a_step_or_seq_beyond_64_bits_is_refused_naming_it(client, api_key, run_id, body, field):
    before = everything()
    rejected(post(client, f"/api/v1/runs/{run_id}/batches", body, api_key), 400, field, "2**63")
    assert everything() == before


@pytest.mark.parametrize("endpoint", ["heartbeat", "finish"])
def test_dropped_beyond_64_bits_is_refused(client, api_key, run_id, endpoint):
    before = everything()
    rejected(post(client, f"/api/v1/runs/{run_id}/{endpoint}", {"dropped": BIG}, api_key), 400, "dropped")
    assert everything() == before


@pytest.mark.parametrize("endpoint", ["heartbeat", "finish"])
def test_dropped_that_would_overflow_the_runs_counter_is_refused(client, api_key, run_id, endpoint):
    url = f"/api/v1/runs/{run_id}"
    assert post(client, f"{url}/heartbeat", {"dropped": 2**63 - 10}, api_key).status_code == 200
    before = everything()
    rejected(post(client, f"{url}/{endpoint}", {"dropped": 11}, api_key), 400, "dropped", "overflow")
    assert everything() == before
    assert Run.objects.get(pk=run_id).dropped_points == 2**63 - 10
    assert Run.objects.get(pk=run_id).status == "running"
    assert post(client, f"{url}/{endpoint}", {"dropped": 9}, api_key).status_code == 200
    assert Run.objects.get(pk=run_id).dropped_points == 2**63 - 1


def test_a_media_step_beyond_64_bits_is_refused(client, api_key, run_id):
    item = {"uid": "u", "kind": "confusion_matrix", "name": "val", "step": BIG}
    item["data"] = {"labels": ["x", "y"], "matrix": [[1, 0], [0, 1]]}
    before = everything()
    rejected(post(client, f"/api/v1/runs/{run_id}/media", {"items": [item]}, api_key), 400, "items[0].step")
    assert everything() == before


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/v1/runs/{BIG}", 404, "run"),
        ("/api/v1/runs/{BIG}/history", 404, "run"),
        ("/api/v1/runs/{BIG}/findings", 404, "run"),
        ("/api/v1/runs/{BIG}/checkpoints/{BIG}/file", 404, "run"),
        ("/api/v1/runs/{run}/checkpoints/{BIG}/file", 404, "checkpoint"),
        ("/api/v1/sweeps/{BIG}", 404, "sweep"),
        ("/api/v1/runs/{run}/media?step={BIG}", 400, "step"),
        ("/api/v1/runs/{run}/checkpoints?which={BIG}", 400, "which"),
        ("/api/v1/runs/{run}/compare?against={BIG}", 400, "against"),
        ("/api/v1/projects/digits/compare?side={BIG}", 400, "side"),
        ("/api/v1/projects/digits/findings?run={BIG}", 400, "run"),
    ],
)
def test_ids_and_steps_in_paths_and_queries_beyond_64_bits_name_the_field(
    client, api_key, run_id, url, status, field
):
    rejected(client.get(url.format(BIG=BIG, run=run_id), **auth(api_key)), status, field)


def test_a_checkpoint_step_beyond_64_bits_is_refused(client, api_key, run_id):
    body = b"bytes"
    import hashlib

    query = f"step={BIG}&uid=c1&sha256={hashlib.sha256(body).hexdigest()}"
    r = client.post(
        f"/api/v1/runs/{run_id}/checkpoints?{query}",
        body,
        content_type="application/octet-stream",
        **auth(api_key),
    )
    rejected(r, 400, "step")


def test_page_ids_beyond_64_bits_are_not_found(client, owner, run_id):
    client.force_login(owner)
    for url in (
        f"/runs/{BIG}/",
        f"/runs/{BIG}/series.json",
        f"/runs/{BIG}/media.json",
        f"/runs/{BIG}/compare/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/projects/digits/rows.json?run={BIG}").status_code == 400


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/projects/a%00b/", 404),
        ("/projects/a%00b/rows.json?run=1", 404),
        ("/projects/digits/compare/?s=group:a%00b", 400),
        ("/runs/{run}/series.json?key=a%00b", 400),
        ("/runs/{run}/media.json?kind=confusion_matrix&name=a%00b", 400),
    ],
)
def test_pages_refuse_a_nul_in_their_path_or_query(client, owner, run_id, url, status):
    client.force_login(owner)
    r = client.get(url.format(run=run_id))
    assert r.status_code == status, r.content
    if url.split("?")[0].endswith(".json") and status == 400:
        assert r.json()["field"] in ("key", "name")


def test_the_baseline_form_refuses_a_nul(client, owner, run_id):
    client.force_login(owner)
    before = everything()
    r = client.post("/projects/digits/baseline/", {"group": NUL, "note": "x"})
    assert r.status_code == 400
    assert everything() == before


# --- NUL in strings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": NUL}, "project"),
        ({"project": "p", "name": NUL}, "name"),
        ({"project": "p", "group": NUL}, "group"),
        ({"project": "p", "tags": ["ok", NUL]}, "tags[1]"),
        ({"project": "p", "host": NUL}, "host"),
        ({"project": "p", "git_commit": NUL}, "git_commit"),
        ({"project": "p", "cuda_version": NUL}, "cuda_version"),
        ({"project": "p", "config": {"opt": {"name": NUL}}}, "config.opt.name"),
        ({"project": "p", "config": {"layers": ["a", NUL]}}, "config.layers[1]"),
        ({"project": "p", "config": {NUL: 1}}, "config"),
    ],
)
def test_a_nul_in_any_string_of_a_new_run_is_refused(client, api_key, body, field):
    before = everything()
    refused_for_nul(post(client, "/api/v1/runs", body, api_key), field)
    assert everything() == before


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("batches", {"writer": "w", "seq": 1, "rows": [], "summary": {"best": NUL}}, "summary.best"),
        ("batches", {"writer": "w", "seq": 1, "rows": [], "summary": {NUL: 1.0}}, "summary"),
        ("batches", {"writer": NUL, "seq": 1, "rows": []}, "writer"),
        ("batches", {"writer": "w", "seq": 1, "rows": [[2, 1.0, {NUL: 1.0}]]}, "rows[0][2]"),
        ("finish", {"error": NUL}, "error"),
        ("finish", {"summary": {"x": [NUL]}}, "summary.x[0]"),
    ],
)
def test_a_nul_in_a_batch_or_at_finish_is_refused(client, api_key, run_id, endpoint, body, field):
    before = everything()
    refused_for_nul(post(client, f"/api/v1/runs/{run_id}/{endpoint}", body, api_key), field)
    assert everything() == before
    assert Run.objects.get(pk=run_id).status == "running"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"labels": ["x", NUL], "matrix": [[1, 0], [0, 1]]}, "items[0].data.labels[1]"),
        ({"labels": ["x", "y"], "matrix": [[1, 0], [0, 1]], NUL: 1}, "items[0].data"),
    ],
)
def test_a_nul_in_a_class_label_is_refused(client, api_key, run_id, data, field):
    item = {"uid": "u", "kind": "confusion_matrix", "name": "val", "step": 1, "data": data}
    before = everything()
    refused_for_nul(post(client, f"/api/v1/runs/{run_id}/media", {"items": [item]}, api_key), field)
    assert everything() == before


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/groups?name=a%00b", "name"),
        ("/api/v1/runs/{run}/history?key=a%00b", "key"),
        ("/api/v1/runs/{run}/media?name=a%00b", "name"),
        ("/api/v1/runs/{run}/compare?against=group:a%00b", "against"),
        ("/api/v1/runs/{run}/checkpoints?which=best&metric=a%00b", "metric"),
        ("/api/v1/projects/a%00b/runs", "project"),
        ("/api/v1/projects/a%00b/baseline", "project"),
    ],
)
def test_a_nul_in_a_query_or_path_is_refused(client, api_key, run_id, url, field):
    r = client.get(url.format(run=run_id), **auth(api_key))
    assert r.status_code in (400, 404), r.content
    assert r.json()["field"] == field


def test_a_nul_in_notes_and_keys_of_writes_is_refused(client, api_key, run_id):
    before = everything()
    rejected(
        post(client, "/api/v1/projects/digits/baseline", {"run": run_id, "note": NUL}, api_key), 400, "note"
    )
    body = {"key": NUL, "direction": "min"}
    rejected(post(client, "/api/v1/projects/digits/directions", body, api_key), 400, "key")
    assert everything() == before


# --- depth, sizes and counts -----------------------------------------------------------


def test_config_nested_too_deep_is_refused_and_no_run_is_created(client, api_key):
    before = everything()
    body = rejected(
        post(client, "/api/v1/runs", {"project": "p", "config": nested(256)}, api_key), 400, "config"
    )
    assert "TRACKER_MAX_JSON_DEPTH" in body["error"]
    assert everything() == before


def test_summary_nested_too_deep_is_refused_and_the_run_stays_readable(client, api_key, run_id):
    before = everything()
    batch = {"writer": "w", "seq": 1, "rows": [[2, 3.0, {"loss": 0.1}]], "summary": nested(300)}
    rejected(post(client, f"/api/v1/runs/{run_id}/batches", batch, api_key), 400, "summary", "deep")
    rejected(post(client, f"/api/v1/runs/{run_id}/finish", {"summary": nested(300)}, api_key), 400, "summary")
    assert everything() == before
    assert client.get(f"/api/v1/runs/{run_id}", **auth(api_key)).status_code == 200
    assert client.get("/api/v1/projects/digits/runs", **auth(api_key)).status_code == 200


def test_the_depth_limit_is_a_setting_and_its_edge_is_accepted(client, api_key):
    with override_settings(TRACKER_MAX_JSON_DEPTH=4):
        assert post(client, "/api/v1/runs", {"project": "p", "config": nested(4)}, api_key).status_code == 201
        rejected(post(client, "/api/v1/runs", {"project": "p", "config": nested(5)}, api_key), 400, "config")
    assert Run.objects.count() == 1


def test_a_batch_with_100k_metric_keys_is_refused_by_its_cap_in_well_under_a_second(client, api_key, run_id):
    values = {f"layer{i}/grad_norm": 1.0 for i in range(100_000)}
    raw = json.dumps({"writer": "w", "seq": 1, "rows": [[2, 1.0, values]]}).encode()
    before = everything()
    started = time.perf_counter()  # the server's work only: the body is encoded already
    r = post(client, f"/api/v1/runs/{run_id}/batches", None, api_key, raw=raw)
    elapsed = time.perf_counter() - started
    rejected(r, 413, "rows[0][2]", "100000 distinct metric keys", "10000", "TRACKER_MAX_BATCH_KEYS")
    assert elapsed < 1.0, elapsed
    assert everything() == before


def test_a_batch_with_keys_spread_over_rows_is_refused_by_the_same_cap(client, api_key, run_id):
    rows = [[s, 1.0, {f"k{s}": 1.0}] for s in range(2, 30)]
    before = everything()
    with override_settings(TRACKER_MAX_BATCH_KEYS=10):
        r = post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": rows}, api_key)
    rejected(r, 413, "rows", "TRACKER_MAX_BATCH_KEYS")
    assert everything() == before


def test_a_run_holds_at_most_its_cap_of_distinct_metric_keys(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/batches"
    with override_settings(TRACKER_MAX_METRIC_KEYS=4):
        ok = {"writer": "w", "seq": 1, "rows": [[2, 1.0, {"loss": 0.4, "a": 1.0, "b": 2.0}]]}
        assert post(client, url, ok, api_key).json()["stored"] == 3
        before = everything()
        too_many = {"writer": "w", "seq": 2, "rows": [[3, 1.0, {"loss": 0.3, "c": 1.0, "d": 1.0}]]}
        body = rejected(post(client, url, too_many, api_key), 413, "rows", "TRACKER_MAX_METRIC_KEYS")
        assert "5 distinct metric keys" in body["error"]
        assert everything() == before
        known = {"writer": "w", "seq": 3, "rows": [[3, 1.0, {"loss": 0.3, "a": 1.0}]]}
        assert post(client, url, known, api_key).json()["stored"] == 2
    assert Metric.objects.filter(run_id=run_id).count() == 3


@pytest.mark.parametrize(
    ("settings", "body", "status", "field", "name"),
    [
        ({"TRACKER_MAX_TAGS": 3}, {"tags": ["a", "b", "c", "d"]}, 400, "tags", "TRACKER_MAX_TAGS"),
        ({"TRACKER_MAX_TAG_LENGTH": 5}, {"tags": ["a", "toolong"]}, 400, "tags[1]", "TRACKER_MAX_TAG_LENGTH"),
        (
            {"TRACKER_MAX_CONFIG_BYTES": 100},
            {"config": {"x": "y" * 200}},
            413,
            "config",
            "TRACKER_MAX_CONFIG_BYTES",
        ),
    ],
)
def test_tags_and_config_are_capped_by_settings_named_in_the_error(
    client, api_key, settings, body, status, field, name
):
    before = everything()
    with override_settings(**settings):
        rejected(post(client, "/api/v1/runs", {"project": "p", **body}, api_key), status, field, name)
    assert everything() == before


def test_the_merged_summary_is_capped(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/batches"
    with override_settings(TRACKER_MAX_SUMMARY_BYTES=300):
        first = {"writer": "w", "seq": 1, "rows": [], "summary": {"a": "x" * 100}}
        assert post(client, url, first, api_key).status_code == 200
        before = everything()
        second = {"writer": "w", "seq": 2, "rows": [], "summary": {"b": "x" * 250}}
        rejected(post(client, url, second, api_key), 413, "summary", "TRACKER_MAX_SUMMARY_BYTES")
        rejected(post(client, f"/api/v1/runs/{run_id}/finish", second, api_key), 413, "summary")
        assert everything() == before


def test_a_resumed_runs_merged_config_is_capped(client, api_key, run_id):
    with override_settings(TRACKER_MAX_CONFIG_BYTES=300):
        body = {"project": "digits", "id": run_id, "config": {"a": "x" * 100}}
        assert post(client, "/api/v1/runs", body, api_key).status_code == 200
        before = everything()
        body = {"project": "digits", "id": run_id, "config": {"b": "x" * 250}}
        rejected(post(client, "/api/v1/runs", body, api_key), 413, "config", "TRACKER_MAX_CONFIG_BYTES")
        assert everything() == before


# --- parameters before work ---------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["tolerance=nan", "tolerance=inf", "abs_tolerance=-1", "tolerance=x", "by=worst"]
)
def test_compare_parameters_are_refused_before_any_work(client, api_key, run_id, monkeypatch, query):
    def no_work(*args, **kwargs):
        raise AssertionError("compared before validating the parameters")

    monkeypatch.setattr("experiments.compare.api.compare", no_work)
    monkeypatch.setattr("experiments.compare.api.reference_side", no_work)
    field = query.partition("=")[0]
    started = time.perf_counter()
    rejected(client.get(f"/api/v1/runs/{run_id}/compare?{query}", **auth(api_key)), 400, field)
    rejected(
        client.get(f"/api/v1/projects/digits/compare?side={run_id}&{query}", **auth(api_key)), 400, field
    )
    assert time.perf_counter() - started < 1.0


# --- project names -----------------------------------------------------------------------


# ("team/name" addresses a team's project since issue #15: two slashes route nowhere.)
@pytest.mark.parametrize("name", ["a/b/c", "/", "..", ".", "tab\there", "new\nline"])
def test_a_project_name_that_cannot_be_routed_is_refused(client, api_key, name):
    before = everything()
    rejected(post(client, "/api/v1/runs", {"project": name}, api_key), 400, "project")
    assert everything() == before


def test_the_sdk_is_refused_a_project_that_cannot_be_routed(sdk):
    import tracker
    from tracker.start import InitError

    with pytest.raises(InitError, match="project"):
        tracker.init(project="team/digits")
    assert Project.objects.count() == 0


def test_a_sweep_in_a_project_that_cannot_be_routed_is_refused(client, owner, api_key):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(*Permission.objects.filter(codename="run_sweeps"))  # who may run code
    body = {
        "project": "a/b/c",
        "entry_point": "examples.train_digits:train",
        "space": {"lr": {"type": "float", "low": 0.001, "high": 0.1}},
        "objective": "val/acc",
        "start": False,
    }
    rejected(post(client, "/api/v1/sweeps", body, api_key), 400, "project")
    assert Project.objects.count() == 0


def test_an_existing_project_with_a_slash_does_not_break_the_project_list(client, owner, api_key, run_id):
    legacy = Project.objects.create(owner=owner, name="old/name")
    Run.objects.create(project=legacy, name="r")
    client.force_login(owner)
    page = client.get("/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "old/name" in text and 'href="/projects/digits/"' in text
    names = [p["name"] for p in client.get("/api/v1/projects", **auth(api_key)).json()["projects"]]
    assert names == ["digits", "old/name"]


# --- config and summary round-trip exactly (PostgreSQL's jsonb included) ------------------

EXACT = {
    "big": 1e20,
    "e16": 1e16,
    "huge": 1.7976931348623157e308,
    "three": 3.0,
    "i62": 2**62,
    "i63": 2**63 - 1,
    "neg": -(2**63),
    "seed": 2**64 - 1,
    "tiny": -1e-300,
    "half": 0.5,
    "nested": {"x": [1e20, 1, 2.5, {"y": -3e17}], "s": "1e+20", "t": True, "n": None},
}


def typed(value):
    """The value with each number's type, so that 1e20 and 100000000000000000000 differ."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def test_config_and_summary_round_trip_with_their_types(client, owner, api_key):
    created = post(client, "/api/v1/runs", {"project": "p", "config": EXACT}, api_key)
    assert created.status_code == 201, created.content
    assert typed(created.json()["config"]) == typed(EXACT)
    run_id = created.json()["id"]
    assert typed(Run.objects.get(pk=run_id).config) == typed(EXACT)
    batch = {"writer": "w", "seq": 0, "rows": [[0, 1.0, {"loss": 1e20}]], "summary": EXACT}
    assert post(client, f"/api/v1/runs/{run_id}/batches", batch, api_key).status_code == 200
    read = client.get(f"/api/v1/runs/{run_id}", **auth(api_key))
    assert read.status_code == 200, read.content
    assert typed(read.json()["config"]) == typed(EXACT)
    assert typed(read.json()["summary"]) == typed(EXACT)
    listed = client.get("/api/v1/projects/p/runs", **auth(api_key))
    assert typed(listed.json()["runs"][0]["summary"]) == typed(EXACT)
    finished = post(client, f"/api/v1/runs/{run_id}/finish", {"summary": {"late": 2e30}}, api_key)
    assert finished.status_code == 200, finished.content
    assert typed(finished.json()["summary"]) == typed({**EXACT, "late": 2e30})
    resumed = post(client, "/api/v1/runs", {"project": "p", "id": run_id, "config": {"more": 5e25}}, api_key)
    assert resumed.status_code == 200, resumed.content
    assert typed(resumed.json()["config"]) == typed({**EXACT, "more": 5e25})
    assert typed(Run.objects.get(pk=run_id).config) == typed({**EXACT, "more": 5e25})
    client.force_login(owner)
    for page in (f"/runs/{run_id}/", "/projects/p/", "/", f"/projects/p/rows.json?run={run_id}"):
        assert client.get(page).status_code == 200, page


def test_media_and_checkpoint_metrics_keep_huge_floats(client, api_key, run_id):
    item = {"uid": "h", "kind": "histogram", "name": "grads/w", "step": 1}
    item["data"] = {"edges": [-1e20, 0.0, 1e20], "counts": [1, 2]}
    assert post(client, f"/api/v1/runs/{run_id}/media", {"items": [item]}, api_key).status_code == 200
    r = client.get(f"/api/v1/runs/{run_id}/media", **auth(api_key))
    assert r.status_code == 200, r.content
    assert typed(r.json()["media"][0]["data"]["edges"]) == typed([-1e20, 0.0, 1e20])


def test_every_write_path_keeps_floats_floats_admin_bulk_updates_and_sweeps(owner, run_id):
    # The fields' own encoder, not one service's care: an ORM update (as the admin does)
    # and a sweep's config and a trial's params read back with their types too.
    from tuning.models import Sweep, Trial

    Run.objects.filter(pk=run_id).update(config=EXACT, summary={"s": 1e20})
    run = Run.objects.get(pk=run_id)
    assert typed(run.config) == typed(EXACT) and typed(run.summary) == typed({"s": 1e20})
    sweep = Sweep.objects.create(
        project=run.project,
        name="s",
        objective="val/acc",
        entry_point="examples.train_digits:train",
        space={"lr": {"type": "float", "low": 1e-20, "high": 1e20}},
        config={"cap": 1e18},
    )
    trial = Trial.objects.create(sweep=sweep, number=0, params={"lr": 1e19}, intermediate=[[0, 1e16]])
    sweep.refresh_from_db()
    trial.refresh_from_db()
    assert typed(sweep.config) == typed({"cap": 1e18})
    assert typed(sweep.space["lr"]) == typed({"type": "float", "low": 1e-20, "high": 1e20})
    assert typed(trial.params) == typed({"lr": 1e19}) and typed(trial.intermediate) == typed([[0, 1e16]])


def test_a_run_stored_with_an_integer_beyond_64_bits_is_still_readable(client, owner, api_key, run_id):
    # What PostgreSQL made of 1e20 before: an integer no 64-bit JSON encoder writes.
    Run.objects.filter(pk=run_id).update(config={"lr": 10**20}, summary={"deep": nested(300)})
    r = client.get(f"/api/v1/runs/{run_id}", **auth(api_key))
    assert r.status_code == 200, r.content
    assert r.json()["config"] == {"lr": 1e20}
    assert client.get("/api/v1/projects/digits/runs", **auth(api_key)).status_code == 200
    client.force_login(owner)
    for page in (f"/runs/{run_id}/", "/projects/digits/", f"/projects/digits/rows.json?run={run_id}"):
        assert client.get(page).status_code == 200, page


# --- nothing stored by a refused batch, including its receipt -----------------------------


def test_a_refused_batch_leaves_no_receipt_so_a_fixed_retry_is_stored(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/batches"
    bad = {"writer": "w", "seq": 1, "rows": [[BIG, 1.0, {"loss": 1.0}]]}
    rejected(post(client, url, bad, api_key), 400, "rows[0][0]")
    assert not BatchReceipt.objects.filter(seq=1).exists()
    good = {"writer": "w", "seq": 1, "rows": [[2, 1.0, {"loss": 1.0}]]}
    assert post(client, url, good, api_key).json() == {"stored": 1, "duplicate": False, "should_stop": False}


def test_non_finite_numbers_cannot_reach_config(client, api_key):
    # JSON has no NaN literal: the body is refused as JSON, before any field is read.
    r = post(client, "/api/v1/runs", None, api_key, raw=b'{"project": "p", "config": {"lr": NaN}}')
    rejected(r, 400, "body", "not valid JSON")
    assert Run.objects.count() == 0
