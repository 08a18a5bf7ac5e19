"""``python -m tracker import mlflow``: runs logged by the real mlflow client into a local
``mlruns`` folder (MLflow's file store)."""

import math
import time

import pytest

from experiments.models import Media, Run
from tests.importers.support import points, run_import, stored_points

STEPS = 1_200


@pytest.fixture
def mlruns(tmp_path, monkeypatch):
    """Three runs in two experiments, as the mlflow client writes them: finished and
    failed, params, tags, a note, a nested run, metrics with NaN and thousands of points."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 asks before using it
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    mlflow.set_experiment("vision")
    with mlflow.start_run(run_name="resnet") as parent:
        mlflow.log_params({"lr": 0.01, "optimizer": "adam", "layers": 18})
        mlflow.set_tags({"team": "cv", "mlflow.note.content": "the baseline"})
        start = int(time.time() * 1000)
        losses = [Metric("train/loss", 1.0 / (step + 1), start + step, step) for step in range(STEPS)]
        client.log_batch(parent.info.run_id, metrics=losses)  # one write: the file store is slow per call
        mlflow.log_metric("val/acc", 0.5, step=10)
        mlflow.log_metric("val/acc", math.nan, step=20)
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_param("seed", 3)
            mlflow.log_metric("val/acc", 0.25, step=0)
    mlflow.set_experiment("nlp")
    with pytest.raises(RuntimeError), mlflow.start_run(run_name="diverged") as failed:
        mlflow.log_metric("loss", 9.5, step=0)
        raise RuntimeError("NaN loss")
    mlflow.set_tracking_uri(None)
    return (
        tmp_path / "mlruns",
        client,
        {"parent": parent.info.run_id, "child": child.info.run_id, "failed": failed.info.run_id},
    )


def test_every_param_tag_and_point_arrives(sdk, mlruns):
    folder, client, ids = mlruns

    done = run_import("mlflow", folder)

    assert done.returncode == 0, done.stdout + done.stderr
    runs = {run.name: run for run in Run.objects.select_related("project")}
    assert {name: (r.project.name, r.status) for name, r in runs.items()} == {
        "resnet": ("vision", "finished"),
        "child": ("vision", "finished"),
        "diverged": ("nlp", "failed"),
    }
    for name, key in (("resnet", "parent"), ("child", "child"), ("diverged", "failed")):
        source = client.get_run(ids[key])
        run = runs[name]
        assert run.config == source.data.params  # every param, as MLflow stores it (strings)
        assert f"mlflow:{ids[key]}" in run.tags
        assert run.started_at.timestamp() == source.info.start_time / 1000
        assert run.finished_at.timestamp() == source.info.end_time / 1000
        for metric in source.data.metrics:
            expected = sorted(
                (m.step, m.value, m.timestamp / 1000) for m in client.get_metric_history(ids[key], metric)
            )
            stored = points(run.pk, metric)
            assert [(s, w) for s, _, w in stored] == [(s, w) for s, _, w in expected]
            assert all(
                a == b or (math.isnan(a) and math.isnan(b)) for (_, a, _), (_, b, _) in zip(stored, expected)
            )
    resnet = runs["resnet"]
    assert len(points(resnet.pk, "train/loss")) == STEPS
    assert {"mlflow", "team=cv"} <= set(resnet.tags)
    assert runs["child"].group == ids["parent"]
    assert Media.objects.get(run=resnet, kind="text").data == {"value": "the baseline"}
    assert "points  1204 read, 1204 on the server" in done.stdout
    assert "params  4 read, 4 stored" in done.stdout


def test_a_reimport_stores_nothing_twice_and_adds_what_was_logged_since(sdk, mlruns):
    import mlflow

    from tracker.importers.mlflow import import_mlflow

    folder, _, ids = mlruns
    first = import_mlflow(str(folder), progress=False)
    counts = stored_points()

    again = import_mlflow(str(folder), progress=False)

    assert (first.points_stored, again.points_stored, again.points_present) == (1204, 0, 1204)
    assert stored_points() == counts and again.runs_unchanged == 3 and again.complete
    mlflow.set_tracking_uri(folder.as_uri())
    with mlflow.start_run(run_id=ids["failed"]):
        mlflow.log_metric("loss", 1.5, step=1)
    mlflow.set_tracking_uri(None)

    third = import_mlflow(str(folder), progress=False)

    assert (third.points_stored, third.points_present, third.runs_updated) == (1, 1204, 1)
    diverged = Run.objects.get(name="diverged")
    assert [(s, v) for s, v, _ in points(diverged.pk, "loss")] == [(0, 9.5), (1, 1.5)]
    assert diverged.points_count == 2 and diverged.status == "finished"
