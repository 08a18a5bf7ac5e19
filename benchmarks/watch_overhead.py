"""What ``tracker.watch(model, optimizer, log="all", log_freq=100)`` costs on the example
CNN (examples/train_digits.py), and whether memory stays flat with it on.

1. Overhead: median step time (forward, backward, optimizer step, ``log``) with and
   without watch, measured in alternating blocks so that machine noise hits both arms
   alike; plus the time of one log step (histograms, activations, one host transfer).
   Target: <= 5% of the step time at log_freq=100.
2. Memory: a long training with watch on (log_freq=10, so ten times the log steps):
   process RSS, live tensors and, on CUDA, allocated GPU memory at regular intervals.

Offline run (the sender and uploader write to a throwaway directory), sampler off.

    python benchmarks/watch_overhead.py [--blocks 10] [--block-steps 200] [--long-steps 5000] [--device cuda]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch.nn import functional as F

import tracker
from examples.train_digits import DEFAULTS, build_model, load_data
from tracker.system import Host


def live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10, help="blocks per arm")
    parser.add_argument("--block-steps", type=int, default=200)
    parser.add_argument("--log-freq", type=int, default=100)
    parser.add_argument("--long-steps", type=int, default=5000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x, y, _, _ = load_data(0.2, 0)
    x, y = x.to(device), y.to(device)
    batch = DEFAULTS["batch_size"]
    model = build_model(DEFAULTS["width"], DEFAULTS["dropout"]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    with tempfile.TemporaryDirectory() as spool:
        run = tracker.init(project="bench-watch", mode="offline", dir=spool, system_interval=0)
        state = {"step": 0}

        def train_step() -> float:
            step = state["step"]
            start = (step * batch) % (len(y) - batch)
            begin = time.perf_counter()
            loss = F.cross_entropy(model(x[start : start + batch]), y[start : start + batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log({"train/loss": loss.item()}, step=step)
            sync()
            state["step"] += 1
            return time.perf_counter() - begin

        for _ in range(100):  # warm-up: allocator, optimizer state, known keys
            train_step()

        # 1. Overhead, alternating blocks.
        plain: list[float] = []
        watched: list[float] = []
        log_steps: list[float] = []
        for _ in range(args.blocks):
            plain += [train_step() for _ in range(args.block_steps)]
            run.watch(model, optimizer, log="all", log_freq=args.log_freq)
            hooks = run._watches[-1]
            for _ in range(args.block_steps):
                capture = hooks.forwards % args.log_freq == 0
                took = train_step()
                (log_steps if capture else watched).append(took)
            run.unwatch(model)
        p50_plain = statistics.median(plain)
        p50_watch = statistics.median(watched)
        per_step = (sum(watched) + sum(log_steps)) / (len(watched) + len(log_steps))
        mean_plain = statistics.fmean(plain)
        print(
            f"tracker.watch(log='all', log_freq={args.log_freq}) on the digits CNN ({device}, batch {batch})"
        )
        print(f"  step without watch  p50 {p50_plain * 1e3:7.3f} ms   mean {mean_plain * 1e3:7.3f} ms")
        print(f"  step with watch     p50 {p50_watch * 1e3:7.3f} ms   (hooks only, not a log step)")
        log_p50 = statistics.median(log_steps) * 1e3
        print(f"  log step            p50 {log_p50:7.3f} ms   ({len(log_steps)} measured)")
        print(f"  mean with watch, log steps included: {per_step * 1e3:7.3f} ms")
        print(
            f"  overhead: {100 * (per_step / mean_plain - 1):+.1f}% of the mean step (p50 hooks-only: "
            f"{100 * (p50_watch / p50_plain - 1):+.1f}%)"
        )

        # 2. Memory over a long training with watch on.
        run.watch(model, optimizer, log="all", log_freq=10)
        host = Host()
        print(f"memory over {args.long_steps} steps with watch(log='all', log_freq=10):")
        print("      step   RSS MiB  live tensors" + ("  GPU allocated MiB" if device.type == "cuda" else ""))
        rss_seen = []
        marks = {0} | {round(args.long_steps * i / 5) for i in range(1, 6)}
        for i in range(args.long_steps + 1):
            if i in marks:
                rss = (host.rss() or 0) / 2**20
                rss_seen.append(rss)
                line = f"  {i:8d}  {rss:8.1f}  {live_tensors():12d}"
                if device.type == "cuda":
                    line += f"  {torch.cuda.memory_allocated(device) / 2**20:17.1f}"
                print(line)
            if i < args.long_steps:
                train_step()
        print(f"  RSS change after the first fifth: {rss_seen[-1] - rss_seen[1]:+.1f} MiB")
        begin = time.perf_counter()
        result = run.finish()
        print(f"  finish() {time.perf_counter() - begin:.2f} s; {result.pending_points} points pending")


if __name__ == "__main__":
    main()
