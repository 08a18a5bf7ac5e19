"""Plain-dict shapes of runs and series for JSON responses."""

import math

from django.http import HttpRequest
from django.urls import reverse

from experiments.models import Metric, Run
from experiments.queries import Series


def json_float(value: float | None) -> float | str | None:
    """JSON has no NaN/inf literals: they travel as the strings the ingest API accepts."""
    if value is None:
        return None
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return value


def metric_dict(metric: Metric) -> dict:
    return {
        "count": metric.count,
        "last_step": metric.last_step,
        "last_value": json_float(metric.last_value),
        "min": json_float(metric.min_value),
        "max": json_float(metric.max_value),
    }


def run_dict(run: Run, request: HttpRequest | None = None, metrics: list[Metric] | None = None) -> dict:
    data = {
        "id": run.pk,
        "project": run.project.name,
        "name": run.name,
        "group": run.group,
        "tags": run.tags,
        "status": run.status,
        "config": run.config,
        "summary": run.summary,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "duration_seconds": run.duration_seconds,
        "host": run.host,
        "git_commit": run.git_commit,
        "python_version": run.python_version,
        "torch_version": run.torch_version,
        "cuda_version": run.cuda_version,
        "exit_code": run.exit_code,
        "error": run.error,
        "dropped_points": run.dropped_points,
        "points_count": run.points_count,
    }
    if request is not None:
        data["url"] = request.build_absolute_uri(reverse("run", args=[run.pk]))
    if metrics is not None:
        data["metrics"] = {m.key: metric_dict(m) for m in metrics}
    return data


def series_dict(series: Series) -> dict:
    return {
        "step": series.step,
        "value": [json_float(v) for v in series.value],
        "wall_time": series.wall_time,
        "rank": series.rank,
    }
