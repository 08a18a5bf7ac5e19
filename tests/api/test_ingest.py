"""The ingestion API: create/resume, batches, heartbeat, finish, through real HTTP requests."""

import math

import pytest

from experiments.models import BatchReceipt, Metric, Run
from tests.helpers import auth, post, post_gzip, stored_points

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_id(client, api_key) -> int:
    r = post(
        client, "/api/v1/runs", {"project": "digits", "name": "baseline", "config": {"lr": 0.01}}, api_key
    )
    assert r.status_code == 201, r.content
    return r.json()["id"]


def batch(seq: int, rows: list, writer: str = "w1", **extra) -> dict:
    return {"writer": writer, "seq": seq, "rows": rows, **extra}


def test_it_creates_a_run_in_a_new_project(client, api_key, owner):
    r = post(
        client,
        "/api/v1/runs",
        {
            "project": "digits",
            "name": "cnn",
            "group": "seeds",
            "tags": ["a", "b"],
            "config": {"lr": 0.1},
            "host": "gpu-1",
            "python_version": "3.11.7",
            "torch_version": "2.13.0",
        },
        api_key,
    )
    assert r.status_code == 201
    data = r.json()
    assert data["name"] == "cnn" and data["status"] == "running" and data["resumed"] is False
    assert data["url"].endswith(f"/runs/{data['id']}/")
    run = Run.objects.get(pk=data["id"])
    assert (run.project.name, run.project.owner, run.group, run.tags) == (
        "digits",
        owner,
        "seeds",
        ["a", "b"],
    )
    assert (run.config, run.host, run.torch_version) == ({"lr": 0.1}, "gpu-1", "2.13.0")


def test_it_names_unnamed_runs(client, api_key):
    names = [post(client, "/api/v1/runs", {"project": "p"}, api_key).json()["name"] for _ in range(2)]
    assert names == ["run-1", "run-2"]


def test_it_stores_a_batch_exactly(client, api_key, run_id):
    rows = [[s, 1700000000.0 + s, {"train/loss": 1.0 / (s + 1), "train/acc": s / 10}] for s in range(10)]
    r = post(client, f"/api/v1/runs/{run_id}/batches", batch(0, rows), api_key)
    assert r.json() == {"stored": 20, "duplicate": False, "should_stop": False}
    loss = Metric.objects.get(run_id=run_id, key="train/loss")
    points = [(s, v, w) for _, s, v, w, _ in stored_points(run_id, "train/loss")]
    assert points == [(s, 1.0 / (s + 1), 1700000000.0 + s) for s in range(10)]
    assert (loss.count, loss.last_step, loss.last_value) == (10, 9, 0.1)
    assert (loss.min_value, loss.min_step, loss.max_value, loss.max_step) == (0.1, 9, 1.0, 0)
    assert Run.objects.get(pk=run_id).points_count == 20


def test_it_stores_nan_and_infinities_and_returns_them(client, api_key, run_id):
    rows = [
        [0, 1.0, {"loss": 2.0}],
        [1, 2.0, {"loss": "NaN"}],
        [2, 3.0, {"loss": "Infinity"}],
        [3, 4.0, {"loss": "-Infinity"}],
        [4, 5.0, {"loss": 1}],
    ]
    assert post(client, f"/api/v1/runs/{run_id}/batches", batch(0, rows), api_key).status_code == 200
    history = client.get(f"/api/v1/runs/{run_id}/history?key=loss", **auth(api_key)).json()
    assert history["metrics"]["loss"]["value"] == [2.0, "NaN", "Infinity", "-Infinity", 1.0]
    metric = Metric.objects.get(run_id=run_id, key="loss")
    assert metric.nonfinite_count == 3
    assert (metric.min_value, metric.max_value) == (-math.inf, math.inf)


def test_a_retried_batch_is_stored_once(client, api_key, run_id):
    rows = [[1, 1.0, {"loss": 0.5}]]
    first = post(client, f"/api/v1/runs/{run_id}/batches", batch(7, rows), api_key).json()
    again = post(client, f"/api/v1/runs/{run_id}/batches", batch(7, rows), api_key).json()
    other_writer = post(client, f"/api/v1/runs/{run_id}/batches", batch(7, rows, writer="w2"), api_key).json()
    assert (first["stored"], again["stored"], again["duplicate"], other_writer["stored"]) == (1, 0, True, 1)
    assert len(stored_points()) == 2 and BatchReceipt.objects.count() == 2
    assert Metric.objects.get(key="loss").count == 2


def test_steps_out_of_order_are_kept_and_a_relogged_step_supersedes(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/batches"
    post(
        client,
        url,
        batch(0, [[5, 5.0, {"loss": 5.0}], [2, 2.0, {"loss": 2.0}], [9, 9.0, {"loss": 9.0}]]),
        api_key,
    )
    post(client, url, batch(1, [[5, 10.0, {"loss": 0.5}]]), api_key)  # resumed from a checkpoint
    series = client.get(f"/api/v1/runs/{run_id}/history", **auth(api_key)).json()["metrics"]["loss"]
    assert series["step"] == [2, 5, 9]
    assert series["value"] == [2.0, 0.5, 9.0]
    assert len(stored_points()) == 4  # every point kept; reads apply the rule


def test_ranks_are_stored_apart(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/batches"
    post(client, url, batch(0, [[1, 1.0, {"loss": 1.0}]], rank=0), api_key)
    post(client, url, batch(0, [[1, 1.0, {"loss": 3.0}]], writer="w-rank1", rank=1), api_key)
    series = client.get(f"/api/v1/runs/{run_id}/history", **auth(api_key)).json()["metrics"]["loss"]
    assert list(zip(series["rank"], series["step"], series["value"])) == [(0, 1, 1.0), (1, 1, 3.0)]


def test_a_gzip_compressed_batch_is_accepted(client, api_key, run_id):
    rows = [[s, float(s), {"x": float(s)}] for s in range(1000)]
    r = post_gzip(client, f"/api/v1/runs/{run_id}/batches", batch(0, rows), api_key)
    assert r.json()["stored"] == 1000
    assert len(stored_points()) == 1000


def test_summary_updates_merge_into_the_run(client, api_key, run_id):
    post(client, f"/api/v1/runs/{run_id}/batches", batch(0, [], summary={"best/acc": 0.9}), api_key)
    post(client, f"/api/v1/runs/{run_id}/batches", batch(1, [], summary={"epochs": 3}), api_key)
    assert Run.objects.get(pk=run_id).summary == {"best/acc": 0.9, "epochs": 3}


def test_resuming_a_run_sets_it_running_and_merges_config(client, api_key, run_id):
    post(client, f"/api/v1/runs/{run_id}/finish", {"status": "failed", "exit_code": 1}, api_key)
    r = post(client, "/api/v1/runs", {"project": "digits", "id": run_id, "config": {"epochs": 5}}, api_key)
    assert r.status_code == 200 and r.json()["resumed"] is True
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.finished_at, run.config) == ("running", None, {"lr": 0.01, "epochs": 5})
    assert Run.objects.count() == 1


def test_heartbeat_counts_dropped_points_and_relays_a_stop_request(client, api_key, run_id):
    url = f"/api/v1/runs/{run_id}/heartbeat"
    assert post(client, url, {"dropped": 3}, api_key).json() == {"status": "running", "should_stop": False}
    Run.objects.filter(pk=run_id).update(stop_requested=True)
    assert post(client, url, {}, api_key).json()["should_stop"] is True
    assert Run.objects.get(pk=run_id).dropped_points == 3


def test_finish_records_status_error_and_summary(client, api_key, run_id):
    r = post(
        client,
        f"/api/v1/runs/{run_id}/finish",
        {
            "status": "failed",
            "exit_code": 2,
            "error": "Traceback: boom",
            "summary": {"acc": 0.5},
            "dropped": 4,
        },
        api_key,
    )
    assert r.status_code == 200
    data = r.json()
    assert (data["status"], data["exit_code"], data["error"], data["summary"]) == (
        "failed",
        2,
        "Traceback: boom",
        {"acc": 0.5},
    )
    run = Run.objects.get(pk=run_id)
    assert run.finished_at is not None and run.dropped_points == 4


def test_a_crashed_run_returns_to_running_when_its_client_speaks_again(client, api_key, run_id):
    Run.objects.filter(pk=run_id).update(status="crashed")
    post(client, f"/api/v1/runs/{run_id}/batches", batch(0, [[0, 0.0, {"loss": 1.0}]]), api_key)
    assert Run.objects.get(pk=run_id).status == "running"


def test_the_read_api_lists_projects_runs_and_metric_summaries(client, api_key, run_id):
    post(client, f"/api/v1/runs/{run_id}/batches", batch(0, [[3, 1.0, {"val/acc": 0.75}]]), api_key)
    projects = client.get("/api/v1/projects", **auth(api_key)).json()["projects"]
    assert [(p["name"], p["runs"]) for p in projects] == [("digits", 1)]
    runs = client.get("/api/v1/projects/digits/runs", **auth(api_key)).json()["runs"]
    assert [r["id"] for r in runs] == [run_id]
    run = client.get(f"/api/v1/runs/{run_id}", **auth(api_key)).json()
    assert run["config"] == {"lr": 0.01}
    assert run["metrics"] == {
        "val/acc": {"count": 1, "last_step": 3, "last_value": 0.75, "min": 0.75, "max": 0.75}
    }


def test_the_openapi_schema_describes_every_endpoint(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/runs",
        "/runs/{run_id}/batches",
        "/runs/{run_id}/heartbeat",
        "/runs/{run_id}/finish",
        "/runs/{run_id}/history",
        "/projects",
        "/projects/{name}/runs",
        "/runs/{run_id}",
    } <= set(schema["paths"])


def test_a_run_whose_client_went_silent_is_marked_crashed_and_recovers_on_heartbeat(client, api_key, run_id):
    from datetime import timedelta

    from django.utils import timezone

    from experiments.tasks import runs_detect_crashed

    other = post(client, "/api/v1/runs", {"project": "digits"}, api_key).json()["id"]
    Run.objects.filter(pk=run_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert runs_detect_crashed() == [run_id]
    assert dict(Run.objects.values_list("pk", "status")) == {run_id: "crashed", other: "running"}
    assert post(client, f"/api/v1/runs/{run_id}/heartbeat", {}, api_key).json()["status"] == "running"


def test_the_openapi_schema_includes_the_sweeps_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"/sweeps", "/sweeps/{sweep_id}", "/sweeps/{sweep_id}/trials"} <= set(paths)
    assert paths["/sweeps"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "project",
        "entry_point",
        "space",
        "objective",
    ]
