"""A run's page and the chart data its script fetches."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from experiments.api.decorators import json_response
from experiments.api.serializers import series_dict
from experiments.queries import metric_series
from experiments.selectors import run_metrics, runs_visible_to


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    return render(request, "runs/detail.html", {"run": run, "metrics": list(run_metrics(run))})


@login_required
def run_series(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(runs_visible_to(request.user), pk=run_id)
    max_points = getattr(settings, "TRACKER_CHART_POINTS", 1500)
    data = {m.key: series_dict(metric_series(m, max_points)) for m in run_metrics(run)}
    return json_response({"run": run.pk, "series": data})
