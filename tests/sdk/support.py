"""Helpers for SDK tests: ``python -m tracker sync``, a small training that touches every
feature a batch carries, and a run's stored state as the API returns it."""

import http.client
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

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


class RelayProxy:
    """A small HTTP proxy in front of the real test server: forwards every request, except
    those ``refusal(path, headers, raw)`` answers itself with ``(status, body)``. Subclasses
    choose what to refuse; the SDK is pointed at ``url``."""

    def __init__(self, upstream: str):
        target = urlsplit(upstream)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._relay(b"")

            def do_POST(self):
                self._relay(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _relay(self, raw: bytes) -> None:
                refused = outer.refusal(self.path, self.headers, raw)
                if refused is not None:
                    return self._answer(*refused, {})
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=raw or None, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                conn.close()
                self._answer(answer.status, body, {"Content-Type": answer.getheader("Content-Type", "")})

            def _answer(self, status: int, body: bytes, headers: dict) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        if value:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting (its deadline): nobody to tell
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def refusal(self, path: str, headers, raw: bytes) -> tuple[int, bytes] | None:
        return None

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
