"""Offline runs and ``python -m tracker sync``: uploaded once, resumable after a failure,
and what could not be kept is counted. That an offline run is stored as it would have
been online is the contract suite's (tests/sdk/test_contract.py)."""

import pytest

import tracker
from experiments.models import Run
from tests.sdk.support import stored_state, sync, train


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
