"""Comparisons: runs and groups of runs against a reference (the project's baseline, or
the first of N runs side by side).

A *side* is one run or one group (runs sharing ``group``: seeds, folds). Every figure
is computed per run and then summarised per side (a group's value is the mean of its
runs', with their sample standard deviation), so a group of one run and a run agree.

Definitions used everywhere (page, API, CLI):

- *final*: the value at the run's last step (NaN when that point was NaN: a diverged run
  is not rescued by an older value). *best*: the minimum or maximum by the metric's
  direction (NaN ignored), and the step where it was first reached.
- Several ranks of one run are folded first: per step, the mean across ranks.
- *delta* = side - reference; *relative* = delta / |reference| (None when that is 0);
  *improvement* is the delta signed so that positive is better.
- *time to target*: the first step (and seconds after the run started) at which a run's
  curve reached the reference's best value.
- *Main metrics* (``experiments.tables.main_metric_keys``: validation figures, losses, a
  sweep's objective; never hyperparameters like ``lr/group0``, system or layer statistics)
  are what a comparison is judged on: the headline counts and the ``worse`` gate read only
  them. The others are compared too, for whoever asks, but decide nothing. Keys named by
  the caller are all main.
- The verdict on one metric uses the per-run values chosen by ``by`` (final or best):
  with two or more runs on a side, a noise test (``experiments.compare.noise``) decides between
  better, worse and within noise; one run against one run has no noise estimate, and the
  verdict is the sign of the difference.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.compare import noise
from experiments.compare.curves import EXACT_POINTS, Curve, SeriesReader
from experiments.compare.diffs import (
    RESOURCE_ROWS,
    class_deltas,
    config_diff,
    environment_diff,
    run_resources,
)
from experiments.compare.sides import Side, side_dict
from experiments.directions import project_direction_table
from experiments.errors import ApiError, NotFound
from experiments.jsonvalues import jsonable
from experiments.models import Metric, Run
from experiments.tables import main_metric_keys, sweep_objectives

MAX_SIDES = 12
BY_CHOICES = ("final", "best")


# --- Per-run figures and their summaries ----------------------------------------------


@dataclass
class Figures:
    """One run's figures for one metric."""

    final: float
    final_step: int | None
    best: float | None
    best_step: int | None
    ranks: int
    approximate: bool


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def run_figures(reader: SeriesReader, run: Run, key: str, direction: str) -> Figures | None:
    """Final and best of one run's metric. A single-rank run reads them from the
    ``Metric`` row kept by ingestion; several ranks are folded into their mean first."""
    metric = reader.metrics.get((run.pk, key))
    if metric is None or not metric.count:
        return None
    curve = reader.curve(run, key, EXACT_POINTS)
    if curve is not None and curve.ranks > 1 and len(curve.step):
        finite = np.isfinite(curve.value)
        best, best_step = None, None
        if finite.any():
            index = int(
                np.argmin(curve.value[finite]) if direction == "min" else np.argmax(curve.value[finite])
            )
            best, best_step = float(curve.value[finite][index]), int(curve.step[finite][index])
        return Figures(
            float(curve.value[-1]), int(curve.step[-1]), best, best_step, curve.ranks, curve.downsampled
        )
    final = metric.last_value if metric.last_value is not None else math.nan
    best, best_step = (
        (metric.min_value, metric.min_step) if direction == "min" else (metric.max_value, metric.max_step)
    )
    return Figures(final, metric.last_step, best, best_step, 1, False)


def summarise(values: list[float | None], steps: list[int | None] | None = None) -> dict:
    """A side's figure from its runs' values: the value itself for one run; mean and
    sample std (ddof=1) for several. Non-finite values are counted, not averaged."""
    present = [v for v in values if v is not None]
    finite = [v for v in present if math.isfinite(v)]
    out: dict[str, Any] = {
        "value": None,
        "std": None,
        "n": len(present),
        "nonfinite": len(present) - len(finite),
        "values": present,
        "step": None,
    }
    if len(present) == 1:
        out["value"] = present[0]
        out["step"] = steps[values.index(present[0])] if steps else None
    elif finite:
        out["value"] = float(np.mean(finite))
        out["std"] = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
        if steps:
            out["steps"] = [s for v, s in zip(values, steps, strict=True) if v is not None]
    return out


def delta(value: float | None, reference: float | None, direction: str) -> dict:
    """``abs``, ``rel`` (fraction of |reference|), ``improvement`` (positive = better)
    and ``better`` ("better" / "worse" / "same" / None). A non-finite value against a
    finite reference is worse (divergence), and the other way round better."""
    out: dict[str, Any] = {"abs": None, "rel": None, "improvement": None, "better": None}
    if value is None or reference is None:
        return out
    if not math.isfinite(value) or not math.isfinite(reference):
        if math.isfinite(value) != math.isfinite(reference):
            out["better"] = "better" if math.isfinite(value) else "worse"
            out["improvement"] = math.inf if math.isfinite(value) else -math.inf
        return out
    diff = value - reference
    out["abs"] = diff
    out["rel"] = diff / abs(reference) if reference != 0 else None
    out["improvement"] = diff if direction == "max" else -diff
    out["better"] = "better" if out["improvement"] > 0 else "worse" if out["improvement"] < 0 else "same"
    return out


def reached_target(curve: Curve | None, target: float | None, direction: str) -> dict | None:
    """The first point of ``curve`` at or beyond ``target`` (by direction): its step and
    seconds since the run started; None when no target, ``reached: False`` when never."""
    if curve is None or target is None or not math.isfinite(target):
        return None
    with np.errstate(invalid="ignore"):
        hit = curve.value <= target if direction == "min" else curve.value >= target
    hit &= np.isfinite(curve.value)
    if not hit.any():
        return {"reached": False, "step": None, "seconds": None}
    i = int(np.argmax(hit))
    return {"reached": True, "step": int(curve.step[i]), "seconds": float(curve.elapsed[i])}


def _time_to_target(reader: SeriesReader, side: Side, key: str, target: float | None, direction: str) -> dict:
    per_run = [reached_target(reader.curve(run, key, EXACT_POINTS), target, direction) for run in side.runs]
    hits = [r for r in per_run if r and r["reached"]]
    out: dict[str, Any] = {
        "target": target,
        "runs": len([r for r in per_run if r is not None]),
        "reached": len(hits),
        "step": None,
        "seconds": None,
    }
    if hits:
        # A group's figure is the median over the runs that got there (one slow seed
        # should not hide that the others are faster).
        out["step"] = float(np.median([h["step"] for h in hits]))
        out["seconds"] = float(np.median([h["seconds"] for h in hits]))
        if side.kind == "run":
            out["step"] = int(out["step"])
    return out


def metric_order(keys: Iterable[str]) -> list[str]:
    """Validation metrics first (what a comparison is usually about), then training,
    then the rest, alphabetically within each."""

    def rank(key: str) -> tuple:
        split = key.split("/", 1)[0].lower() if "/" in key else ""
        first = 0 if split in ("val", "valid", "validation", "eval", "test") else 1 if split else 2
        if split in ("train", "training"):
            first = 1
        elif split in ("system", "sys", "gpu", "cpu"):
            first = 3
        return (first, key)

    return sorted(keys, key=rank)


@dataclass
class Comparison:
    """Everything the compare page, the API and the CLI show."""

    reference: Side
    sides: list[Side]
    keys: list[str]
    directions: dict[str, dict]
    by: str
    metrics: list[dict] = field(default_factory=list)
    config: list[dict] = field(default_factory=list)
    environment: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    classes: list[dict] | None = None
    missing: dict[str, list[str]] = field(default_factory=dict)
    main: list[str] = field(default_factory=list)


def shared_keys(reference: Side, sides: list[Side]) -> list[str]:
    """The metric keys every side has (at least one run of each group), in page order."""
    everyone = [reference, *sides]
    rows = Metric.objects.filter(run_id__in=[run.pk for side in everyone for run in side.runs])
    by_run: dict[int, set[str]] = {}
    for run_id, key in rows.values_list("run_id", "key"):
        by_run.setdefault(run_id, set()).add(key)
    have = [set().union(*(by_run.get(run.pk, set()) for run in side.runs)) for side in everyone]
    return metric_order(set.intersection(*have))


def compare(
    reference: Side,
    sides: list[Side],
    *,
    keys: list[str] | None = None,
    by: str = "final",
    alpha: float = noise.ALPHA,
) -> Comparison:
    """Compare every side with ``reference`` on ``keys`` (default: the metrics every
    side has). Raises ApiError naming ``metric`` for a key a side lacks, ``by`` for a bad
    choice of value."""
    if by not in BY_CHOICES:
        raise ApiError(f"must be one of {', '.join(BY_CHOICES)}, got {by!r}", "by")
    if not sides:
        raise ApiError("give at least one run or group to compare", "run")
    if len(sides) > MAX_SIDES:
        raise ApiError(f"at most {MAX_SIDES} runs or groups at once, got {len(sides)}", "run")
    everyone = [reference, *sides]
    reader = SeriesReader(everyone)
    available = [reader.keys(side) for side in everyone]
    shared = set.intersection(*available)
    if keys:
        for key in keys:
            for side, have in zip(everyone, available, strict=True):
                if key not in have:
                    raise NotFound(f"{side.kind} {side.label!r} has no metric {key!r}", "metric")
        chosen = list(dict.fromkeys(keys))
        main = chosen
    else:
        chosen = metric_order(shared)
        main = main_metric_keys(chosen, sweep_objectives(reference.project))
    project = reference.project
    table = {row["key"]: row for row in project_direction_table(project, chosen)}
    result = Comparison(reference=reference, sides=sides, keys=chosen, directions=table, by=by, main=main)
    result.missing = {
        side.token: sorted(set.union(*available) - have)
        for side, have in zip(everyone, available, strict=True)
    }
    for key in chosen:
        result.metrics.append(_metric_row(reader, reference, sides, key, table[key]["direction"], by, alpha))
        result.metrics[-1]["direction_source"] = table[key]["source"]
    result.config = config_diff(everyone)
    result.environment = environment_diff(everyone)
    result.resources = resources(reader, everyone)
    result.classes = class_deltas(reference, sides)
    return result


def _side_figures(reader: SeriesReader, side: Side, key: str, direction: str) -> dict:
    figures = [run_figures(reader, run, key, direction) for run in side.runs]
    finals = [f.final if f else None for f in figures]
    bests = [f.best if f else None for f in figures]
    return {
        "final": summarise(finals, [f.final_step if f else None for f in figures]),
        "best": summarise(bests, [f.best_step if f else None for f in figures]),
        "ranks": max((f.ranks for f in figures if f), default=0),
        "approximate": any(f.approximate for f in figures if f),
    }


def _metric_row(
    reader: SeriesReader, reference: Side, sides: list[Side], key: str, direction: str, by: str, alpha: float
) -> dict:
    ref = _side_figures(reader, reference, key, direction)
    target = ref["best"]["value"]
    row: dict[str, Any] = {
        "key": key,
        "direction": direction,
        "reference": ref,
        "reference_time_to_best": _time_to_target(reader, reference, key, target, direction),
        "sides": [],
    }
    for side in sides:
        fig = _side_figures(reader, side, key, direction)
        fig["delta"] = {name: delta(fig[name]["value"], ref[name]["value"], direction) for name in BY_CHOICES}
        # The test sees finite values only; diverged runs are counted apart ("nonfinite").
        values = [v for v in fig[by]["values"] if math.isfinite(v)]
        ref_values = [v for v in ref[by]["values"] if math.isfinite(v)]
        test = noise.noise_test(values, ref_values) if values and ref_values else None
        improvement = fig["delta"][by]["improvement"]
        fig["test"] = _test_dict(test, direction)
        fig["verdict"] = noise.verdict(improvement, test, alpha)
        fig["time_to_target"] = _time_to_target(reader, side, key, target, direction)
        row["sides"].append(fig)
    return row


def _test_dict(test: noise.TestResult | None, direction: str) -> dict | None:
    if test is None:
        return None
    return {
        "method": test.method,
        "diff": test.diff,
        "t": test.t,
        "df": test.df,
        "p": test.p,
        "interval": list(test.interval) if test.interval else None,
        "direction": direction,
    }


def gate(row: dict, side_index: int = 0, *, tolerance: float = 0.0, abs_tolerance: float = 0.0) -> dict:
    """Whether side ``side_index`` fails on this metric row: its verdict is ``worse``
    and it falls short of the reference by more than the tolerance, which is the larger
    of ``tolerance`` x |reference value| (relative) and ``abs_tolerance`` (absolute). A
    difference within seed noise never fails; a diverged (NaN/inf) value always does."""
    side = row["sides"][side_index]
    by = row.get("by", "final")
    reference = row["reference"][by]["value"]
    improvement = side["delta"][by]["improvement"]
    allowed = max(
        tolerance * abs(reference) if reference is not None and math.isfinite(reference) else 0.0,
        abs_tolerance,
    )
    shortfall = -improvement if improvement is not None else None
    fails = side["verdict"] == "worse" and shortfall is not None and shortfall > allowed
    return {"fails": fails, "shortfall": shortfall, "allowed": allowed}


def resources(reader: SeriesReader, sides: list[Side]) -> list[dict]:
    """Duration, points, points per second, logged throughput and peak GPU memory per
    side (a group: mean ± std over its runs); rows a side has no data for stay empty."""
    by_run: dict[int, dict[str, Metric]] = {}
    for (run_id, key), metric in reader.metrics.items():
        by_run.setdefault(run_id, {})[key] = metric

    per_side = [[run_resources(run, by_run.get(run.pk, {})) for run in side.runs] for side in sides]
    rows = []
    for name, direction in RESOURCE_ROWS:
        cells = [summarise([f[name] for f in runs]) for runs in per_side]
        if all(c["value"] is None for c in cells):
            continue
        reference = cells[0]["value"]
        for cell in cells[1:]:
            cell["delta"] = delta(cell["value"], reference, direction)
        rows.append({"name": name, "direction": direction, "values": cells})
    return rows


# --- JSON -------------------------------------------------------------------------------


def comparison_dict(result: Comparison, *, tolerance: float = 0.0, abs_tolerance: float = 0.0) -> dict:
    """The comparison as the API returns it (``gate`` applied with the tolerances), as
    plain JSON: numpy numbers as Python's, NaN and ±inf spelled as every answer spells them."""
    metrics = []
    main = set(result.main)
    for row in result.metrics:
        row = {**row, "by": result.by, "main": row["key"] in main}
        for index, side in enumerate(row["sides"]):
            side["gate"] = gate(row, index, tolerance=tolerance, abs_tolerance=abs_tolerance)
            # Only a main metric can fail the comparison (a lower lr/group0 is no regression).
            side["gate"]["fails"] = side["gate"]["fails"] and row["main"]
        metrics.append(row)
    return jsonable(
        {
            "reference": side_dict(result.reference),
            "sides": [side_dict(s) for s in result.sides],
            "by": result.by,
            "main": result.main,
            "tolerance": {"relative": tolerance, "absolute": abs_tolerance},
            "metrics": metrics,
            "missing": result.missing,
            "config": result.config,
            "environment": result.environment,
            "resources": result.resources,
            "classes": result.classes,
            "worse": any(side["gate"]["fails"] for row in metrics for side in row["sides"]),
        }
    )
