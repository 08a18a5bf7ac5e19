"""The MLflow-compatible API counts against the same per-key rate limit as our own API
(``TRACKER_RATE_LIMIT_PER_MINUTE``), and says so in MLflow's error shape: 429,
``REQUEST_LIMIT_EXCEEDED`` and ``Retry-After``."""

import time

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from tests import factories
from tests.teams.test_rate_limit import seconds_left

pytestmark = pytest.mark.django_db

# A window far longer than the test, so all its requests fall in one.
LIMIT, WINDOW = 3, 3600


@pytest.fixture
def fresh_counts():
    """Forget the counts of the keys this test makes (the cache may be a shared Redis,
    and a rolled-back test database may hand out the same key ids again)."""

    def forget(key_pk: int) -> None:
        window = int(time.time() // WINDOW)
        cache.delete_many([f"ratelimit:{key_pk}:{WINDOW}:{w}" for w in (window, window + 1)])

    return forget


def _key(user, forget):
    from experiments.models import ApiKey

    raw = factories.api_key(user)
    forget(ApiKey.authenticate(raw).pk)
    return raw


@override_settings(TRACKER_RATE_LIMIT_PER_MINUTE=LIMIT, TRACKER_RATE_LIMIT_WINDOW_SECONDS=WINDOW)
def test_a_key_over_its_limit_gets_mlflows_request_limit_exceeded(owner, stranger, fresh_counts):
    key, other = _key(owner, fresh_counts), _key(stranger, fresh_counts)
    client = Client()
    url = "/api/2.0/mlflow/experiments/search"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    answers = [
        client.post(url, {"max_results": 10}, content_type="application/json", **auth) for _ in range(LIMIT)
    ]
    before = time.time()
    answers.append(client.post(url, {"max_results": 10}, content_type="application/json", **auth))
    after = time.time()
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    refused = answers[-1]
    body = refused.json()
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert (
        "TRACKER_RATE_LIMIT_PER_MINUTE" in body["message"]
        and f"more than {LIMIT} requests" in body["message"]
    )
    # The seconds left in the window at the refusal (the window's end, rounded up).
    assert seconds_left(after, WINDOW) <= int(refused["Retry-After"]) <= seconds_left(before, WINDOW)
    # A GET and a write are counted and refused alike, before anything is written.
    read = client.get("/api/2.0/mlflow/experiments/get?experiment_id=0", **auth)
    assert read.status_code == 429 and read.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    write = client.post(
        "/api/2.0/mlflow/experiments/create", {"name": "over-limit"}, content_type="application/json", **auth
    )
    assert write.status_code == 429
    from experiments.models import Project

    assert not Project.objects.filter(name="over-limit").exists()
    # Another key has its own count.
    other_answer = client.post(
        url, {"max_results": 10}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {other}"
    )
    assert other_answer.status_code == 200


@override_settings(TRACKER_RATE_LIMIT_PER_MINUTE=LIMIT, TRACKER_RATE_LIMIT_WINDOW_SECONDS=WINDOW)
def test_the_native_and_the_mlflow_api_share_one_count_per_key(owner, fresh_counts):
    key = _key(owner, fresh_counts)
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    for _ in range(LIMIT):
        assert client.get("/api/v1/projects", **auth).status_code == 200
    answer = client.get("/api/2.0/mlflow/experiments/get?experiment_id=0", **auth)
    assert answer.status_code == 429 and answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"


def test_no_limit_when_the_setting_is_zero(owner, fresh_counts):
    key = _key(owner, fresh_counts)
    client = Client()
    with override_settings(TRACKER_RATE_LIMIT_PER_MINUTE=0):
        statuses = {
            client.get(
                "/api/2.0/mlflow/experiments/get?experiment_id=0", HTTP_AUTHORIZATION=f"Bearer {key}"
            ).status_code
            for _ in range(LIMIT + 2)
        }
    assert statuses == {200}


# --- the real mlflow client against a live server with the limit on --------------------

LIVE_LIMIT, LIVE_WINDOW = 4, 3


@pytest.fixture
def limited_mlflow(transactional_db, tmp_path, owner, monkeypatch):
    """A live server with a small limit, and the mlflow client pointed at it as a user
    configures it (``MLFLOW_TRACKING_URI`` and ``MLFLOW_TRACKING_TOKEN``)."""
    from tests.mlflow.conftest import _reset_mlflow
    from tests.processes import ServerProcess, process_env

    env = {
        **process_env(),
        "TRACKER_RATE_LIMIT_PER_MINUTE": str(LIVE_LIMIT),
        "TRACKER_RATE_LIMIT_WINDOW_SECONDS": str(LIVE_WINDOW),
    }
    proc = ServerProcess(env, log_path=tmp_path / "server.log")
    proc.start(timeout=120)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", proc.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", factories.api_key(owner))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.chdir(tmp_path)
    _reset_mlflow()
    yield proc
    _reset_mlflow()
    proc.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_the_mlflow_client_is_refused_then_keeps_every_metric_by_waiting(limited_mlflow, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from experiments.models import Run

    # Without retries, the client surfaces the refusal.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient()
    time.sleep(LIVE_WINDOW - time.time() % LIVE_WINDOW + 0.05)  # a fresh window
    with pytest.raises(MlflowException) as refused:
        for _ in range(LIVE_LIMIT + 1):
            client.search_experiments()
    # (the client retries on 429 and so reports the status, not our body: the Django
    # client tests above read the body)
    assert "too many 429 error responses" in str(refused.value)

    # With its retries (the default), it waits as Retry-After says and loses nothing.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
    time.sleep(LIVE_WINDOW - time.time() % LIVE_WINDOW + 0.05)
    experiment = client.create_experiment("limited")
    run_id = client.create_run(experiment).info.run_id
    started = time.monotonic()
    for step in range(3 * LIVE_LIMIT):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    took = time.monotonic() - started
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(3 * LIVE_LIMIT))
    assert Run.objects.get(name=client.get_run(run_id).info.run_name).points_count == 3 * LIVE_LIMIT
    # 12 writes at 4 per 3 s window could not all pass in one window: the client waited.
    assert took >= LIVE_WINDOW
