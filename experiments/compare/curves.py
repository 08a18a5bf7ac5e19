"""Curves of comparisons: one line per run or group (mean ± std), and deltas to a
reference on the steps both have. Reads points only through ``experiments.queries``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.compare.sides import Side
from experiments.models import Metric, Run
from experiments.queries import Series, fold_ranks, metric_series

# Series up to this many points are read exactly for deltas, best steps and time to
# target; longer ones through the downsampled view (min/max per bucket, so extremes and
# therefore best values survive; steps are then approximate).
EXACT_POINTS = 200_000


@dataclass
class Curve:
    """A side's line for one metric, sorted by step. ``value`` keeps NaN/inf; ``std``
    is across ranks (a run) or runs (a group); ``n`` counts runs per step (groups)."""

    step: np.ndarray
    value: np.ndarray
    elapsed: np.ndarray
    std: np.ndarray | None = None
    n: np.ndarray | None = None
    ranks: int = 1
    downsampled: bool = False
    low: np.ndarray | None = None  # groups: the lowest and highest run at each step
    high: np.ndarray | None = None


def run_curve(series: Series, started: float) -> Curve:
    """A run's line from its points: several ranks folded into their mean
    (``experiments.queries.fold_ranks``), wall times as seconds since ``started``."""
    folded = fold_ranks(series)
    return Curve(
        folded.step,
        folded.value,
        folded.wall_time - started,
        std=folded.std,
        ranks=max(folded.ranks, 1),
        downsampled=series.downsampled,
    )


def group_curve(curves: list[Curve], max_points: int) -> Curve:
    """Mean and sample std of several runs' curves, step by step. Runs that logged other
    steps are interpolated linearly between their own points (never beyond their ends),
    so seeds evaluated at slightly different steps still average; NaN/inf are skipped."""
    grids = [c.step for c in curves if len(c.step)]
    if not grids:
        empty = np.array([], dtype=float)
        return Curve(np.array([], dtype=np.int64), empty, empty, std=empty, n=empty)
    grid = np.unique(np.concatenate(grids))
    if len(grid) > max_points:
        grid = np.unique(grid[np.linspace(0, len(grid) - 1, max_points).round().astype(int)])
    values = np.full((len(curves), len(grid)), np.nan)
    elapsed = np.full((len(curves), len(grid)), np.nan)
    for i, curve in enumerate(curves):
        finite = np.isfinite(curve.value)
        steps = curve.step[finite]
        if not len(steps):
            continue
        inside = (grid >= steps[0]) & (grid <= steps[-1])
        values[i, inside] = np.interp(grid[inside], steps, curve.value[finite])
        elapsed[i, inside] = np.interp(grid[inside], steps, curve.elapsed[finite])
    n = np.isfinite(values).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.nansum(values, axis=0)
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        squares = np.nansum((values - mean) ** 2, axis=0)
        std = np.where(n > 1, np.sqrt(squares / np.maximum(n - 1, 1)), np.nan)
        known = np.isfinite(values) & np.isfinite(elapsed)
        mean_elapsed = np.where(known, elapsed, 0.0).sum(axis=0) / np.maximum(known.sum(axis=0), 1)
        low = np.where(n > 0, np.nanmin(np.where(np.isfinite(values), values, np.inf), axis=0), np.nan)
        high = np.where(n > 0, np.nanmax(np.where(np.isfinite(values), values, -np.inf), axis=0), np.nan)
    keep = n > 0
    return Curve(
        grid[keep],
        mean[keep],
        np.asarray(mean_elapsed)[keep],
        std=std[keep],
        n=n[keep],
        downsampled=any(c.downsampled for c in curves),
        low=low[keep],
        high=high[keep],
    )


def reduce_points(step: np.ndarray, value: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` (step, value) pairs: the mean of equal-width step buckets."""
    if len(step) <= max_points:
        return step, value
    edges = np.linspace(0, len(step), max_points + 1).round().astype(int)
    edges = np.unique(edges[:-1])
    with np.errstate(invalid="ignore"):
        return (
            np.add.reduceat(step.astype(float), edges) / np.diff(np.append(edges, len(step))),
            np.add.reduceat(value, edges) / np.diff(np.append(edges, len(step))),
        )


class SeriesReader:
    """Reads each (run, metric) series once per comparison, at a given resolution."""

    def __init__(self, sides: list[Side]) -> None:
        runs = {run.pk: run for side in sides for run in side.runs}
        self.runs = runs
        self.metrics: dict[tuple[int, str], Metric] = {
            (m.run_id, m.key): m for m in Metric.objects.filter(run_id__in=list(runs))
        }
        self._cache: dict[tuple[int, int | None], Curve] = {}

    def keys(self, side: Side) -> set[str]:
        ids = {run.pk for run in side.runs}
        return {key for run_id, key in self.metrics if run_id in ids}

    def curve(self, run: Run, key: str, limit: int) -> Curve | None:
        metric = self.metrics.get((run.pk, key))
        if metric is None:
            return None
        exact = metric.count <= limit
        cache_key = (metric.pk, None if exact else limit)
        if cache_key not in self._cache:
            series = metric_series(metric, max(limit, 1))
            self._cache[cache_key] = run_curve(series, run.started_at.timestamp())
        return self._cache[cache_key]

    def side_curve(self, side: Side, key: str, limit: int) -> Curve | None:
        curves = [c for c in (self.curve(run, key, limit) for run in side.runs) if c is not None]
        if not curves:
            return None
        if side.kind == "run":
            return curves[0]
        return group_curve(curves, limit)


def comparison_curves(reference: Side, sides: list[Side], keys: list[str], max_points: int) -> list[dict]:
    """Per metric: every side's line (mean ± std for groups and multi-rank runs) at chart
    resolution, and each side's delta to the reference on the steps both have."""
    everyone = [reference, *sides]
    reader = SeriesReader(everyone)
    out = []
    for key in keys:
        lines = []
        for role, side in [("reference", reference), *(("side", s) for s in sides)]:
            curve = reader.side_curve(side, key, max_points)
            lines.append(_curve_dict(side, role, curve))
        ref_exact = reader.side_curve(reference, key, EXACT_POINTS)
        deltas = []
        for side in sides:
            exact = reader.side_curve(side, key, EXACT_POINTS)
            deltas.append(_delta_dict(side, exact, ref_exact, max_points))
        out.append({"key": key, "lines": lines, "deltas": deltas})
    return out


def _values(array: np.ndarray | None) -> list | None:
    if array is None:
        return None
    return [float(v) if math.isfinite(v) else None for v in array.tolist()]


def _curve_dict(side: Side, role: str, curve: Curve | None) -> dict:
    data: dict[str, Any] = {"side": side.token, "label": side.label, "kind": side.kind, "role": role}
    if curve is None:
        return {**data, "step": [], "value": [], "elapsed": [], "std": None}
    spread = curve.std is not None and np.isfinite(curve.std).any()
    return {
        **data,
        "step": curve.step.tolist(),
        "value": _values(curve.value),
        "elapsed": _values(curve.elapsed),
        "std": _values(curve.std) if spread else None,
        "n": curve.n.tolist() if curve.n is not None else None,
        "runs": len(side.runs),
        "ranks": curve.ranks,
        "downsampled": curve.downsampled,
    }


def _delta_dict(side: Side, curve: Curve | None, reference: Curve | None, max_points: int) -> dict:
    data: dict[str, Any] = {"side": side.token, "label": side.label, "step": [], "value": []}
    if curve is None or reference is None:
        return data
    common, i, j = np.intersect1d(curve.step, reference.step, assume_unique=True, return_indices=True)
    with np.errstate(invalid="ignore"):
        diff = curve.value[i] - reference.value[j]
    step, value = reduce_points(common, diff, max_points)
    data["step"] = [float(s) if len(common) > max_points else int(s) for s in step.tolist()]
    data["value"] = _values(value)
    data["downsampled"] = len(common) > max_points
    return data
