import pytest

from tests.processes import CeleryWorker, process_env


@pytest.fixture
def alert_worker(transactional_db, tmp_path):
    """A real Celery worker whose delivery retries come quickly (0.2 s, 0.4 s, ...)."""
    env = process_env() | {"ALERTS_RETRY_BACKOFF": "0.2", "ALERTS_MAX_RETRIES": "3"}
    worker = CeleryWorker(env, log_path=tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()
