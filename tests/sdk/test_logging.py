"""The SDK against a real server, over HTTP: stops, resumes, refusals, forks, exits and ranks.
What a script logs is stored the same online and offline: tests/sdk/test_contract.py.

Every test here drives ``tracker`` over HTTP against a uvicorn process serving the app
on the test database, then checks both the read API and the stored rows.
"""

import logging
import time

import numpy as np
import pytest
import torch

import tracker
from experiments.models import Run
from tests.processes import ROOT
from tests.sdk.support import points_of


@pytest.mark.django_db(transaction=True)
def test_it_tells_the_script_to_stop_when_the_server_asks(sdk):
    run = tracker.init(project="digits")
    tracker.log({"loss": 1.0})
    assert tracker.should_stop() is False
    Run.objects.filter(pk=run.id).update(stop_requested=True)
    deadline = time.monotonic() + 5
    while not tracker.should_stop() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tracker.should_stop() is True
    assert run.finish().status == "finished"
    assert tracker.should_stop() is False  # no current run any more


@pytest.mark.django_db(transaction=True)
def test_it_resumes_a_run_by_id_and_merges_its_config(sdk, monkeypatch):
    first = tracker.init(project="digits", config={"lr": 0.1})
    tracker.log({"loss": 1.0}, step=0)
    first.finish()
    monkeypatch.setenv("TRACKER_RUN_ID", str(first.id))
    second = tracker.init(project="digits", config={"epochs": 3})
    assert second.id == first.id
    tracker.log({"loss": 0.5}, step=1)
    second.finish()
    stored = tracker.Api().run(first.id)
    assert stored.config == {"lr": 0.1, "epochs": 3}
    assert [(p["step"], p["value"]) for p in stored.history("loss")] == [(0, 1.0), (1, 0.5)]


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_start_with_a_bad_key_or_an_unknown_run(sdk, monkeypatch):
    with pytest.raises(tracker.InitError, match="invalid, expired or revoked"):
        tracker.init(project="digits", api_key="trk_not-a-real-key")
    with pytest.raises(tracker.InitError, match="run 999999 does not exist"):
        tracker.init(project="digits", id=999999)
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_api_lists_only_the_callers_runs(sdk, stranger_api_key):
    older = tracker.init(project="digits", name="older")
    older.finish()
    newer = tracker.init(project="digits", name="newer")
    newer.finish()
    runs = tracker.Api().runs("digits")
    assert [(r.id, r.name, r.status) for r in runs] == [
        (newer.id, "newer", "finished"),
        (older.id, "older", "finished"),
    ]
    stranger = tracker.Api(sdk.url, stranger_api_key)
    with pytest.raises(tracker.RequestFailed) as refused:
        stranger.run(older.id)
    assert refused.value.status == 404


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_logs_as_its_own_writer(sdk):
    import os

    run = tracker.init(project="digits")
    tracker.log({"parent/x": 1.0}, step=0)
    run.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: log, flush its own writer, leave without ending the run
        code = 1
        try:
            for step in range(20):
                tracker.log({"child/x": float(step)}, step=step)
            code = 0 if tracker.finish(timeout=5).pending_points == 0 else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if waited[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    tracker.log({"parent/x": 2.0}, step=1)
    run.finish()
    assert points_of(run.id, "child/x") == [(step, float(step)) for step in range(20)]
    assert points_of(run.id, "parent/x") == [(0, 1.0), (1, 2.0)]
    assert Run.objects.get(pk=run.id).status == "finished"


def test_log_drops_bad_keys_and_values_naming_the_key(caplog):
    """A bad key or value costs only itself: warned of (naming the key), not recorded;
    the step moves on. Strings are kept as text (tests/sdk/test_log_values.py)."""
    run = tracker.init(project="digits", mode="disabled")
    cases = [
        ({"": 1.0}, "must not be empty"),
        ({"k" * 201: 1.0}, "201 characters"),
        ({7: 1.0}, "metric key 7 is int"),
        ({"train/loss": None}, "'train/loss' is NoneType"),
        ({"train/list": [0.3]}, "'train/list' is list"),
        ({"train/t": torch.ones(3)}, "'train/t' is a Tensor of shape (3,)"),
        ({"train/a": np.zeros(2)}, "'train/a' is a ndarray of shape (2,)"),
        ({"bad\nkey": 1.0}, "non-printable"),
    ]
    caplog.set_level(logging.WARNING, logger="tracker")
    for data, message in cases:
        caplog.clear()
        run.log(data)
        assert message in caplog.text
    assert run.step == len(cases)
    with pytest.raises(ValueError, match="step must be >= 0"):
        run.log({"ok": 1.0}, step=-1)
    with pytest.raises(TypeError, match="expects a dict"):
        run.log([("ok", 1.0)])
    run.log({"ok": 1.0, "also": np.float64(2.0)}, step=np.int64(3))  # accepted
    run.finish()


SCRIPT_ENDINGS = {
    "crash": "tracker.init(project='scripts')\ntracker.log({'x': 1.0})\nraise RuntimeError('boom')\n",
    "forgot": "tracker.init(project='scripts')\ntracker.log({'x': 1.0})\n",
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("ending", "status", "exit_code"), [("crash", "failed", 1), ("forgot", "finished", 0)]
)
def test_a_script_that_never_calls_finish_is_finished_at_exit(sdk, tmp_path, ending, status, exit_code):
    import os
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text("import tracker\n" + SCRIPT_ENDINGS[ending])
    root = ROOT
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == exit_code, done.stderr
    stored = Run.objects.get(project__name="scripts")
    assert (stored.status, stored.exit_code, stored.points_count) == (status, exit_code, 1)
    if ending == "crash":
        assert "RuntimeError: boom" in stored.error and 'train.py", line 4' in stored.error


def test_importing_the_sdk_pulls_in_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys, tracker\n"
        "run = tracker.init(project='p', mode='disabled')\n"
        "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'requests', 'django') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.django_db(transaction=True)
def test_ranks_log_to_one_run_and_rank_zero_ends_it(sdk, tmp_path):
    import os
    import subprocess
    import sys

    run = tracker.init(project="ddp", rank=0)
    script = (
        "import tracker\n"
        "tracker.init(project='ddp')\n"
        "for s in range(30):\n"
        "    tracker.log({'loss': s + 0.5}, step=s)\n"
        "tracker.finish()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), RANK="1")
    env["TRACKER_RUN_ID"] = str(run.id)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Run.objects.get(pk=run.id).status == "running"  # rank 1 ending does not end the run
    for step in range(30):
        tracker.log({"loss": float(step)}, step=step)
    run.finish()
    history = tracker.Api().run(run.id).history("loss")
    assert [(p["rank"], p["step"], p["value"]) for p in history] == [(0, s, float(s)) for s in range(30)] + [
        (1, s, s + 0.5) for s in range(30)
    ]
    assert Run.objects.get(pk=run.id).status == "finished"
