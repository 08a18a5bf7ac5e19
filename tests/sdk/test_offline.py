"""Offline runs and ``python -m tracker sync``: the same run, stored the same way, later.

The contract test runs one training scenario through both transports (HTTP now, and the
offline spool + sync) and expects identical stored state.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["online", "offline"])
def test_online_and_offline_then_sync_store_the_same_run(sdk, mode):
    run = train(mode)
    if mode == "offline":
        assert run.id is None and not Run.objects.exists()
        done = sync(run.dir)
        assert done.returncode == 0, done.stderr
        run_id = Run.objects.get().id
    else:
        run_id = run.id
    state = stored_state(run_id)
    assert state["points_count"] == 250 * 2 + 5 * 3
    assert len(state["points"]) == 250 * 2 + 5 * 3
    assert state["status"] == "finished"
    assert state["config"] == {"lr": 0.01, "opt": "adam"}
    assert state["summary"] == {"best/val_acc": 0.8}
    assert state["tags"] == ["a"]
    nan_points = [p for p in state["points"] if p[0] == "val/nan"]
    assert [(p[1], p[2]) for p in nan_points] == [(step, "NaN") for step in (49, 99, 149, 199, 249)]
    assert {p[2] for p in state["points"] if p[0] == "val/inf"} == {-math.inf}
    loss = [p for p in state["points"] if p[0] == "train/loss"]
    assert [(p[1], p[2]) for p in loss] == [(step, 2.0 / (step + 1)) for step in range(250)]


@pytest.mark.django_db(transaction=True)
def test_sync_uploads_an_offline_run_once_even_when_run_twice(sdk):
    run = train("offline")
    first = sync(run.dir.parent)  # a root holding run directories works too
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout and "finish recorded" in first.stdout
    run_id = Run.objects.get().id
    before = stored_state(run_id)

    second = sync(run.dir)
    assert second.returncode == 0, second.stderr
    assert f"already synced (run {run_id})" in second.stdout
    assert Run.objects.count() == 1
    assert stored_state(run_id) == before
    assert Run.objects.get().points_count == 250 * 2 + 5 * 3


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_fails_midway_loses_nothing_and_can_be_rerun(sdk):
    run = train("offline")
    sdk.stop()
    failed = sync(run.dir)
    assert failed.returncode == 1
    assert "cannot reach" in failed.stderr and "nothing is lost" in failed.stderr
    sdk.start()
    done = sync(run.dir)
    assert done.returncode == 0, done.stderr
    assert Run.objects.get().points_count == 250 * 2 + 5 * 3


@pytest.mark.django_db(transaction=True)
def test_points_that_cannot_be_kept_are_counted_as_dropped(sdk, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the spool cannot live under a file")
    monkeypatch.setenv("TRACKER_DIR", str(blocker / "spool"))
    monkeypatch.setenv("TRACKER_MAX_PENDING_POINTS", "100")
    run = tracker.init(project="dropped")
    tracker.log({"x": 0.0}, step=0)
    assert run.flush(5)
    sdk.stop()
    for step in range(1, 501):
        tracker.log({"x": float(step)}, step=step)
        if step % 50 == 0:
            run.flush(0.1)  # let the sender try (and fail) to send and to spool
    sdk.start()
    result = run.finish()
    stored = Run.objects.get(pk=run.id)
    assert result.dropped > 0
    assert stored.dropped_points == result.dropped
    assert stored.points_count + stored.dropped_points == 501
    assert stored.status == "finished"


def test_a_spool_cut_short_by_a_crash_yields_its_complete_unacknowledged_batches(tmp_path):
    from tracker.spool import Spool

    directory = tmp_path / "run-1"
    directory.mkdir()
    bodies = [b'{"writer":"dead","seq":%d,"rank":0,"rows":[]}' % seq for seq in range(3)]
    lines = b"".join(b"%d\t%d\t%s\n" % (seq, 10 + seq, body) for seq, body in enumerate(bodies))
    (directory / "batches-dead.jsonl").write_bytes(lines + b'3\t13\t{"writer":"dead","se')
    (directory / "acks-dead.txt").write_text("1\n")

    spool = Spool(directory, writer=None)
    spool.adopt()
    assert [(e.writer, e.seq, e.points) for e in spool.pending] == [("dead", 0, 10), ("dead", 2, 12)]
    assert [spool.read(e) for e in spool.pending] == [bodies[0], bodies[2]]
    for entry in list(spool.pending):
        spool.ack(entry)
    spool.close()
    assert sorted(p.name for p in directory.iterdir()) == []  # all stored: the files go
