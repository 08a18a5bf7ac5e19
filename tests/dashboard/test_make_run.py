"""`make run`'s own launcher (dashboard/run.py) on a port other than the default: the
sweep trials its worker runs log back to that port and finish, and SIGTERM stops the
server and the worker within seconds (issue #12: `make run PORT=8300` broke every sweep,
and Ctrl-C flooded the log and crashed the worker)."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import tracker
from experiments.models import Run
from tests.conftest import FAST
from tests.processes import free_port, process_env
from tests.tuning.support import grant_run_sweeps
from tuning.models import TrialState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent.parent


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/api/v1/openapi.json", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"not up in {timeout}s:\n{log.read_text()}")


def test_a_sweep_started_on_a_non_default_port_finishes_and_sigterm_stops_everything(
    owner, api_key, tmp_path
):
    grant_run_sweeps(owner)
    port = free_port()
    env = {**process_env(), **FAST, "TUNING_ENTRY_POINT_MODULES": "examples"}
    env.pop("TRACKER_PUBLIC_URL", None)  # derived from --port, as `make run` does
    env.pop("TRACKER_SERVER_URL", None)
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc, log)
        assert f"Dashboard: {url}/" in log.read_text()
        sweep = tracker.sweep(
            project="ports",
            entry_point="examples.train_digits:train",
            space={"lr": {"type": "categorical", "choices": [0.003]}},
            objective="val/acc",
            n_trials=2,
            sampler="random",
            pruner="none",
            parallelism=2,
            config={"epochs": 2, "width": 8, "watch": None, "keep_checkpoints": 0},
            server=url,
            api_key=api_key,
        )
        sweep.wait(timeout=180, poll=0.5)
        assert sweep.status == "finished", log.read_text()
        trials = sweep.trials()
        assert [t["state"] for t in trials] == [TrialState.COMPLETE] * 2, log.read_text()
        for trial in trials:
            assert Run.objects.get(pk=trial["run_id"]).status == "finished"
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    stopped_in = time.monotonic() - started
    text = log.read_text()
    assert code == 0 and stopped_in < 12, (stopped_in, text[-2000:])
    assert text.count("Warm shutdown") <= 1 and "RecursionError" not in text
