"""Every mistake a client can make gets a clear 4xx naming what was wrong, and changes nothing."""

import pytest
from django.test import override_settings

from experiments.models import ApiKey, Run
from tests.helpers import auth, post, rejected, stored_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_id(client, api_key) -> int:
    run = post(client, "/api/v1/runs", {"project": "digits"}, api_key).json()["id"]
    ok = post(
        client,
        f"/api/v1/runs/{run}/batches",
        {"writer": "w", "seq": 0, "rows": [[0, 1.0, {"loss": 1.0}], [1, 2.0, {"loss": 0.5}]]},
        api_key,
    )
    assert ok.json()["stored"] == 2
    return run


def test_malformed_json_is_rejected(client, api_key, run_id):
    before = stored_state()
    r = post(
        client, f"/api/v1/runs/{run_id}/batches", None, api_key, raw=b'{"writer": "w", "seq": 1, "rows": ['
    )
    rejected(r, 400, "body", "not valid JSON")
    assert stored_state() == before


@pytest.mark.parametrize(
    ("rows", "field", "words"),
    [
        ([[0, 1.0, {"loss": "abc"}]], "rows[0][2].loss", ("must be a number", "'abc'")),
        ([[0, 1.0, {"loss": [1]}]], "rows[0][2].loss", ("must be a number", "list")),
        ([[0, 1.0, {"loss": True}]], "rows[0][2].loss", ("must be a number", "bool")),
        ([["3", 1.0, {"loss": 1.0}]], "rows[0][0]", ("step must be an integer",)),
        ([[-1, 1.0, {"loss": 1.0}]], "rows[0][0]", (">= 0",)),
        ([[0, "now", {"loss": 1.0}]], "rows[0][1]", ("wall_time",)),
        ([[0, 1.0, [1.0]]], "rows[0][2]", ("object",)),
        ([[0, 1.0]], "rows[0]", ("[step, wall_time",)),
        ([[0, 1.0, {"": 1.0}]], "rows[0][2].", ("metric keys",)),
    ],
)
def test_a_batch_with_a_wrong_type_is_rejected_whole(client, api_key, run_id, rows, field, words):
    before = stored_state()
    good_rows = [[s, 1.0, {"loss": 0.1, "acc": 0.9}] for s in range(2, 6)]
    r = post(
        client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": good_rows + rows}, api_key
    )
    rejected(r, 400, field.replace("rows[0]", f"rows[{len(good_rows)}]"), *words)
    assert stored_state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seq": 1, "rows": []}, "writer"),
        ({"writer": "w", "rows": []}, "seq"),
        ({"writer": "w", "seq": "1", "rows": []}, "seq"),
        ({"writer": "w", "seq": 1, "rows": {}}, "rows"),
        ({"writer": "w", "seq": 1, "rows": [], "rank": -1}, "rank"),
        ({"writer": "w", "seq": 1, "rows": [], "summary": [1]}, "summary"),
        ([1, 2], None),
    ],
)
def test_a_batch_missing_or_mistyping_a_field_names_it(client, api_key, run_id, body, field):
    before = stored_state()
    rejected(post(client, f"/api/v1/runs/{run_id}/batches", body, api_key), 400, field)
    assert stored_state() == before


def test_an_unknown_run_is_a_404(client, api_key, run_id):
    r = post(client, "/api/v1/runs/999999/batches", {"writer": "w", "seq": 0, "rows": []}, api_key)
    rejected(r, 404, "run", "999999")
    rejected(client.get("/api/v1/runs/999999", **auth(api_key)), 404, "run")
    rejected(post(client, "/api/v1/runs", {"project": "digits", "id": 999999}, api_key), 404, "run")


def test_an_oversize_body_is_rejected(client, api_key, run_id):
    before = stored_state()
    rows = [[s, 1.0, {"loss": 0.5}] for s in range(2000)]
    with override_settings(TRACKER_MAX_BODY_BYTES=10_000):
        r = post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": rows}, api_key)
    rejected(r, 413, "body", "limit is 10000")
    assert stored_state() == before


def test_a_gzip_bomb_is_rejected_after_decompressing_only_the_limit(client, api_key, run_id):
    import gzip

    body = gzip.compress(b'{"writer": "w", "seq": 1, "rows": [' + b" " * 5_000_000 + b"]}")
    with override_settings(TRACKER_MAX_BODY_BYTES=100_000):
        r = client.post(
            f"/api/v1/runs/{run_id}/batches",
            body,
            content_type="application/json",
            HTTP_CONTENT_ENCODING="gzip",
            **auth(api_key),
        )
    rejected(r, 413, "body", "decompressed")


def test_a_batch_over_the_row_or_point_cap_is_rejected(client, api_key, run_id):
    before = stored_state()
    rows = [[s, 1.0, {"a": 1.0, "b": 2.0}] for s in range(50)]
    with override_settings(TRACKER_MAX_BATCH_ROWS=10):
        rejected(
            post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": rows}, api_key),
            413,
            "rows",
            "at most 10 rows",
        )
    with override_settings(TRACKER_MAX_BATCH_POINTS=60):
        rejected(
            post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": rows}, api_key),
            413,
            "rows",
            "at most 60 points",
        )
    assert stored_state() == before


def test_a_body_that_is_not_json_is_a_415(client, api_key, run_id):
    r = client.post(f"/api/v1/runs/{run_id}/batches", "seq=1", content_type="text/plain", **auth(api_key))
    rejected(r, 415, "Content-Type", "application/json")


def test_a_missing_key_is_a_401(client, run_id):
    before = stored_state()
    rejected(
        post(client, f"/api/v1/runs/{run_id}/batches", {"writer": "w", "seq": 1, "rows": []}, None),
        401,
        "Authorization",
        "create_api_key",
    )
    rejected(client.get(f"/api/v1/runs/{run_id}"), 401, "Authorization")
    assert stored_state() == before


def test_an_invalid_or_revoked_key_is_a_401(client, api_key, run_id):
    rejected(
        post(client, "/api/v1/runs", {"project": "x"}, "trk_not-a-real-key"), 401, "Authorization", "invalid"
    )
    r = client.post("/api/v1/runs", b"{}", content_type="application/json", HTTP_AUTHORIZATION="Basic abc")
    rejected(r, 401, "Authorization", "Bearer")
    ApiKey.objects.get().revoke()
    rejected(post(client, "/api/v1/runs", {"project": "x"}, api_key), 401, "Authorization", "revoked")
    assert Run.objects.count() == 1


def test_a_stranger_can_neither_read_nor_write_the_owners_run(client, api_key, stranger_api_key, run_id):
    before = stored_state()
    batch = {"writer": "evil", "seq": 0, "rows": [[9, 1.0, {"loss": 99.0}]]}
    rejected(post(client, f"/api/v1/runs/{run_id}/batches", batch, stranger_api_key), 404, "run")
    rejected(
        post(client, f"/api/v1/runs/{run_id}/finish", {"status": "failed"}, stranger_api_key), 404, "run"
    )
    rejected(post(client, f"/api/v1/runs/{run_id}/heartbeat", {}, stranger_api_key), 404, "run")
    rejected(post(client, "/api/v1/runs", {"project": "digits", "id": run_id}, stranger_api_key), 404, "run")
    rejected(client.get(f"/api/v1/runs/{run_id}", **auth(stranger_api_key)), 404, "run")
    rejected(client.get(f"/api/v1/runs/{run_id}/history", **auth(stranger_api_key)), 404, "run")
    rejected(client.get("/api/v1/projects/digits/runs", **auth(stranger_api_key)), 404, "project")
    assert client.get("/api/v1/projects", **auth(stranger_api_key)).json() == {"projects": []}
    assert stored_state() == before


def test_a_stranger_logging_to_a_project_of_the_same_name_gets_their_own(
    client, api_key, stranger_api_key, run_id
):
    theirs = post(client, "/api/v1/runs", {"project": "digits"}, stranger_api_key).json()["id"]
    assert Run.objects.get(pk=theirs).project != Run.objects.get(pk=run_id).project


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "project"),
        ({"project": ""}, "project"),
        ({"project": "p", "tags": "a"}, "tags"),
        ({"project": "p", "config": [1]}, "config"),
        ({"project": "p", "id": "3"}, "id"),
        ({"project": "p", "name": 5}, "name"),
        ({"project": "p" * 101}, "project"),
    ],
)
def test_run_creation_names_the_bad_field(client, api_key, body, field):
    rejected(post(client, "/api/v1/runs", body, api_key), 400, field)
    assert Run.objects.count() == 0


def test_finish_with_an_unknown_status_is_rejected(client, api_key, run_id):
    rejected(
        post(client, f"/api/v1/runs/{run_id}/finish", {"status": "done"}, api_key), 400, "status", "finished"
    )
    assert Run.objects.get(pk=run_id).status == "running"


def test_a_wrong_method_is_a_405(client, api_key, run_id):
    r = client.get(f"/api/v1/runs/{run_id}/batches", **auth(api_key))
    rejected(r, 405, None, "POST")
    assert r["Allow"] == "POST"


@pytest.mark.parametrize(
    "url",
    ["/api/v1/nope", "/api/v1/runs/abc", "/api/v1/runs/1/unknown", "/api/v2/runs", "/api/"],
)
def test_an_unknown_api_url_is_a_json_404(client, api_key, url):
    r = client.get(url, **auth(api_key))
    assert r["Content-Type"] == "application/json"
    rejected(r, 404, "path", "no API endpoint", "openapi.json")


def test_pages_keep_their_html_404(client, owner):
    client.force_login(owner)
    r = client.get("/no-such-page/")
    assert r.status_code == 404
    assert r["Content-Type"].startswith("text/html")


def test_an_unexpected_error_on_the_api_is_a_json_500(client, api_key, run_id, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("experiments.api.views.run_dict", broken)
    client.raise_request_exception = False
    r = client.get(f"/api/v1/runs/{run_id}", **auth(api_key))
    assert r["Content-Type"] == "application/json"
    body = rejected(r, 500, None, "internal server error")
    assert "boom" not in body["error"]


def test_a_request_django_refuses_is_a_json_400_on_the_api(client, api_key, run_id):
    query = "&".join(f"key=k{i}" for i in range(1100))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    r = client.get(f"/api/v1/runs/{run_id}/history?{query}", **auth(api_key))
    assert r["Content-Type"] == "application/json"
    rejected(r, 400, None, "TooManyFieldsSent")


def test_a_content_length_that_is_not_a_number_is_a_400(client, api_key, run_id):
    r = post(client, f"/api/v1/runs/{run_id}/heartbeat", {}, api_key, CONTENT_LENGTH="abc")
    rejected(r, 400, "Content-Length", "integer")
