"""Time from ``tracker.log()`` returning to the point's event arriving at a websocket
client of the run page (the browser's path), with one uvicorn process.

Target (issue #3): p95 <= 1 s. Default SDK settings (flush at least every 0.5 s) and
server settings (live events merged over 0.25 s).
Run: .venv/bin/python benchmarks/live_latency.py [--samples 40]
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, bench_user, pct, setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    backend = setup()
    sys.path.insert(0, str(ROOT))
    from django.test import Client
    from websockets.sync.client import connect

    import tracker
    from experiments.models import ApiKey
    from tests.processes import ServerProcess, process_env

    user = bench_user()
    _, key = ApiKey.issue(user, name="bench-live")
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    server = ServerProcess(process_env(), log_path=Path(tempfile.mkdtemp()) / "server.log")
    server.start()
    latencies = []
    try:
        with tempfile.TemporaryDirectory() as spool:
            run = tracker.init(project="bench-live", server=server.url, api_key=key, dir=spool)
            url = server.url.replace("http://", "ws://") + f"/ws/runs/{run.id}/"
            with connect(url, additional_headers={"Cookie": cookie, "Origin": server.url}) as ws:
                for step in range(args.samples):
                    time.sleep(random.uniform(0.05, 0.4))  # a training step
                    tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
                    logged = time.perf_counter()
                    while True:
                        event = json.loads(ws.recv(timeout=10))
                        if event.get("type") == "points":
                            break
                    latencies.append(time.perf_counter() - logged)
            run.finish()
    finally:
        server.stop()
    ms = [x * 1000 for x in latencies]
    print(f"backend: {backend}; {len(ms)} samples, one point per log() at random intervals")
    print(
        f"log() -> websocket event: p50 {pct(ms, 50):.0f} ms, p95 {pct(ms, 95):.0f} ms, max {max(ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
