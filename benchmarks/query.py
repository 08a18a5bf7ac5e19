"""Time to get a chart series of a 1,000,000-point metric, and how many points come back.

Target (issue #3): <= 2,000 points in <= 150 ms p50 on PostgreSQL.
Run: .venv/bin/python benchmarks/query.py [--points 1000000]
"""

import argparse
import math
import time

from _setup import bench_user, pct, setup, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    backend = setup()

    from django.conf import settings
    from django.db import transaction

    from experiments.models import Metric, PointChunk, Project, Run
    from experiments.queries import metric_history, metric_series
    from tests.bulk import points_insert

    project, _ = Project.objects.get_or_create(owner=bench_user(), name="bench-query")
    run = Run.objects.filter(project=project, name=f"query-{args.points}").first()
    if run is None or not Metric.objects.filter(run=run, count=args.points).exists():
        Run.objects.filter(project=project).delete()
        run = Run.objects.create(project=project, name=f"query-{args.points}")
        metric = Metric.objects.create(run=run, key="train/loss", count=args.points)
        t0 = time.perf_counter()
        chunk = 10_000  # batches of 10k points, as the SDK sends under load
        for start in range(0, args.points, chunk):
            rows = [
                (
                    metric.pk,
                    s,
                    math.nan
                    if s == args.points // 3
                    else (50.0 if s == args.points // 2 else 1.0 / (1 + s * 1e-4)),
                    1.7e9 + s * 0.01,
                    0,
                )
                for s in range(start, min(args.points, start + chunk))
            ]
            with transaction.atomic():
                points_insert(rows)
        print(f"loaded {args.points:,} points in {time.perf_counter() - t0:.1f}s")
    metric = Metric.objects.get(run=run, key="train/loss")
    stored = sum(PointChunk.objects.filter(metric=metric).values_list("count", flat=True))
    assert stored == args.points, stored

    series = metric_series(metric, settings.TRACKER_CHART_POINTS)
    times = timed(lambda: metric_series(metric, settings.TRACKER_CHART_POINTS), args.repeat)
    spike = 50.0 in series.value
    nan = any(v != v for v in series.value)
    zoom = timed(
        lambda: metric_series(
            metric, settings.TRACKER_CHART_POINTS, args.points // 2 - 5000, args.points // 2 + 5000
        ),
        args.repeat,
    )
    exact = timed(
        lambda: metric_series(
            metric,
            settings.TRACKER_CHART_POINTS,
            args.points // 2,
            args.points // 2 + settings.TRACKER_CHART_POINTS - 1,
        ),
        args.repeat,
    )
    history = timed(lambda: metric_history(metric), max(1, args.repeat // 3))
    print(f"backend: {backend}")
    print(
        f"series of {args.points:,} points -> {len(series.step)} points "
        f"(spike kept: {spike}, NaN kept: {nan})"
    )
    print(f"full range: p50 {pct(times, 50) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms")
    print(f"zoomed to 10,000 steps: p50 {pct(zoom, 50) * 1000:.0f} ms")
    print(f"zoomed to {settings.TRACKER_CHART_POINTS:,} steps (exact): p50 {pct(exact, 50) * 1000:.1f} ms")
    print(f"whole history ({args.points:,} points, exact): p50 {pct(history, 50) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
