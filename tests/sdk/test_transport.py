"""How the sender reacts to answers the real server rarely gives: 429 with Retry-After,
400 for a batch, 413 for a batch over the server's caps; and when bodies are gzipped.

429 and 400 come from a scripted stand-in server (the real one never rate-limits and the
SDK never sends what it would refuse); 413 comes from the real server started with
lower caps than the SDK's.
"""

import gzip
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import tracker
from experiments.models import Run

FAST = {
    "TRACKER_FLUSH_INTERVAL": "0.05",
    "TRACKER_HEARTBEAT_INTERVAL": "60",
    "TRACKER_BACKOFF_BASE": "0.05",
    "TRACKER_BACKOFF_MAX": "0.3",
    "TRACKER_HTTP_TIMEOUT": "3",
    "TRACKER_FINISH_TIMEOUT": "10",
}


class ScriptedServer:
    """Answers create/heartbeat/finish like the API; batch answers come from ``script``
    (status, headers, body) in order, then 200. ``rule(path, body)``, when it returns an
    answer, overrides both (a batch the server always refuses, a server that is down).
    Records every batch request, and every request as (path, body) in ``requests``."""

    def __init__(self, script: list[tuple[int, dict, dict]], rule=None):
        self.script = list(script)
        self.rule = rule
        self.batches: list[dict] = []
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                gzipped = self.headers.get("Content-Encoding") == "gzip"
                plain = gzip.decompress(raw) if gzipped else raw
                body = json.loads(plain)
                outer.requests.append((self.path, body))
                status, headers, answer = 200, {}, {"should_stop": False}
                ruled = outer.rule(self.path, body) if outer.rule else None
                if ruled is not None:
                    status, headers, answer = ruled
                    if self.path.endswith("/batches"):
                        outer.batches.append({"at": time.monotonic(), "refused": status, **body})
                elif self.path == "/api/v1/runs":
                    status, answer = 201, {"id": 7, "project": body["project"], "name": "r", "url": ""}
                elif self.path.endswith("/batches"):
                    seen = {"at": time.monotonic(), "gzip": gzipped, "size": len(plain)}
                    outer.batches.append({**seen, **body})
                    if outer.script:
                        status, headers, answer = outer.script.pop(0)
                    else:
                        answer = {"stored": 1, "duplicate": False, "should_stop": False}
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fast_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TRACKER_RUN_ID", raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    yield
    tracker.finish(timeout=1)


def scripted(script, rule=None):
    server = ScriptedServer(script, rule)
    run = tracker.init(project="p", server=server.url, api_key="trk_test")
    return server, run


def test_it_waits_as_long_as_retry_after_says(fast_env):
    server, run = scripted([(429, {"Retry-After": "1"}, {"error": "slow down", "field": None})])
    try:
        tracker.log({"loss": 1.0}, step=0)
        result = run.finish()
    finally:
        server.close()
    first, second = server.batches
    assert second["at"] - first["at"] >= 0.95  # backoff alone would retry after ~0.05 s
    assert (first["writer"], first["seq"], first["rows"]) == (second["writer"], second["seq"], second["rows"])
    assert (result.sent, result.pending_points, result.dropped) == (True, 0, 0)


def test_a_batch_the_server_refuses_is_set_aside_kept_counted_and_not_retried(fast_env, caplog):
    refusal = (400, {}, {"error": "must be a number, got bool", "field": "rows[0][2].loss"})
    server, run = scripted([refusal])
    try:
        with caplog.at_level(logging.WARNING, logger="tracker"):
            tracker.log({"loss": 1.0, "acc": 0.5}, step=0)
            assert run.flush(5)
            tracker.log({"loss": 0.5}, step=1)
            result = run.finish()
    finally:
        server.close()
    assert [b["seq"] for b in server.batches] == [0, 1]
    assert "must be a number, got bool (field rows[0][2].loss)" in caplog.text
    assert (result.dropped, result.quarantined_batches, result.quarantined_points) == (0, 1, 2)
    assert f"python -m tracker sync --retry-quarantined {run.dir}" in caplog.text
    (kept,) = run.dir.glob("quarantine-*.jsonl")
    seq, points, reason, body = kept.read_bytes().rstrip(b"\n").split(b"\t", 3)
    assert (seq, points, json.loads(reason)["status"]) == (b"0", b"2", 400)
    assert json.loads(body)["rows"][0][2] == {"loss": 1.0, "acc": 0.5}
    finish = [body for path, body in server.requests if path.endswith("/finish")]
    assert [item["batches"] for item in finish[0]["quarantined"].values()] == [1]


def batch_answer(status: int, error: str) -> tuple[int, dict, dict]:
    return status, {}, {"error": error, "field": None}


def test_a_batch_answered_500_every_time_is_set_aside_while_the_next_ones_are_stored(fast_env, caplog):
    """The server chokes on one batch (seq 0) and stores every other: after the bounded
    tries, with the server answering other requests in between, it is set aside."""

    def rule(path, body):
        if path.endswith("/batches") and body["seq"] == 0:
            return batch_answer(500, "internal error")
        return None

    server, run = scripted([], rule)
    try:
        with caplog.at_level(logging.WARNING, logger="tracker"):
            tracker.log({"loss": 1.0}, step=0)
            time.sleep(0.2)
            for step in range(1, 101):
                tracker.log({"loss": 1.0 / step}, step=step)
            stored_in_time = run.flush(5)
            result = run.finish()
    finally:
        server.close()
    assert stored_in_time
    tries = [b for b in server.batches if b["seq"] == 0]
    assert 5 <= len(tries) <= 7  # TRACKER_QUARANTINE_AFTER's 5 counted tries (+ uncounted retries)
    stored = [row[0] for b in server.batches if b["seq"] != 0 for row in b["rows"]]
    assert sorted(stored) == list(range(1, 101))
    assert (result.sent, result.pending_batches, result.quarantined_batches, result.quarantined_points) == (
        True,
        0,
        1,
        1,
    )
    assert "HTTP 500: internal error" in caplog.text


def test_a_server_that_answers_everything_with_500_never_gets_a_batch_set_aside(fast_env, monkeypatch):
    """Down (its database away): batches and heartbeats fail alike, so nothing is the
    batch's fault; once it is back every batch is stored."""
    monkeypatch.setenv("TRACKER_QUARANTINE_AFTER", "2")
    down = {"yes": True}

    def rule(path, body):
        if down["yes"] and path != "/api/v1/runs":
            return batch_answer(500, "database unavailable")
        return None

    server, run = scripted([], rule)
    try:
        for step in range(20):
            tracker.log({"loss": 1.0 / (step + 1)}, step=step)
            time.sleep(0.03)
        wait_until(lambda: len({b["seq"] for b in server.batches}) >= 2 and len(server.batches) >= 8)
        assert list(run.dir.glob("quarantine-*")) == []
        down["yes"] = False
        result = run.finish()
    finally:
        server.close()
    assert (result.sent, result.pending_batches, result.quarantined_batches) == (True, 0, 0)
    stored = {row[0] for b in server.batches if "refused" not in b for row in b["rows"]}
    assert stored == set(range(20))


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_a_proxy_answering_for_a_server_that_is_away_never_gets_a_batch_set_aside(fast_env, status):
    down = {"yes": True}

    def rule(path, body):
        if down["yes"] and path.endswith("/batches") and body["seq"] == 0:
            return batch_answer(status, "bad gateway")
        return None

    server, run = scripted([], rule)
    try:
        tracker.log({"loss": 1.0}, step=0)
        wait_until(lambda: len(server.batches) >= 6)
        tracker.log({"loss": 0.5}, step=1)
        down["yes"] = False
        result = run.finish()
    finally:
        server.close()
    assert (result.sent, result.pending_batches, result.quarantined_batches) == (True, 0, 0)
    assert list(run.dir.glob("quarantine-*")) == []


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_it_gzips_large_bodies_only(fast_env, monkeypatch):
    monkeypatch.setenv("TRACKER_FLUSH_INTERVAL", "5")  # the 3000 rows below leave as one batch
    server, run = scripted([])
    try:
        tracker.log({"small": 1.0}, step=0)
        assert run.flush(5)
        for step in range(1, 3001):
            run.log({f"metric/{i}": step + i / 10 for i in range(10)}, step=step)
        run.finish()
    finally:
        server.close()
    assert server.batches[0]["gzip"] is False
    assert [b["gzip"] for b in server.batches] == [b["size"] >= 64 * 1024 for b in server.batches]
    assert any(b["gzip"] for b in server.batches)
    assert sum(len(b["rows"]) for b in server.batches) == 3001


@pytest.fixture
def small_server_caps(monkeypatch):
    """Set before the server fixture starts, so the server process reads it."""
    monkeypatch.setenv("TRACKER_MAX_BATCH_ROWS", "40")


@pytest.mark.django_db(transaction=True)
def test_it_halves_batches_that_are_over_the_servers_caps(
    small_server_caps, server, api_key, fast_env, caplog
):
    run = tracker.init(project="caps", server=server.url, api_key=api_key)
    with caplog.at_level(logging.INFO, logger="tracker"):
        for step in range(500):
            tracker.log({"loss": 1.0 / (step + 1), "acc": step / 500}, step=step)
        result = run.finish()
    assert "too large; sending it in halves" in caplog.text
    assert (result.sent, result.pending_points, result.dropped) == (True, 0, 0)
    stored = Run.objects.get(pk=run.id)
    assert (stored.points_count, stored.dropped_points) == (1000, 0)
    history = tracker.Api(server.url, api_key).run(run.id).history("loss")
    assert [p["step"] for p in history] == list(range(500))
