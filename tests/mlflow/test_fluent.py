"""The fluent API (``mlflow.set_experiment``, ``start_run``, ``log_params``, ...) against
a live server, every value read back through our own ``tracker.Api``, the run page and
the database."""

import math

import pytest

from experiments.models import Run
from mlflow_api.links import mlflow_run_id


def test_a_fluent_training_is_a_run_of_ours_with_its_params_metrics_and_tags(mlflow_env, owner):
    import mlflow

    import tracker

    experiment = mlflow.set_experiment("digits")
    with mlflow.start_run(run_name="mlp") as active:
        mlflow.log_params({"lr": "0.01", "layers": 3, "optimizer": "adam", "eps": "1e-3"})
        for step in range(5):
            mlflow.log_metrics({"train/loss": 1 / (step + 1), "val/acc": step / 10}, step=step)
        mlflow.log_metric("val/acc", float("nan"), step=5)
        mlflow.set_tag("team", "vision")
        mlflow.set_tag("mlflow.note.content", "first try")

    run = tracker.Api().runs("digits")[0]
    assert run.name == "mlp"
    assert run.status == "finished"
    # Params are config: numbers parsed for the runs table, text kept for MLflow.
    assert run.config == {"lr": 0.01, "layers": 3, "optimizer": "adam", "eps": 0.001}
    assert "team=vision" in run.tags
    history = run.history(["train/loss", "val/acc"])
    loss = [(p["step"], p["value"]) for p in history if p["key"] == "train/loss"]
    assert loss == [(s, 1 / (s + 1)) for s in range(5)]
    acc = [p["value"] for p in history if p["key"] == "val/acc"]
    assert acc[:5] == [s / 10 for s in range(5)] and math.isnan(acc[5])

    stored = Run.objects.get(pk=run.id)
    assert stored.notes == "first try"
    assert mlflow_run_id(stored) == active.info.run_id
    assert experiment.experiment_id == str(stored.project_id)
    # MLflow reads back what it logged: the params' text, the latest metric values.
    back = mlflow.get_run(active.info.run_id)
    assert back.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam", "eps": "1e-3"}
    assert back.data.metrics["train/loss"] == pytest.approx(0.2)
    assert math.isnan(back.data.metrics["val/acc"])
    assert back.data.tags["team"] == "vision" and back.data.tags["mlflow.runName"] == "mlp"
    assert back.info.status == "FINISHED" and back.info.end_time >= back.info.start_time


def test_the_run_page_shows_a_run_logged_through_mlflow(mlflow_env, owner, client):
    import mlflow
    from django.test import Client

    mlflow.set_experiment("pages")
    with mlflow.start_run(run_name="from-mlflow"):
        mlflow.log_param("batch_size", "64")
        mlflow.log_metric("val/loss", 0.25, step=3)
    stored = Run.objects.get(name="from-mlflow")
    browser = Client()
    browser.force_login(owner)
    page = browser.get(f"/runs/{stored.pk}/").content.decode()
    assert "from-mlflow" in page and "batch_size" in page and "val/loss" in page
    series = browser.get(f"/runs/{stored.pk}/series.json?key=val/loss").json()
    assert "0.25" in str(series)


def test_an_exception_inside_start_run_marks_the_run_failed(mlflow_env):
    import mlflow

    import tracker

    mlflow.set_experiment("crashy")
    with pytest.raises(RuntimeError, match="diverged"), mlflow.start_run(run_name="boom"):
        mlflow.log_metric("loss", 1.0, step=0)
        raise RuntimeError("diverged")
    run = tracker.Api().runs("crashy")[0]
    assert run.status == "failed"
    assert mlflow.get_run(mlflow_run_id(Run.objects.get(pk=run.id))).info.status == "FAILED"


def test_runs_without_an_experiment_go_to_the_default_experiment(mlflow_env):
    import mlflow

    import tracker

    with mlflow.start_run() as active:
        mlflow.log_metric("x", 2.0)
    assert active.info.experiment_id == "0"
    runs = tracker.Api().runs("Default")
    assert [r.config for r in runs] == [{}]
    assert mlflow.get_experiment("0").name == "Default"
