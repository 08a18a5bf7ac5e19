"""Fixtures for sweep tests: a server, Celery workers that run trials against it, a beat
that runs the watchdog, and a helper to wait for a sweep to end.

Import the fixtures you use from here: ``from tests.test_tuning_support import
sweep_workers_fixture`` makes ``sweep_workers`` available to the module's tests.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import ROOT, CeleryWorker, process_env

# Short intervals so that pruning, stops and lost workers play out in seconds.
FAST = {
    "TUNING_POLL_INTERVAL": "0.2",
    "TUNING_HEARTBEAT_INTERVAL": "0.5",
    # Long enough that a worker on a loaded test machine is not taken for dead.
    "TUNING_GRACE_PERIOD": "8",
    "TUNING_WATCHDOG_INTERVAL": "1",
    "TUNING_STOP_TIMEOUT": "30",
    "TUNING_CHILD_FLUSH_INTERVAL": "0.1",
}


def grant_run_sweeps(user) -> None:
    """Give ``user`` the permission to create and start sweeps (they run code on workers)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(content_type__app_label="tuning", codename="run_sweeps"))


def tuning_env(server) -> dict[str, str]:
    return {**process_env(), "TRACKER_SERVER_URL": server.url, **FAST}


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


def logs(tmp_path: Path) -> str:
    """Every worker and beat log of the test, for assertion messages."""
    return "\n".join(
        f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(tmp_path.glob("*.log"))
    )


def wait_for(predicate, timeout: float, what: str, tmp_path: Path | None = None, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(poll)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what}\n{logs(tmp_path) if tmp_path else ''}"
    )


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return True
