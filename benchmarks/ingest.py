"""End-to-end ingest: points/second from ``tracker.log()`` through HTTP to committed rows,
with one server process (uvicorn, the production entry point) on this machine.

Target (issue #3): >= 250,000 points/s sustained on PostgreSQL.
Run: .venv/bin/python benchmarks/ingest.py [--points 2000000] [--keys 10]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, bench_user, setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--keys", type=int, default=10)
    args = parser.parse_args()
    backend = setup()
    sys.path.insert(0, str(ROOT))
    from django.db.models import Sum

    import tracker
    from experiments.models import ApiKey, Metric
    from tests.processes import ServerProcess, process_env

    user = bench_user()
    _, key = ApiKey.issue(user, name="bench-ingest")
    log_path = Path(tempfile.mkdtemp()) / "server.log"
    server = ServerProcess(process_env(), log_path=log_path)
    server.start()
    try:
        keys = [f"train/m{i}" for i in range(args.keys)]
        calls = args.points // args.keys
        with tempfile.TemporaryDirectory() as spool:
            run = tracker.init(project="bench-ingest", server=server.url, api_key=key, dir=spool)
            t0 = time.perf_counter()
            for step in range(calls):
                v = step * 1e-3
                tracker.log({k: v for k in keys}, step=step)
            t_logged = time.perf_counter() - t0
            result = run.finish()
            t_finished = time.perf_counter() - t0
            metrics = Metric.objects.filter(run_id=run.id)
            deadline = time.monotonic() + 120
            while (
                metrics.aggregate(n=Sum("count"))["n"] or 0
            ) < calls * args.keys and time.monotonic() < deadline:
                time.sleep(0.05)
            t_committed = time.perf_counter() - t0
        stored = metrics.aggregate(n=Sum("count"))["n"]
        print(
            f"backend: {backend}; server: uvicorn, 1 process; "
            f"client: tracker SDK ({args.keys} keys per log call)"
        )
        print(
            f"points logged: {calls * args.keys:,}; committed: {stored:,}; "
            f"pending at finish: {result.pending_points}, dropped: {result.dropped}"
        )
        print(
            f"log loop {t_logged:.2f}s, finish() returned at {t_finished:.2f}s, "
            f"all committed at {t_committed:.2f}s"
        )
        print(f"end-to-end: {stored / t_committed:,.0f} points/s")
    finally:
        server.stop()
        os.environ.pop("TRACKER_RUN_ID", None)


if __name__ == "__main__":
    main()
