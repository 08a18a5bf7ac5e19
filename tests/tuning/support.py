"""Helpers for sweep tests: fast tuning settings, the sweep permission, waiting for a
sweep to end, and checking on processes. The ``sweep_workers`` fixture is in conftest.py."""

import os
import signal
import time
from pathlib import Path

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
