"""Chart data for the run page: each metric downsampled by ``metric_series``, shaped
for Plotly (non-finite values as gaps plus a list of where they were)."""

import math

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from experiments.api.http import page_json
from experiments.errors import ApiError
from experiments.formatting import fmt_number
from experiments.models import Metric
from experiments.payloads import INT64_MAX, INT64_MIN
from experiments.queries import Series, fold_ranks, metric_series
from experiments.selectors import run_metrics, runs_visible_to


def _per_rank(series: Series) -> list[dict]:
    """Each rank's own line (the run page's per-rank toggle); NaN/inf as gaps."""
    lines: dict[int, dict] = {}
    for step, value, wall, rank in zip(series.step, series.value, series.wall_time, series.rank, strict=True):
        line = lines.setdefault(rank, {"rank": rank, "step": [], "value": [], "wall_time": []})
        line["step"].append(step)
        line["value"].append(value if math.isfinite(value) else None)
        line["wall_time"].append(wall)
    return [lines[rank] for rank in sorted(lines)]


def _gaps(values: list[float]) -> list[float | None]:
    """Plotly's gaps: None where a value is NaN or ±inf."""
    return [v if math.isfinite(v) else None for v in values]


def chart_series(
    metric: Metric, max_points: int, step_min: int | None, step_max: int | None, per_rank: bool = False
) -> dict:
    """One metric's chart data. ``value`` holds null where the point was NaN or ±inf
    (a gap in the line); ``nonfinite`` says which steps and what they were, so the page
    can mark divergence that a gap alone would hide. With several ranks the line is their
    mean (``experiments.queries.fold_ranks``; ``std`` their spread), and ``per_rank`` adds
    each rank's line as ``by_rank``."""
    series = metric_series(metric, max_points, step_min, step_max)
    ranks = len(set(series.rank))
    data: dict = {"key": metric.key, "downsampled": series.downsampled, "total": series.total, "ranks": ranks}
    if ranks > 1:
        folded = fold_ranks(series)
        steps, values, walls = folded.step.tolist(), folded.value.tolist(), folded.wall_time.tolist()
        data["std"] = _gaps(folded.std.tolist())
        if per_rank:
            data["by_rank"] = _per_rank(series)
    else:
        steps, values, walls = series.step, series.value, series.wall_time
    data["step"] = steps
    data["wall_time"] = walls
    data["value"] = _gaps(values)
    bad = [(s, v) for s, v in zip(steps, values, strict=True) if not math.isfinite(v)]
    data["nonfinite"] = {"step": [s for s, _ in bad], "value": [v for _, v in bad]}
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


@page_json
def run_series(request: HttpRequest, run_id: int) -> dict:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    step_min, step_max = _step_range(request)
    metrics = run_metrics(run)
    keys = request.GET.getlist("key")
    if keys:
        metrics = metrics.filter(key__in=keys)
    max_points = settings.TRACKER_CHART_POINTS
    per_rank = request.GET.get("ranks") == "each"
    series = [chart_series(m, max_points, step_min, step_max, per_rank) for m in metrics]
    return {"run": run.pk, "status": run.status, "max_points": max_points, "series": series}
