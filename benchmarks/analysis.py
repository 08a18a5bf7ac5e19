"""Time of the hyperparameter analysis endpoint (GET /api/v1/projects/NAME/analysis, the
page's data.json is the same call) over projects of 1,000 and 10,000 runs, each run with
10 config keys and 20 metrics; the metric depends on the learning rate only.

Prints, per size: the median and slowest server time of the whole request (Django's test
client: view, queries, Optuna and JSON, no network), the response size, the SQL queries
it made, and whether the learning rate came out first.

Run: .venv/bin/python benchmarks/analysis.py [--runs 1000 10000] [--repeat 5]
(PostgreSQL when reachable, else SQLite; BENCH_BACKEND=sqlite forces SQLite.)
"""

import argparse
import math
import statistics
import time

from _setup import bench_user, setup, timed

METRICS = ["val/acc", "val/loss", "train/loss", "train/acc"] + [f"layers/{i}/grad_norm" for i in range(16)]


def make_project(n: int):
    """A project of ``n`` runs (made once, reused by later invocations)."""
    import numpy as np
    from django.db import transaction

    from experiments.models import Metric, Project, Run, RunStatus

    project, _ = Project.objects.get_or_create(owner=bench_user(), name=f"bench-analysis-{n}")
    if Run.objects.filter(project=project).count() == n:
        return project
    Run.objects.filter(project=project).delete()
    rng = np.random.default_rng(n)
    t0 = time.perf_counter()
    for start in range(0, n, 1000):
        size = min(1000, n - start)
        with transaction.atomic():
            runs = Run.objects.bulk_create(
                [
                    Run(
                        project=project,
                        name=f"trial-{start + i}",
                        group="sweep",
                        status=RunStatus.FINISHED,
                        config={
                            "optim": {
                                "lr": float(10 ** rng.uniform(-5, -1)),
                                "weight_decay": float(10 ** rng.uniform(-6, -2)),
                                "name": str(rng.choice(["adam", "sgd", "rmsprop"])),
                            },
                            "dropout": float(rng.uniform(0, 0.5)),
                            "batch_size": int(rng.choice([16, 32, 64, 128, 256])),
                            "layers": int(rng.integers(2, 9)),
                            "width": int(rng.choice([64, 128, 256, 512])),
                            "scheduler": str(rng.choice(["cosine", "step", "none"])),
                            "warmup": int(rng.integers(0, 1000)),
                            "seed": start + i,
                        },
                    )
                    for i in range(size)
                ]
            )
            metrics = []
            for run in runs:
                acc = 0.5 + 0.1 * (math.log10(run.config["optim"]["lr"]) + 5) + float(rng.normal(0, 0.01))
                for key in METRICS:
                    value = acc if key == "val/acc" else float(rng.uniform())
                    metrics.append(
                        Metric(
                            run=run,
                            key=key,
                            count=100,
                            last_value=value,
                            min_value=value - 0.1,
                            max_value=value + 0.05,
                        )
                    )
            Metric.objects.bulk_create(metrics, batch_size=5000)
    print(f"  made {n:,} runs x {len(METRICS)} metrics in {time.perf_counter() - t0:.1f}s")
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    backend = setup()

    import orjson
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test import Client
    from django.urls import reverse

    from experiments.models import ApiKey

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = True  # count queries
    key = ApiKey.issue(bench_user(), name="bench-analysis")[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    print(f"analysis endpoint on {backend}")
    for n in args.runs:
        project = make_project(n)
        url = reverse("api-project-analysis", args=[project.name])
        query = {"metric": "val/acc", "agg": "best"}
        response = client.get(url, query)  # warm: imports of optuna, sklearn, scipy
        assert response.status_code == 200, response.content[:300]
        reset_queries()
        client.get(url, query)
        queries = len(connection.queries)
        times = timed(lambda url=url, query=query: client.get(url, query), args.repeat)
        body = orjson.loads(response.content)
        first = body["params"][0]
        print(
            f"  {n:>6,} runs: median {statistics.median(times) * 1000:7.0f} ms, "
            f"slowest {max(times) * 1000:7.0f} ms, {len(response.content) / 1024:7.0f} KiB, "
            f"{queries} queries; importance on {body['importance']['runs']:,} runs "
            f"({'sampled' if body['importance']['sampled'] else 'all'}); first: {first['key']} "
            f"({first['importance']:.0%}), Spearman {first['spearman']['r']:+.3f}"
        )


if __name__ == "__main__":
    main()
