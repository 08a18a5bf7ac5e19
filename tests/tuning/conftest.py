"""Sweep fixtures: Celery workers that run trials against the test server, and a beat
that runs the watchdog (helpers to wait and to check on processes: tests/tuning/support.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT, CeleryWorker, process_env
from tests.tuning.support import FAST


def tuning_env(server) -> dict[str, str]:
    return {**process_env(), "TRACKER_PUBLIC_URL": server.url, **FAST}


class Beat:
    """`celery -A dashboard beat`: runs the periodic tasks (here: the sweeps watchdog)."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.log_path = tmp / "beat.log"
        log = open(self.log_path, "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "celery", "-A", "dashboard", "beat", "--loglevel=INFO"]
        cmd += ["--schedule", str(tmp / "beat-schedule"), "--max-interval", "1"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(name="sweep_workers")
def sweep_workers_fixture(server, tmp_path):
    """``start(n)`` starts n Celery workers (and, with ``beat=True``, a beat) whose trials
    log to the test server (``**env`` overrides variables); all are killed at the end."""
    started: list = []

    def start(n: int = 1, beat: bool = False, **overrides: str) -> list[CeleryWorker]:
        env = {**tuning_env(server), **overrides}
        workers = []
        for i in range(n):
            worker = CeleryWorker(dict(env), log_path=tmp_path / f"worker-{len(started)}-{i}.log")
            worker.start()
            started.append(worker)
            workers.append(worker)
        if beat:
            started.append(Beat(dict(env), tmp_path))
        return workers

    yield start
    for proc in reversed(started):
        # Killed, not shut down: nothing of theirs outlives the test, and a warm shutdown
        # costs seconds per test. Their trial processes die with them (PDEATHSIG).
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(10)
