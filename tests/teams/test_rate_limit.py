"""The per-key request rate limit (issue #15): over it, 429 with Retry-After; the SDK
waits as told and keeps every point."""

import json
import logging
import math
import time
import urllib.error
import urllib.request

import pytest

import tracker
from experiments.models import Run
from tests import factories
from tests.conftest import FAST
from tests.processes import ServerProcess, process_env

pytestmark = pytest.mark.django_db(transaction=True)

# A window long enough that LIMIT + 1 requests fit in it on a loaded machine.
LIMIT, WINDOW = 5, 15


@pytest.fixture
def limited_server(tmp_path):
    env = {
        **process_env(),
        "TRACKER_RATE_LIMIT_PER_MINUTE": str(LIMIT),
        "TRACKER_RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
    }
    proc = ServerProcess(env, log_path=tmp_path / "server.log")
    proc.start(timeout=120)
    yield proc
    proc.stop()


def _get(url: str, key: str):
    """(status, headers, JSON body) of a GET with ``key``."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read())


def seconds_left(t: float, window: int) -> int:
    """What Retry-After says at time ``t``: the seconds to the end of its window, rounded up."""
    return max(1, math.ceil((int(t // window) + 1) * window - t))


def _fresh_window() -> None:
    """Start at the beginning of a window, so LIMIT requests fit in one."""
    time.sleep(WINDOW - time.time() % WINDOW + 0.05)


def test_a_key_over_its_limit_is_answered_429_with_retry_after(limited_server, owner, stranger):
    key, other = factories.api_key(owner), factories.api_key(stranger)
    url = f"{limited_server.url}/api/v1/projects"
    _fresh_window()
    answers = [_get(url, key) for _ in range(LIMIT)]
    before = time.time()
    answers.append(_get(url, key))
    after = time.time()
    assert [status for status, _, _ in answers] == [200] * LIMIT + [429]
    _, headers, body = answers[-1]
    # The seconds left in the window at the refusal (the window's end, rounded up).
    assert seconds_left(after, WINDOW) <= int(headers["Retry-After"]) <= seconds_left(before, WINDOW)
    assert body["field"] == "Authorization" and "TRACKER_RATE_LIMIT_PER_MINUTE" in body["error"]
    # Another key has its own count.
    assert _get(url, other)[0] == 200
    # After Retry-After, the key is served again.
    time.sleep(int(headers["Retry-After"]) + 0.1)
    assert _get(url, key)[0] == 200


def test_the_sdk_keeps_every_point_through_the_429s(limited_server, owner, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TRACKER_SERVER", limited_server.url)
    monkeypatch.setenv("TRACKER_API_KEY", factories.api_key(owner))
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKER_RUN_ID", raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    # Heartbeats count too: at the tests' usual 0.2 s they alone would spend the budget.
    monkeypatch.setenv("TRACKER_HEARTBEAT_INTERVAL", "30")
    caplog.set_level(logging.WARNING, logger="tracker")
    run = tracker.init(project="limited")
    for step in range(200):
        tracker.log({"loss": 1.0 / (step + 1)}, step=step)
        if step % 10 == 0:
            time.sleep(0.06)  # many small batches: far more requests than the limit allows
    result = run.finish(timeout=120)

    assert (result.sent, result.pending_points, result.dropped) == (True, 0, 0)
    time.sleep(WINDOW - time.time() % WINDOW + 0.05)  # a fresh window for the two reads below
    assert [p["step"] for p in tracker.Api().run(run.id).history("loss")] == list(range(200))
    stored = Run.objects.get(pk=run.id)
    assert (stored.points_count, stored.dropped_points, stored.status) == (200, 0, "finished")
    # The sender said it was refused (and kept the batches): the 429s happened.
    assert any("HTTP 429" in record.getMessage() for record in caplog.records), "the SDK was never refused"
