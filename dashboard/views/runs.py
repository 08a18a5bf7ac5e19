"""A run's page: header, chart grid (filled by static/js/run.js) and tables."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from experiments.api.http import checked
from experiments.compare.baselines import baseline_active
from experiments.directions import metric_direction
from experiments.formatting import fmt_duration, fmt_number, fmt_value, is_bad
from experiments.media import reads
from experiments.media.pages import INTERNAL_PREFIXES
from experiments.models import Metric, PointChunk
from experiments.selectors import run_metrics, runs_visible_to
from experiments.tables import flatten


def chart_groups(keys: list[str]) -> list[dict]:
    """One chart per metric name: ``train/loss`` and ``val/loss`` share the chart
    ``loss`` (the split is the text before the first "/"); keys without "/" stand alone.
    Charts comparing several splits (learning curves) come first, losses leading."""
    charts: dict[str, list[str]] = {}
    for key in sorted(keys):
        _, slash, name = key.partition("/")
        charts.setdefault(name if slash else key, []).append(key)
    ordered = sorted(charts.items(), key=lambda item: (len(item[1]) == 1, "loss" not in item[0], item[0]))
    return [
        {
            "name": name,
            "title": name if len(chart_keys) > 1 else chart_keys[0],
            "keys": chart_keys,
            "direction": metric_direction(name),
        }
        for name, chart_keys in ordered
    ]


def _metric_rows(metrics: list[Metric]) -> list[dict]:
    rows = []
    for m in metrics:
        last = m.last_value if m.last_value is not None or not m.count else float("nan")
        rows.append(
            {
                "key": m.key,
                "count": m.count,
                "last": fmt_number(last),
                "last_bad": is_bad(last),
                "last_step": m.last_step,
                "min": fmt_number(m.min_value),
                "max": fmt_number(m.max_value),
                "nonfinite": m.nonfinite_count,
                "direction": metric_direction(m.key),
            }
        )
    return rows


def _ranks(run) -> int:
    """How many processes logged to the run: the job's size its ranks sent at ``init``, or
    the ranks found in its points (a run joined by id, or a launcher the SDK did not know)."""
    seen = PointChunk.objects.filter(metric__run=run).order_by().values_list("rank", flat=True).distinct()
    return max(run.world_size, len(set(seen[:100_000])))


@login_required
@checked
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    metrics = list(run_metrics(run))
    # Hook and system metrics have their own sections (templates/runs/_media.html).
    charts = chart_groups([m.key for m in metrics if not m.key.startswith(INTERNAL_PREFIXES)])
    page_data = {
        "run": run.pk,
        "status": run.status,
        "startedAt": run.started_at.timestamp(),
        "seriesUrl": reverse("run-series", args=[run.pk]),
        "wsPath": f"/ws/runs/{run.pk}/",
        "charts": charts,
        "maxPoints": settings.TRACKER_CHART_POINTS,
        "internalPrefixes": list(INTERNAL_PREFIXES),
    }
    context = {
        "run": run,
        "project": run.project,
        "duration": fmt_duration(run.duration_seconds),
        "points": f"{run.points_count:,}",
        "ranks": _ranks(run),
        "metrics": _metric_rows(metrics),
        "config": [(k, fmt_number(v)) for k, v in sorted(flatten(run.config).items())],
        "summary": [(k, fmt_value(k, v)) for k, v in sorted(flatten(run.summary).items())],
        "nonfinite_total": sum(m.nonfinite_count for m in metrics),
        "page_data": page_data,
        # Strings logged with tracker.log: templates/runs/_media.html's Text section.
        "text_series": reads.text_series(run),
        "baseline": baseline_active(run.project),
    }
    return render(request, "runs/detail.html", context)
