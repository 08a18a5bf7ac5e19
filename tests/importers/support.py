"""Running ``python -m tracker import ...`` as a user would, and reading back what the
server stored."""

import os
import subprocess
import sys
from pathlib import Path

import tracker
from experiments.models import Run
from tests.processes import ROOT


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment (``sdk`` fixture: server and key) for a command."""
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def run_import(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m tracker import ARGS`` against the test server; fails the test on a crash."""
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "import", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=cli_env(),
    )
    assert done.returncode in (0, 1), done.stderr + done.stdout
    return done


def points(run_id: int, key: str) -> list[tuple[int, float, float]]:
    """(step, value, wall time) of every stored point of ``key``, by step."""
    history = tracker.Api().run(run_id).history([key])
    return sorted((p["step"], p["value"], p["wall_time"]) for p in history)


def stored_points() -> dict[int, int]:
    """Points stored per run, as the server counted them at ingest (duplicates included)."""
    return dict(Run.objects.values_list("pk", "points_count"))
