"""The real ``mlflow`` client pointed at a live test server, configured the way a user
does it: ``MLFLOW_TRACKING_URI`` and ``MLFLOW_TRACKING_TOKEN`` (our API key)."""

import os

import pytest


def _reset_mlflow() -> None:
    """Forget the fluent API's module state between tests (tracking URI, experiment, runs)."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None
    utils._tracking_uri = None
    # set_experiment() also writes the experiment into the environment.
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        os.environ.pop(name, None)


@pytest.fixture
def mlflow_env(server, api_key, monkeypatch, tmp_path):
    """The environment a user sets to log to us: the two MLflow variables, plus ours
    for reading back through ``tracker.Api``. No retries: an error shows at once."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", api_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    monkeypatch.chdir(tmp_path)  # frameworks write local files (checkpoints, mlruns) here
    _reset_mlflow()
    yield server
    _reset_mlflow()


@pytest.fixture
def client(mlflow_env):
    from mlflow import MlflowClient

    return MlflowClient()
