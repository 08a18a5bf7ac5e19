"""How long ``tracker.log()`` takes with 10 scalars while the sender thread runs.

Offline mode by default (the sender writes batches to a throwaway spool directory); with
TRACKER_SERVER and TRACKER_API_KEY set, against that server. Prints p50/p99/mean in µs.

    python benchmarks/sdk_overhead.py [--calls 200000] [--keys 10]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--gc", action="store_true", help="leave the garbage collector on")
    args = parser.parse_args()
    online = bool(os.environ.get("TRACKER_SERVER") and os.environ.get("TRACKER_API_KEY"))
    keys = [f"train/metric_{i}" for i in range(args.keys)]
    with tempfile.TemporaryDirectory() as spool:
        run = tracker.init(project="bench-sdk", mode="online" if online else "offline", dir=spool)
        durations = []
        clock = time.perf_counter_ns
        log = tracker.log
        if not args.gc:
            gc.disable()  # the SDK, not the collector
        try:
            for step in range(args.calls):
                value = step * 1e-3
                data = {key: value for key in keys}
                start = clock()
                log(data, step=step)
                durations.append(clock() - start)
        finally:
            gc.enable()
        begin = time.perf_counter()
        result = run.finish()
        flush_s = time.perf_counter() - begin
    durations.sort()
    us = [d / 1000 for d in durations]
    sender = "online" if online else "offline"
    print(f"tracker.log() with {args.keys} scalars, {args.calls} calls, {sender} sender")
    print(f"  p50  {us[len(us) // 2]:7.2f} µs")
    print(f"  p99  {us[int(len(us) * 0.99)]:7.2f} µs")
    print(f"  mean {statistics.fmean(us):7.2f} µs")
    print(f"  max  {us[-1]:7.2f} µs")
    print(f"  finish() {flush_s:.2f} s; pending {result.pending_points} points, dropped {result.dropped}")


if __name__ == "__main__":
    main()
