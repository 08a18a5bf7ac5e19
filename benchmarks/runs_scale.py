"""A project of 100,000 runs x 20 metrics x 10 config keys (issue #16): server time of the
runs table's first page, a filter on a config key and a metric summary, a sort by a
metric's best, a group-by with aggregates, and the API's filtered page; median of
``--repeat`` requests through Django's test client, logged in, and each response's size.

Target (PostgreSQL): each <= 300 ms.
Run: .venv/bin/python benchmarks/runs_scale.py [--runs 100000] [--repeat 7]
"""

import argparse
import json
import random
import time

from _setup import bench_user, pct, setup, timed

N_METRICS = 20
CONFIG_KEYS = 10
BATCH = 5_000


def _load(project, n_runs: int) -> bool:
    """The project's runs, made once (and again when the count differs)."""
    from django.db import transaction

    from experiments.models import Metric, Run

    existing = Run.objects.filter(project=project).count()
    if existing == n_runs:
        return False
    if existing > n_runs:
        Run.objects.filter(project=project).delete()
        existing = 0
    t0 = time.perf_counter()
    rng = random.Random(existing)  # a load cut short goes on where it stopped
    keys = [f"val/m{i:02d}" for i in range(N_METRICS - 2)] + ["val/acc", "train/loss"]
    for start in range(existing, n_runs, BATCH):
        with transaction.atomic():
            runs = Run.objects.bulk_create(
                Run(
                    project=project,
                    name=f"run-{i:06d}",
                    group=f"g{i % 50}",
                    status=rng.choice(["finished", "finished", "finished", "failed", "crashed"]),
                    tags=["sweep"] if i % 7 == 0 else [],
                    config={
                        "lr": 10 ** rng.uniform(-5, -1),
                        "batch_size": rng.choice([16, 32, 64, 128]),
                        "optimizer": rng.choice(["adam", "sgd", "adamw"]),
                        "seed": i % 5,
                        **{f"k{j}": rng.random() for j in range(CONFIG_KEYS - 4)},
                    },
                )
                for i in range(start, min(n_runs, start + BATCH))
            )
            metrics = []
            for run in runs:
                for key in keys:
                    lo, hi = sorted((rng.random(), rng.random()))
                    metrics.append(
                        Metric(
                            run=run,
                            key=key,
                            count=100,
                            last_step=99,
                            last_value=rng.uniform(lo, hi),
                            min_value=lo,
                            min_step=rng.randrange(100),
                            max_value=hi,
                            max_step=rng.randrange(100),
                        )
                    )
            Metric.objects.bulk_create(metrics, batch_size=20_000)
    print(f"loaded {n_runs:,} runs x {N_METRICS} metrics in {time.perf_counter() - t0:.0f}s")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    backend = setup()
    from django.db import connection
    from django.test import Client

    from experiments.models import Project

    user = bench_user()
    project, _ = Project.objects.get_or_create(owner=user, name="scale")
    if _load(project, args.runs) and connection.vendor == "postgresql":
        # What autovacuum does soon after a load: statistics, and the visibility map that
        # lets the metric_key_summary index answer without reading the table.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE experiments_run")
            cursor.execute("VACUUM ANALYZE experiments_metric")
    client = Client()
    client.force_login(user)
    base = f"/projects/{project.name}/"
    cases = [
        ("table: first page", base, {}),
        (
            "table: filter config + metric",
            base,
            {"q": "config.lr > 1e-3 and val/acc.max >= 0.9 and status = finished"},
        ),
        ("table: sort by val/acc best", base, {"sort": "-best:val/acc"}),
        ("table: group by config.optimizer", base, {"group_by": "config.optimizer"}),
        (
            "api: filtered page of 100",
            f"/api/v1/projects/{project.name}/runs",
            {"q": "config.batch_size = 64 and train/loss.min < 0.05", "limit": 100},
        ),
        (
            "api: sorted by -val/acc.max, 100",
            f"/api/v1/projects/{project.name}/runs",
            {"order": "-val/acc.max", "limit": 100},
        ),
    ]
    print(f"backend: {backend}; {args.runs:,} runs x {N_METRICS} metrics x {CONFIG_KEYS} config keys")
    for label, path, params in cases:
        sizes = []

        def request(path=path, params=params, sizes=sizes, label=label):
            response = client.get(path, params)
            assert response.status_code == 200, (label, response.status_code, response.content[:300])
            sizes.append(len(response.content))

        times = timed(request, args.repeat)
        extra = ""
        if path.startswith("/api/"):
            extra = f", total {json.loads(client.get(path, params).content)['total']:,}"
        print(
            f"{label:36s} median {pct(times, 50) * 1000:7.1f} ms  p90 {pct(times, 90) * 1000:7.1f} ms"
            f"  response {sizes[-1] / 1024:7.1f} KiB{extra}"
        )


if __name__ == "__main__":
    main()
