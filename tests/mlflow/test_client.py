"""``MlflowClient`` against a live server: search with the filter grammar, ordering and
pages; metric history; ``log_batch`` at MLflow's limits and one over; delete / restore;
artifacts up and down. Values are checked in our own store too."""

import time

import pytest
import requests

from experiments.models import Checkpoint, Metric, PointChunk, Run
from mlflow_api.links import mlflow_run_id


def _finished_run(
    client, experiment_id: str, name: str, lr: str, acc: float, status: str = "FINISHED"
) -> str:
    run = client.create_run(experiment_id, run_name=name, tags={"kind": "sweep" if lr != "0.1" else "probe"})
    client.log_param(run.info.run_id, "lr", lr)
    client.log_metric(run.info.run_id, "val/acc", acc, step=1)
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


def test_search_runs_filters_orders_and_pages_like_mlflow(client):
    exp = client.create_experiment("sweep")
    ids = {}
    for i, (lr, acc) in enumerate([("0.01", 0.91), ("0.001", 0.95), ("0.1", 0.42), ("0.01", 0.97)]):
        ids[i] = _finished_run(client, exp, f"trial-{i}", lr, acc)
        time.sleep(0.01)  # distinct start times: the default order is newest first
    running = client.create_run(exp, run_name="still-going")
    client.log_metric(running.info.run_id, "val/acc", 0.99, step=1)

    found = client.search_runs(
        [exp],
        "metrics.`val/acc` > 0.9 and params.lr = '0.01' and tags.kind = 'sweep' "
        "and attributes.status = 'FINISHED'",
        order_by=["metrics.`val/acc` DESC"],
    )
    assert [r.info.run_id for r in found] == [ids[3], ids[0]]
    assert found[0].data.params["lr"] == "0.01" and found[0].data.metrics["val/acc"] == 0.97

    like = client.search_runs([exp], "attributes.run_name LIKE 'trial-%' and params.lr != '0.1'")
    assert {r.info.run_name for r in like} == {"trial-0", "trial-1", "trial-3"}
    assert [r.info.run_name for r in client.search_runs([exp], "params.lr IN ('0.1', '0.5')")] == ["trial-2"]

    # Pages of two, in the order asked for: every run once.
    seen, token = [], None
    while True:
        page = client.search_runs(
            [exp], "", order_by=["attributes.run_name ASC"], max_results=2, page_token=token
        )
        seen += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert seen == ["still-going", "trial-0", "trial-1", "trial-2", "trial-3"]

    # The default order is newest first.
    assert [r.info.run_name for r in client.search_runs([exp])][:2] == ["still-going", "trial-3"]


def test_a_bad_filter_is_refused_naming_what_is_wrong(client):
    from mlflow.exceptions import MlflowException

    exp = client.create_experiment("filters")
    for bad, words in [
        ("metrics.acc > 'high'", "expected a number"),
        ("params.lr > '0.1'", "Invalid comparator"),
        ("metrics.acc > 1 or params.x = 'y'", "'OR' is not supported"),
        ("colour = 'red'", "Invalid identifier"),
    ]:
        with pytest.raises(MlflowException, match=words) as caught:
            client.search_runs([exp], bad)
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_metric_history_and_log_batch_at_mlflows_limits(client, mlflow_env, api_key):
    from mlflow.entities import Metric as MlflowMetric
    from mlflow.entities import Param, RunTag

    exp = client.create_experiment("batches")
    run_id = client.create_run(exp).info.run_id
    now = int(time.time() * 1000)
    # Exactly the limits: 1000 entities, of them 100 params and... the client sends them as is.
    metrics = [MlflowMetric("loss", 1.0 / (s + 1), now + s, s) for s in range(900)]
    params = [Param(f"p{i}", str(i)) for i in range(100)]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.log_batch(run_id, metrics=[MlflowMetric("acc", 0.5, now, s) for s in range(1000)])
    client.log_batch(run_id, tags=[RunTag(f"t{i}", "x") for i in range(100)])

    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(900))
    assert history[10].value == pytest.approx(1 / 11) and history[10].timestamp == now + 10
    # The sampled history MLflow's UI asks for (ajax-api prefix): evenly spaced, ends kept.
    sampled = requests.get(
        f"{mlflow_env.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": [run_id], "metric_key": "loss", "max_results": 10},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    ).json()["metrics"]
    assert len(sampled) == 10 and sampled[0]["step"] == 0 and sampled[-1]["step"] == 899
    assert {m["run_id"] for m in sampled} == {run_id}
    stored = Run.objects.get(pk=int(run_id, 16))
    assert stored.config["p99"] == 99 and Metric.objects.get(run=stored, key="acc").count == 1000
    assert client.get_run(run_id).data.tags["t99"] == "x"

    # One over a limit, sent as raw HTTP (the client would split it): refused in MLflow's
    # shape, naming the limit, and nothing of that batch is stored.
    url = f"{mlflow_env.url}/api/2.0/mlflow/runs/log-batch"
    headers = {"Authorization": f"Bearer {api_key}"}
    chunks_before = PointChunk.objects.count()
    over = [
        (
            {"metrics": [{"key": "m", "value": 1, "timestamp": now, "step": s} for s in range(1001)]},
            "1000 metrics",
        ),
        ({"params": [{"key": f"q{i}", "value": "1"} for i in range(101)]}, "100 params"),
        ({"tags": [{"key": f"u{i}", "value": "1"} for i in range(101)]}, "100 tags"),
        (
            {
                "metrics": [{"key": "m", "value": 1, "timestamp": now, "step": s} for s in range(950)],
                "params": [{"key": f"q{i}", "value": "1"} for i in range(51)],
            },
            "1000 metrics, params, and tags",
        ),
    ]
    for body, limit in over:
        answer = requests.post(url, json={"run_id": run_id, **body}, headers=headers, timeout=30)
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert f"at most {limit}" in answer.json()["message"]
    assert PointChunk.objects.count() == chunks_before
    stored.refresh_from_db()
    assert "q0" not in stored.config and not any(t.startswith("u0") for t in stored.tags)


def test_delete_and_restore_a_run(client):
    exp = client.create_experiment("lifecycle")
    keep = _finished_run(client, exp, "keep", "0.01", 0.9)
    gone = _finished_run(client, exp, "gone", "0.01", 0.8)
    client.delete_run(gone)
    assert [r.info.run_id for r in client.search_runs([exp])] == [keep]
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    from mlflow.entities import ViewType

    assert [r.info.run_id for r in client.search_runs([exp], run_view_type=ViewType.DELETED_ONLY)] == [gone]
    client.restore_run(gone)
    assert {r.info.run_id for r in client.search_runs([exp])} == {keep, gone}
    # Our store keeps the run throughout: an MLflow delete is a soft delete.
    assert Run.objects.filter(pk=int(gone, 16)).exists()


def test_artifacts_go_up_and_come_down_through_our_artifact_store(client, tmp_path):
    from django.conf import settings

    exp = client.create_experiment("artifacts")
    run_id = client.create_run(exp).info.run_id
    local = tmp_path / "out"
    (local / "plots").mkdir(parents=True)
    (local / "plots" / "curve.csv").write_text("step,loss\n0,1.0\n")
    (local / "model.ckpt").write_bytes(b"\x00weights" * 1000)
    client.log_artifacts(run_id, str(local))
    client.log_text(run_id, "hello", "notes/readme.txt")

    listed = {f.path: f for f in client.list_artifacts(run_id)}
    assert set(listed) == {"model.ckpt", "notes", "plots"} and listed["plots"].is_dir
    assert listed["model.ckpt"].file_size == 8000
    assert [f.path for f in client.list_artifacts(run_id, "plots")] == ["plots/curve.csv"]
    down = client.download_artifacts(run_id, "", str(tmp_path / "down"))
    from pathlib import Path

    assert (Path(down) / "plots" / "curve.csv").read_text() == "step,loss\n0,1.0\n"
    assert (Path(down) / "model.ckpt").read_bytes() == b"\x00weights" * 1000
    assert (Path(down) / "notes" / "readme.txt").read_text() == "hello"
    # One artifact store: the files sit under our artifact root, and a checkpoint is one
    # of the run's checkpoints (the run page lists it; tracker.load_checkpoint loads it).
    root = Path(settings.TRACKER_ARTIFACT_ROOT or settings.MEDIA_ROOT)
    run = Run.objects.get(pk=int(run_id, 16))
    assert (root / "mlflow" / f"run-{run.pk}" / "plots" / "curve.csv").is_file()
    checkpoint = Checkpoint.objects.get(run=run)
    assert checkpoint.filename == "model.ckpt" and checkpoint.size == 8000
    assert mlflow_run_id(run) == run_id
