"""The SDK when things go wrong: the server goes away, hangs, or the client is killed.

The promise under test: training never waits on the tracker, memory stays capped, and
every point logged reaches the server exactly once when it comes back (or is counted).
"""

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tracker
from experiments.models import Run
from tests.processes import ROOT


def steps_of(run_id: int, key: str) -> list[int]:
    """Steps of every stored point of one metric, read back through the API."""
    return [p["step"] for p in tracker.Api().run(run_id).history(key)]


def spooled_points(directory: Path) -> int:
    """Points in the batch files of a run directory (second field of every line)."""
    total = 0
    for path in directory.glob("batches-*.jsonl"):
        for line in path.read_bytes().splitlines():
            total += int(line.split(b"\t", 2)[1])
    return total


@contextlib.contextmanager
def hanging_server(port: int):
    """Something on ``port`` that accepts connections and never answers, so requests
    wait for their timeout (a server stuck in a long transaction, a dead proxy)."""
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", port))
    hung.listen(64)
    try:
        yield
    finally:
        hung.close()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def sync(directory: Path, capsys) -> tuple[int, str]:
    """``python -m tracker sync DIR`` in this process (tests/sdk/test_offline.py runs the real
    command line); returns (exit code, stdout + stderr)."""
    from tracker.cli import main

    capsys.readouterr()
    code = main(["sync", str(directory)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.django_db(transaction=True)
def test_it_replays_spooled_batches_after_the_server_comes_back(sdk):
    run = tracker.init(project="outage")
    for step in range(100):
        tracker.log({"loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
    assert run.flush(5)
    sdk.stop()
    for step in range(100, 300):
        tracker.log({"loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
        if step % 25 == 0:
            time.sleep(0.05)  # several flushes fail while the server is away
    wait_for(lambda: spooled_points(run.dir) == 400)
    sdk.start()
    result = run.finish()

    assert (result.sent, result.pending_points, result.dropped) == (True, 0, 0)
    assert steps_of(run.id, "loss") == list(range(300))
    assert steps_of(run.id, "acc") == list(range(300))
    stored = Run.objects.get(pk=run.id)
    assert (stored.points_count, stored.dropped_points, stored.status) == (600, 0, "finished")
    assert list(run.dir.glob("batches-*")) == []  # acknowledged batches leave the disk


@pytest.mark.django_db(transaction=True)
def test_finish_returns_in_bounded_time_when_the_server_is_down_and_says_how_to_upload(sdk, caplog, capsys):
    run = tracker.init(project="outage")
    tracker.log({"loss": 1.0}, step=0)
    assert run.flush(5)
    sdk.stop()
    for step in range(1, 51):
        tracker.log({"loss": 1.0 / step, "acc": 0.5}, step=step)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="tracker"):
        result = run.finish(timeout=1.0)
    elapsed = time.monotonic() - started

    assert elapsed < 3.5
    assert (result.sent, result.pending_points, result.directory) == (False, 100, run.dir)
    assert f"python -m tracker sync {run.dir}" in caplog.text
    assert "100 points in" in caplog.text
    assert json.loads((run.dir / "finish.json").read_text())["status"] == "finished"

    sdk.start()
    code, output = sync(run.dir, capsys)
    assert code == 0, output
    assert steps_of(run.id, "loss") == list(range(51))
    stored = Run.objects.get(pk=run.id)
    assert (stored.status, stored.points_count) == ("finished", 101)
    code, output = sync(run.dir, capsys)
    assert code == 0 and "already synced" in output
    assert Run.objects.get(pk=run.id).points_count == 101


@pytest.mark.django_db(transaction=True)
def test_finish_returns_in_bounded_time_when_the_server_hangs(sdk):
    run = tracker.init(project="outage")
    tracker.log({"loss": 1.0}, step=0)
    assert run.flush(5)
    sdk.stop()
    with hanging_server(sdk.port):
        tracker.log({"loss": 0.5}, step=1)
        started = time.monotonic()
        result = run.finish(timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 3.0  # 1 s of flushing, then at most ~1 s for the end itself
    assert (result.sent, result.pending_points) == (False, 1)
    assert json.loads((run.dir / "finish.json").read_text())["status"] == "finished"


CLIENT = textwrap.dedent(
    """
    import sys, time, tracker
    start, end = int(sys.argv[1]), int(sys.argv[2])
    run = tracker.init(project="killed")
    print(run.id, flush=True)
    def log(steps):
        for step in steps:
            tracker.log({"loss": 1.0 / (step + 1), "acc": step / 1000}, step=step)
    if sys.argv[3] == "hang":
        log(range(start, start + 50))
        run.flush(10)
        print("flushed", flush=True)
        sys.stdin.readline()  # the test stops the server, then lets us go on
        log(range(start + 50, end))
        print("logged", flush=True)
        time.sleep(600)
    else:
        log(range(start, end))
        run.finish()
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_killed_client_restarted_on_the_same_run_resends_its_spool_without_duplicates(sdk, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen(
        [sys.executable, str(script), "0", "100", "hang"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        run_id = int(first.stdout.readline())
        assert first.stdout.readline().strip() == "flushed"
        sdk.stop()
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "logged"
        directory = tmp_path / "spool" / f"run-{run_id}"
        wait_for(lambda: spooled_points(directory) == 100)  # steps 50..99, never sent
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    sdk.start()
    assert steps_of(run_id, "loss") == list(range(50))  # the rest died with the client
    env["TRACKER_RUN_ID"] = str(run_id)
    second = subprocess.run(
        [sys.executable, str(script), "100", "150", "finish"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.split()[0]) == run_id
    assert steps_of(run_id, "loss") == list(range(150))
    assert steps_of(run_id, "acc") == list(range(150))
    stored = Run.objects.get(pk=run_id)
    assert (stored.points_count, stored.status) == (300, "finished")
    assert list(directory.glob("batches-*")) == []


@pytest.mark.django_db(transaction=True)
def test_memory_stays_capped_and_logging_never_waits_while_the_server_hangs(sdk, monkeypatch):
    monkeypatch.setenv("TRACKER_MAX_PENDING_POINTS", "2000")
    monkeypatch.setenv("TRACKER_HTTP_TIMEOUT", "1")
    run = tracker.init(project="hang")
    tracker.log({"k0": 0.0}, step=0)
    assert run.flush(5)
    sdk.stop()
    sender = run._sender
    peak, slowest = 0, 0.0
    with hanging_server(sdk.port):
        started = time.monotonic()
        for step in range(1, 20_001):
            begin = time.perf_counter()
            tracker.log({f"k{i}": step * 0.5 + i for i in range(5)}, step=step)
            slowest = max(slowest, time.perf_counter() - begin)
            peak = max(peak, sender.logged - sender.taken)
        logging_took = time.monotonic() - started
    assert peak <= 2000 + 5
    assert logging_took < 3.0
    assert slowest < 0.5
    sdk.start()
    result = run.finish()
    assert (result.sent, result.pending_points, result.dropped) == (True, 0, 0)
    assert Run.objects.get(pk=run.id).points_count == 1 + 20_000 * 5
    assert steps_of(run.id, "k3") == list(range(1, 20_001))


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_server_at_init_turns_the_run_offline_for_a_later_sync(sdk, caplog, capsys):
    sdk.stop()
    with caplog.at_level(logging.WARNING, logger="tracker"):
        run = tracker.init(project="late", config={"seed": 1})
        for step in range(40):
            tracker.log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()
    assert run.mode == "offline" and run.id is None
    assert "recording this run offline" in caplog.text
    assert f"python -m tracker sync {run.dir}" in caplog.text

    sdk.start()
    code, output = sync(run.dir.parent, capsys)
    assert code == 0, output
    stored = Run.objects.get(project__name="late")
    assert (stored.status, stored.config, stored.points_count) == ("finished", {"seed": 1}, 40)
    assert steps_of(stored.id, "loss") == list(range(40))
