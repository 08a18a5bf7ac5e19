"""Who may do what, and what a mistake gets: MLflow's error shape with a 4xx naming the
field, nothing half-written; a stranger's key neither reads nor writes; endpoints we do
not serve answer ``ENDPOINT_NOT_FOUND``; HTTP Basic with the key as password works."""

import pytest
import requests

from experiments.models import PointChunk, Run


def _post(server, path: str, key: str, body: dict) -> requests.Response:
    return requests.post(
        f"{server.url}/api/2.0/mlflow/{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_strangers_key_can_neither_read_nor_write_the_owners_runs(client, mlflow_env, stranger_api_key):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    exp = client.create_experiment("private")
    run_id = client.create_run(exp).info.run_id
    client.log_metric(run_id, "loss", 0.5, step=0)

    mlflow_env_key = {"MLFLOW_TRACKING_TOKEN": stranger_api_key}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in mlflow_env_key.items():
            patch.setenv(name, value)
        stranger = MlflowClient()
        for attempt in (
            lambda: stranger.get_run(run_id),
            lambda: stranger.get_experiment(exp),
            lambda: stranger.log_metric(run_id, "loss", 9.0, step=1),
            lambda: stranger.set_tag(run_id, "owned", "yes"),
            lambda: stranger.get_metric_history(run_id, "loss"),
            lambda: stranger.search_runs([exp]),
        ):
            with pytest.raises(MlflowException) as caught:
                attempt()
            assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"  # existence not revealed
        assert stranger.get_experiment_by_name("private") is None
        assert stranger.search_experiments() == []

    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.5]
    assert "owned" not in client.get_run(run_id).data.tags


def test_credentials_bearer_basic_and_refusals(mlflow_env, api_key, monkeypatch):
    url = f"{mlflow_env.url}/api/2.0/mlflow/experiments/get?experiment_id=0"
    assert requests.get(url, auth=("anyone", api_key), timeout=30).json()["experiment"]["name"] == "Default"
    for headers in ({}, {"Authorization": "Bearer trk_not-a-key"}, {"Authorization": "Token x"}):
        answer = requests.get(url, headers=headers, timeout=30)
        assert answer.status_code == 401 and answer.json()["error_code"] == "UNAUTHENTICATED"
        assert "MLFLOW_TRACKING_TOKEN" in answer.json()["message"] or "invalid" in answer.json()["message"]

    # The client's own Basic auth: MLFLOW_TRACKING_USERNAME + the key as MLFLOW_TRACKING_PASSWORD.
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "owner")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", api_key)
    mlflow.set_experiment("basic")
    with mlflow.start_run():
        mlflow.log_metric("x", 1.0)
    assert Run.objects.get(project__name="basic").status == "finished"


def test_endpoints_we_do_not_serve_say_so_in_mlflows_terms(client, mlflow_env, api_key):
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        client.create_registered_model("classifier")
    assert caught.value.error_code == "ENDPOINT_NOT_FOUND"
    answer = _post(mlflow_env, "traces/search", api_key, {})
    assert answer.status_code == 404 and answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_bad_input_is_refused_naming_the_field_and_nothing_is_half_written(client, mlflow_env, api_key):
    from mlflow.exceptions import MlflowException

    exp = client.create_experiment("strict")
    run_id = client.create_run(exp).info.run_id
    client.log_param(run_id, "lr", "0.01")
    run = Run.objects.get(pk=int(run_id, 16))
    chunks = PointChunk.objects.count()

    # A batch whose last metric is bad stores none of its metrics, params or tags.
    good = {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    cases = [
        (
            {"metrics": [good, {"key": "loss", "value": "high", "timestamp": 1, "step": 1}]},
            "metrics[1].value",
        ),
        ({"metrics": [good, {"key": "loss", "value": 1, "timestamp": 1, "step": -1}]}, "metrics[1].step"),
        ({"metrics": [good, {"key": "bad\nkey", "value": 1, "timestamp": 1}]}, "metrics[1].key"),
        ({"metrics": [good, {"key": "loss", "value": 1}]}, "metrics[1].timestamp"),
        ({"params": [{"key": "wd", "value": "0.1"}, {"key": "x", "value": "y" * 6001}]}, "params[1].value"),
        ({"params": [{"key": "wd", "value": "0.1"}], "tags": [{"key": "", "value": "v"}]}, "tags[0].key"),
    ]
    for body, field in cases:
        answer = _post(mlflow_env, "runs/log-batch", api_key, {"run_id": run_id, **body})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert field in answer.json()["message"]
    answer = _post(
        mlflow_env, "runs/log-metric", api_key, {"run_id": "z" * 32, "key": "k", "value": 1, "timestamp": 1}
    )
    assert answer.status_code == 404 and answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    answer = _post(mlflow_env, "runs/create", api_key, {"experiment_id": exp, "start_time": "soon"})
    assert answer.status_code == 400 and "start_time" in answer.json()["message"]
    answer = requests.post(
        f"{mlflow_env.url}/api/2.0/mlflow/runs/log-batch",
        data=b"{not json",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400 and answer.json()["error_code"] == "BAD_REQUEST"

    # A param is immutable, as in MLflow: another value is refused, the first kept.
    with pytest.raises(MlflowException, match="Changing param values is not allowed") as caught:
        client.log_param(run_id, "lr", "0.02")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="already exists"):
        client.create_experiment("strict")

    run.refresh_from_db()
    assert run.config == {"lr": 0.01} and run.points_count == 0
    assert PointChunk.objects.count() == chunks
    assert client.get_run(run_id).data.params == {"lr": "0.01"}


def test_a_read_only_key_reads_but_cannot_log(client, mlflow_env, owner):
    from experiments.models import ApiKey

    if not hasattr(ApiKey, "read_only"):
        pytest.skip("API key scopes are not in this checkout")
    exp = client.create_experiment("scoped")
    run_id = client.create_run(exp).info.run_id
    _, raw = ApiKey.issue(owner, name="ro", scope="read")
    read = requests.get(
        f"{mlflow_env.url}/api/2.0/mlflow/runs/get",
        params={"run_id": run_id},
        auth=("owner", raw),
        timeout=30,
    )
    assert read.status_code == 200 and read.json()["run"]["info"]["run_id"] == run_id
    answer = _post(
        mlflow_env, "runs/log-metric", raw, {"run_id": run_id, "key": "k", "value": 1, "timestamp": 1}
    )
    assert answer.status_code == 403 and answer.json()["error_code"] == "PERMISSION_DENIED"
    assert not PointChunk.objects.exists()
