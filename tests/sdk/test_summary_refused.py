"""A summary the server refuses (over its size cap) costs only the summary: the points that
rode with it arrive, and the run still ends, instead of the batch being set aside."""

import logging

import pytest

import tracker
from experiments.models import Run
from tests.conftest import FAST
from tests.helpers import stored_points
from tests.processes import ServerProcess, process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_summary_server(transactional_db, tmp_path, api_key, monkeypatch):
    proc = ServerProcess(
        {**process_env(), "TRACKER_MAX_SUMMARY_BYTES": "2000"}, log_path=tmp_path / "server.log"
    )
    proc.start()
    monkeypatch.setenv("TRACKER_SERVER", proc.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "spool"))
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    yield proc
    tracker.finish(timeout=1)
    proc.stop()


def test_a_refused_summary_costs_only_itself_points_arrive_and_the_run_ends(small_summary_server, caplog):
    caplog.set_level(logging.WARNING, logger="tracker")
    run = tracker.init(project="summary-cap")
    run.summary["notes"] = "x" * 5000  # over the server's 2,000-byte cap
    for step in range(100):
        tracker.log({"loss": 1.0 / (step + 1)}, step=step)
    result = tracker.finish(timeout=15)

    stored = Run.objects.get(pk=run.id)
    assert stored.status == "finished"
    assert len(stored_points(run_id=run.id, key="loss")) == 100
    assert result.quarantined_batches == 0
    assert "notes" not in stored.summary
    assert "refused the run summary" in caplog.text and "TRACKER_MAX_SUMMARY_BYTES" in caplog.text
