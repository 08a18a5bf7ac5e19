"""A synthetic sweep whose true answer is known: ``val/acc`` depends on the learning rate
only (log-linearly, plus tiny noise); dropout, batch size and optimizer are random and do
nothing. ``val/loss`` mirrors it (lower is better)."""

import math

import numpy as np

from experiments.models import Metric, Project, Run, RunStatus


def true_acc(lr: float) -> float:
    """The metric the runs reach: 0.5 at lr 1e-5, 0.9 at lr 1e-1."""
    return 0.5 + 0.1 * (math.log10(lr) + 5)


def synthetic_runs(project: Project, n: int = 60, seed: int = 0, group: str = "sweep-a") -> list[Run]:
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        lr = float(10 ** rng.uniform(-5, -1))
        config = {
            "optim": {"lr": lr, "name": ["adam", "sgd", "rmsprop"][int(rng.integers(3))]},
            "dropout": float(rng.uniform(0, 0.5)),
            "batch_size": int(rng.choice([16, 32, 64, 128])),
            "epochs": 10,  # the same in every run: shown, not ranked
            "seed": i,
        }
        runs.append(
            Run(project=project, name=f"trial-{i}", group=group, status=RunStatus.FINISHED, config=config)
        )
    Run.objects.bulk_create(runs)
    runs = list(Run.objects.filter(project=project, group=group).order_by("pk"))
    metrics = []
    for run in runs:
        acc = true_acc(run.config["optim"]["lr"]) + float(rng.normal(0, 1e-3))
        metrics.append(
            Metric(
                run=run, key="val/acc", count=10, last_value=acc, min_value=acc - 0.3, max_value=acc + 0.01
            )
        )
        loss = 1.0 - acc
        metrics.append(
            Metric(
                run=run,
                key="val/loss",
                count=10,
                last_value=loss,
                min_value=loss - 0.05,
                max_value=loss + 0.4,
            )
        )
    Metric.objects.bulk_create(metrics)
    return runs
