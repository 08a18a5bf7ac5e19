"""A forked child (a DataLoader worker, a multiprocessing pool) that logs media or
finishes must neither hang on the parent's connection nor upload in its place."""

import os
import time

import pytest

import tracker
from experiments.models import Media


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_spools_its_media_and_the_parent_keeps_uploading(sdk):
    run = tracker.init(project="digits")
    tracker.log_confusion_matrix([0, 1], [0, 1], labels=["a", "b"], step=1)
    assert run._uploader.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: log, finish, leave without running the parent's atexit
        code = 1
        try:
            tracker.log_confusion_matrix([0, 1], [1, 1], labels=["a", "b"], step=2)
            run.finish(timeout=2)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    tracker.log_confusion_matrix([0, 1], [0, 0], labels=["a", "b"], step=3)
    run.finish()
    assert sorted(Media.objects.filter(run_id=run.id).values_list("step", flat=True)) == [1, 3]
    spooled = list((run.dir / "uploads").glob("*-media.json"))
    assert len(spooled) == 1, "the child's matrix waits on disk for python -m tracker.uploader"
