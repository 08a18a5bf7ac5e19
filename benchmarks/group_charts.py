"""The grouped runs table's charts (issue #16): server time of ``groups.json`` (each
group's mean line and band of one metric, and its members' curves) for GROUPS groups of
RUNS runs, each run POINTS points of the metric; median of ``--repeat`` requests through
Django's test client, logged in, with the queries it made and the response size.

Run: .venv/bin/python benchmarks/group_charts.py [--groups 12] [--runs 50] [--points 2000]
"""

import argparse
import math
import random
import time

from _setup import bench_user, pct, setup, timed


def _load(user, groups: int, runs: int, points: int):
    """A project of its own per shape, made once."""
    from django.db import transaction

    from experiments.models import Metric, Project, Run
    from tests.bulk import points_insert

    name = f"groups-{groups}x{runs}x{points}"
    project, made = Project.objects.get_or_create(owner=user, name=name)
    if not made and Run.objects.filter(project=project).count() == groups * runs:
        return project
    Run.objects.filter(project=project).delete()
    t0 = time.perf_counter()
    rng = random.Random(1)
    for g in range(groups):
        with transaction.atomic():
            for i in range(runs):
                run = Run.objects.create(
                    project=project, name=f"g{g}-{i}", status="finished", config={"opt": f"o{g}", "seed": i}
                )
                scale = 1 + g + rng.random()
                values = [scale / math.sqrt(s + 1) + rng.gauss(0, 0.01) for s in range(points)]
                metric = Metric.objects.create(
                    run=run,
                    key="train/loss",
                    count=points,
                    last_step=points - 1,
                    last_value=values[-1],
                    min_value=min(values),
                    max_value=max(values),
                )
                points_insert((metric.pk, s, v, 1.7e9 + s, 0) for s, v in enumerate(values))
    print(f"loaded {groups * runs:,} runs x {points:,} points in {time.perf_counter() - t0:.0f}s")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=12)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backend = setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = bench_user()
    project = _load(user, args.groups, args.runs, args.points)
    client = Client()
    client.force_login(user)
    path = f"/projects/{project.name}/groups.json"
    params = {"group_by": "config.opt", "key": "train/loss"}
    sizes = []

    def request():
        response = client.get(path, params)
        assert response.status_code == 200, response.content[:300]
        sizes.append(len(response.content))

    times = timed(request, args.repeat)
    with CaptureQueriesContext(connection) as queries:
        request()
    print(f"backend: {backend}; {args.groups} groups x {args.runs} runs x {args.points:,} points")
    print(
        f"groups.json median {pct(times, 50) * 1000:7.1f} ms  p90 {pct(times, 90) * 1000:7.1f} ms"
        f"  queries {len(queries)}  response {sizes[-1] / 1024:7.1f} KiB"
    )


if __name__ == "__main__":
    main()
