"""Chart data for the run page: each metric downsampled by ``metric_series``, shaped
for Plotly (non-finite values as gaps plus a list of where they were)."""

import math
import statistics
from collections import defaultdict

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from dashboard.views.checks import checked
from dashboard.views.formatting import fmt_number
from experiments.api.decorators import error_response, json_response
from experiments.api.serializers import json_float
from experiments.errors import ApiError
from experiments.models import Metric
from experiments.payloads import INT64_MAX, INT64_MIN
from experiments.queries import Series, metric_series
from experiments.selectors import run_metrics, runs_visible_to


def _by_step(series: Series) -> tuple[list[int], list[float], list[float], list[float | None]]:
    """Several ranks' points folded into one line: per step the mean of the finite
    values, their standard deviation, the newest wall time; NaN when none is finite."""
    groups: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for step, value, wall in zip(series.step, series.value, series.wall_time, strict=True):
        groups[step].append((value, wall))
    steps, values, walls, stds = [], [], [], []
    for step in sorted(groups):
        finite = [v for v, _ in groups[step] if math.isfinite(v)]
        bad = [v for v, _ in groups[step] if not math.isfinite(v)]
        steps.append(step)
        walls.append(max(w for _, w in groups[step]))
        values.append(statistics.fmean(finite) if finite and not bad else (bad[0] if bad else math.nan))
        stds.append(statistics.pstdev(finite) if len(finite) > 1 and not bad else None)
    return steps, values, walls, stds


def _per_rank(series: Series) -> list[dict]:
    """Each rank's own line (the run page's per-rank toggle); NaN/inf as gaps."""
    lines: dict[int, dict] = {}
    for step, value, wall, rank in zip(series.step, series.value, series.wall_time, series.rank, strict=True):
        line = lines.setdefault(rank, {"rank": rank, "step": [], "value": [], "wall_time": []})
        line["step"].append(step)
        line["value"].append(value if math.isfinite(value) else None)
        line["wall_time"].append(wall)
    return [lines[rank] for rank in sorted(lines)]


def chart_series(
    metric: Metric, max_points: int, step_min: int | None, step_max: int | None, per_rank: bool = False
) -> dict:
    """One metric's chart data. ``value`` holds null where the point was NaN or ±inf
    (a gap in the line); ``nonfinite`` says which steps and what they were, so the page
    can mark divergence that a gap alone would hide. With several ranks the line is their
    mean (``std`` their spread), and ``per_rank`` adds each rank's line as ``by_rank``."""
    series = metric_series(metric, max_points, step_min, step_max)
    ranks = len(set(series.rank))
    data: dict = {"key": metric.key, "downsampled": series.downsampled, "total": series.total, "ranks": ranks}
    if ranks > 1:
        steps, values, walls, stds = _by_step(series)
        data["std"] = stds
        if per_rank:
            data["by_rank"] = _per_rank(series)
    else:
        steps, values, walls = series.step, series.value, series.wall_time
    data["step"] = steps
    data["wall_time"] = walls
    data["value"] = [v if math.isfinite(v) else None for v in values]
    bad = [(s, v) for s, v in zip(steps, values, strict=True) if not math.isfinite(v)]
    data["nonfinite"] = {"step": [s for s, _ in bad], "value": [json_float(v) for _, v in bad]}
    last = metric.last_value if metric.last_value is not None or not metric.count else math.nan
    data["stats"] = {
        "count": metric.count,
        "last": fmt_number(last),
        "min": fmt_number(metric.min_value),
        "max": fmt_number(metric.max_value),
        "nonfinite": metric.nonfinite_count,
    }
    return data


def _step_range(request: HttpRequest) -> tuple[int | None, int | None]:
    """``step_min``/``step_max`` from the query string. Plotly ranges are floats, so
    they are floored/ceiled to whole steps. Raises ApiError naming the bad field."""
    bounds = []
    for name, rounding in (("step_min", math.floor), ("step_max", math.ceil)):
        raw = request.GET.get(name, "").strip()
        if not raw:
            bounds.append(None)
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ApiError(f"must be a number, got {raw[:40]!r}", name) from None
        if not math.isfinite(value):
            raise ApiError("must be a finite number", name)
        # Steps are 64-bit: a bound past either end is that end.
        bounds.append(min(max(int(rounding(value)), INT64_MIN), INT64_MAX))
    lo, hi = bounds
    if lo is not None and hi is not None and lo > hi:
        raise ApiError("must be <= step_max", "step_min")
    return lo, hi


@login_required
@checked
def run_series(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    try:
        step_min, step_max = _step_range(request)
    except ApiError as exc:
        return error_response(exc.message, exc.field, exc.status)
    metrics = run_metrics(run)
    keys = request.GET.getlist("key")
    if keys:
        metrics = metrics.filter(key__in=keys)
    max_points = settings.TRACKER_CHART_POINTS
    per_rank = request.GET.get("ranks") == "each"
    series = [chart_series(m, max_points, step_min, step_max, per_rank) for m in metrics]
    return json_response({"run": run.pk, "status": run.status, "max_points": max_points, "series": series})
