"""Helpers for SDK tests: ``python -m tracker sync``, a small training that touches every
feature a batch carries, and a run's stored state as the API returns it."""

import math
import os
import subprocess
import sys
from pathlib import Path

import tracker
from experiments.models import Run
from tests.processes import ROOT


def sync(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tracker", "sync", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def train(mode: str) -> tracker.Run:
    """A small, deterministic 'training' that touches every feature a batch carries."""
    with tracker.init(project="contract", mode=mode, config={"lr": 0.01, "opt": "adam"}, tags=["a"]) as run:
        for step in range(250):
            tracker.log({"train/loss": 2.0 / (step + 1), "lr": 0.01}, step=step)
            if step % 50 == 49:
                tracker.log({"val/acc": step / 250, "val/nan": math.nan, "val/inf": -math.inf}, step=step)
        run.summary["best/val_acc"] = 0.8
    return run


def stored_state(run_id: int) -> dict:
    """The run's row and every point as the API returns it (NaN as the string, so that
    states compare equal)."""
    run = Run.objects.get(pk=run_id)
    history = tracker.Api().run(run_id).history()
    return {
        "status": run.status,
        "config": run.config,
        "summary": run.summary,
        "tags": run.tags,
        "points_count": run.points_count,
        "points": sorted(
            (p["key"], p["step"], "NaN" if math.isnan(p["value"]) else p["value"], p["rank"]) for p in history
        ),
    }


def points_of(run_id: int, key: str) -> list[tuple[int, float]]:
    """(step, value) of every stored point of one metric, read back through the API."""
    return [(p["step"], p["value"]) for p in tracker.Api().run(run_id).history(key)]
