"""What the server gives importers: the source's start and end times, and per-writer
receipts to resume from (Django's test client, no live server needed)."""

import pytest

from tests.helpers import auth, post, rejected

pytestmark = pytest.mark.django_db


def test_a_run_keeps_the_start_and_end_times_it_is_given(client, api_key):
    created = post(client, "/api/v1/runs", {"project": "old", "started_at": 1_500_000_000.25}, api_key)
    run_id = created.json()["id"]

    ended = post(
        client, f"/api/v1/runs/{run_id}/finish", {"status": "failed", "finished_at": 1_500_003_600}, api_key
    )

    assert created.json()["started_at"].startswith("2017-07-14T02:40:00.25")
    assert ended.json()["finished_at"].startswith("2017-07-14T03:40:00")
    assert ended.json()["duration_seconds"] == pytest.approx(3599.75)


@pytest.mark.parametrize("value", ["2017-07-14", "NaN", -1, 1e13, True])
def test_a_time_that_is_not_unix_seconds_is_refused_naming_the_field(client, api_key, value):
    answer = post(client, "/api/v1/runs", {"project": "old", "started_at": value}, api_key)

    rejected(answer, 400, "started_at", "unix seconds")


def test_receipts_tell_each_writer_where_it_got_to_and_only_to_the_owner(client, api_key, stranger_api_key):
    run_id = post(client, "/api/v1/runs", {"project": "old"}, api_key).json()["id"]
    for writer, seq, rows in (("tb-a", 120, 2), ("tb-a", 340, 1), ("tb-b", 77, 3)):
        body = {"writer": writer, "seq": seq, "rows": [[i, 1.0, {"loss": 0.5}] for i in range(rows)]}
        assert post(client, f"/api/v1/runs/{run_id}/batches", body, api_key).status_code == 200

    answer = client.get(f"/api/v1/runs/{run_id}/receipts", **auth(api_key)).json()

    assert answer == {
        "writers": {
            "tb-a": {"last_seq": 340, "batches": 2, "points": 3},
            "tb-b": {"last_seq": 77, "batches": 1, "points": 3},
        }
    }
    assert client.get(f"/api/v1/runs/{run_id}/receipts", **auth(stranger_api_key)).status_code == 404
