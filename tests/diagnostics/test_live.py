"""When diagnosis runs, end to end: a live run is re-diagnosed inside the server as its
points arrive and the "findings" event reaches the run's and the project's websockets
(embedded shape: the in-memory channel layer, which only the server process can use);
a finished run is diagnosed by the Celery worker's ``run_diagnose`` task."""

import json
import time

import pytest
from django.test import Client
from websockets.sync.client import connect

import tracker
from experiments.diagnostics.models import Finding, RunDiagnosis
from experiments.models import Run
from tests.processes import ServerProcess, process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(transactional_db, tmp_path):
    """Overrides conftest's: live passes at most every 0.5 s."""
    proc = ServerProcess(
        {**process_env(), "TRACKER_DIAGNOSE_INTERVAL": "0.5"}, log_path=tmp_path / "server.log"
    )
    proc.start()
    yield proc
    proc.stop()


def websocket(server, owner, path: str):
    browser = Client()
    browser.force_login(owner)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    url = server.url.replace("http://", "ws://") + path
    return connect(url, additional_headers={"Cookie": cookie, "Origin": server.url}, open_timeout=10)


def next_change(ws, timeout: float = 20.0) -> dict:
    """The next "findings" event that reports a change (every pass sends one)."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message.get("type") == "findings" and message["changed"]:
            return message


def test_a_live_run_is_diagnosed_as_its_points_arrive_and_the_finding_is_pushed(sdk, owner):
    run = tracker.init(project="live-diagnosis", name="diverging")
    for step in range(20):
        tracker.log({"train/loss": 2.0 / (step + 1)}, step=step)
    run.flush(10)
    project_id = Run.objects.get(pk=run.id).project_id
    with (
        websocket(sdk, owner, f"/ws/runs/{run.id}/") as page,
        websocket(sdk, owner, f"/ws/projects/{project_id}/") as table,
    ):
        deadline = time.monotonic() + 20
        while not RunDiagnosis.objects.filter(run_id=run.id).exists():  # the first live pass: healthy
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert not Finding.objects.filter(run_id=run.id).exists()

        for step in range(20, 30):
            tracker.log({"train/loss": 10.0 ** (step - 18)}, step=step)
        tracker.log({"train/loss": float("nan")}, step=30)
        run.flush(10)
        pushed = next_change(page)
        counts = {"counts": {"critical": 1, "warning": 0, "info": 0}, "total": 1}
        assert pushed == {"type": "findings", "changed": True, **counts}
        assert next_change(table) == {**pushed, "run": run.id}
    finding = Finding.objects.get(run_id=run.id)
    assert finding.kind == "divergence" and finding.evidence["first_nonfinite_step"] == 30
    assert RunDiagnosis.objects.get(run_id=run.id).run_status == "running"  # judged while live
    tracker.finish()


def test_a_finished_run_is_diagnosed_by_the_worker(sdk, owner, celery_worker, tmp_path):
    # A server that never diagnoses in-process: only the Celery task can.
    sdk.stop()
    sdk.env = {**sdk.env, "TRACKER_DIAGNOSE_INTERVAL": "0"}
    sdk.start()
    run = tracker.init(project="worker-diagnosis", name="train-only")
    for step in range(40):
        tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
    assert not Finding.objects.filter(run_id=run.id).exists()
    tracker.finish()
    deadline = time.monotonic() + 30
    while not Finding.objects.filter(run_id=run.id).exists():
        assert time.monotonic() < deadline, celery_worker.log()[-3000:]
        time.sleep(0.2)
    # Both are only said of a run that has ended (a live one may evaluate or converge later).
    assert set(Finding.objects.filter(run_id=run.id).values_list("kind", flat=True)) == {
        "no_validation",
        "not_converged",
    }
    assert RunDiagnosis.objects.get(run_id=run.id).run_status == "finished"
    assert "experiments.tasks.run_diagnose" in celery_worker.log()
