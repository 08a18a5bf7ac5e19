"""Curves of grouped runs for the runs table's group-by (issue #16): per group, the mean
of its runs' curves of one metric with the bands a user picks between (standard
deviation, standard error, min–max), and each member's own curve for the "show runs"
toggle. Built on ``compare.curves.group_curve`` (runs interpolated onto one step grid)."""

from __future__ import annotations

import math

import numpy as np
from django.db.models import QuerySet

from experiments.compare.curves import Curve, group_curve, run_curve
from experiments.models import Metric, Run
from experiments.queries import metric_series_many

MAX_GROUPS = 12  # lines on one chart that can still be told apart
MAX_RUNS = 50  # runs per group read for its curve (the newest)
# Member series one chart reads, all groups together (``metric_series_many``: about
# 1.8 ms each for 2,000 points on PostgreSQL, benchmarks/group_charts.py). With many
# groups each reads fewer of its newest runs, never under MIN_RUNS.
MAX_SERIES = 240
MIN_RUNS = 10
POINTS = 400  # per run and per group line


def _floats(array: np.ndarray | None) -> list[float | None] | None:
    if array is None:
        return None
    return [float(v) if math.isfinite(v) else None for v in array.tolist()]


def runs_per_group(groups: int) -> int:
    """How many of each group's newest runs a chart of ``groups`` groups reads."""
    return max(MIN_RUNS, min(MAX_RUNS, MAX_SERIES // max(1, groups)))


def group_lines(groups: list[tuple[str, int, QuerySet[Run]]], key: str, points: int = POINTS) -> list[dict]:
    """``groups``: (label, number of runs, the group's runs). For each group, its line
    for ``key``: step, mean, std, sem, min, max, runs per step, and its members' curves."""
    shown = groups[:MAX_GROUPS]
    per_group = runs_per_group(len(shown))
    members = [list(runs.order_by("-created_at", "-pk")[:per_group]) for _label, _n, runs in shown]
    metrics = {
        m.run_id: m
        for m in Metric.objects.filter(run__in=[r for rs in members for r in rs], key=key, count__gt=0)
    }
    series = metric_series_many(list(metrics.values()), points)
    out = []
    for (label, total, _runs), read in zip(shown, members, strict=True):
        curves: list[tuple[Run, Curve]] = [
            (run, run_curve(series[metrics[run.pk].pk], run.started_at.timestamp()))
            for run in read
            if run.pk in metrics
        ]
        line = group_curve([c for _, c in curves], points)
        n = line.n if line.n is not None else np.array([])
        with np.errstate(invalid="ignore", divide="ignore"):
            sem = line.std / np.sqrt(n) if line.std is not None and len(n) else None
        out.append(
            {
                "label": label,
                "runs": total,
                "read": len(read),
                "with_metric": len(curves),
                "step": line.step.tolist(),
                "mean": _floats(line.value),
                "std": _floats(line.std),
                "sem": _floats(sem),
                "min": _floats(line.low),
                "max": _floats(line.high),
                "n": n.tolist(),
                "members": [
                    {"id": run.pk, "name": run.name, "step": c.step.tolist(), "value": _floats(c.value)}
                    for run, c in curves
                ],
            }
        )
    return out
