"""Plain-dict shapes of runs and series for JSON responses (NaN and ±inf stay floats:
``json_response`` spells them as every answer does)."""

from django.http import HttpRequest
from django.urls import reverse

from experiments.models import Metric, Run
from experiments.queries import Series


def metric_dict(metric: Metric) -> dict:
    return {
        "count": metric.count,
        "last_step": metric.last_step,
        "last_value": metric.last_value,
        "min": metric.min_value,
        "max": metric.max_value,
    }


def run_dict(run: Run, request: HttpRequest | None = None, metrics: list[Metric] | None = None) -> dict:
    data = {
        "id": run.pk,
        "project": run.project.name,
        "name": run.name,
        "group": run.group,
        "tags": run.tags,
        "notes": run.notes,
        "status": run.status,
        "archived_at": run.archived_at,
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
        "world_size": run.world_size,
    }
    if request is not None:
        data["url"] = request.build_absolute_uri(reverse("run", args=[run.pk]))
    if metrics is not None:
        data["metrics"] = {m.key: metric_dict(m) for m in metrics}
    return data


def series_dict(series: Series) -> dict:
    return {
        "step": series.step,
        "value": series.value,
        "wall_time": series.wall_time,
        "rank": series.rank,
    }
