"""Routes of the MLflow-compatible API, mounted at the site root by ``dashboard.urls``:
the tracking endpoints under ``api/2.0/mlflow/`` and ``ajax-api/2.0/mlflow/`` (the
prefix MLflow's UI and some clients use), the artifact proxy under
``api/2.0/mlflow-artifacts/``. Anything else under those prefixes answers MLflow's
``ENDPOINT_NOT_FOUND``."""

from django.http import HttpRequest
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from mlflow_api import artifacts, views
from mlflow_api.http import endpoint_not_found

TRACKING = [
    ("experiments/create", views.experiments_create),
    ("experiments/get", views.experiments_get),
    ("experiments/get-by-name", views.experiments_get_by_name),
    ("experiments/search", views.experiments_search),
    ("experiments/update", views.experiments_update),
    ("experiments/delete", views.experiments_delete),
    ("experiments/restore", views.experiments_restore),
    ("experiments/set-experiment-tag", views.experiments_set_tag),
    ("experiments/delete-experiment-tag", views.experiments_delete_tag),
    ("runs/create", views.runs_create),
    ("runs/get", views.runs_get),
    ("runs/update", views.runs_update),
    ("runs/delete", views.runs_delete),
    ("runs/restore", views.runs_restore),
    ("runs/search", views.runs_search),
    ("runs/log-metric", views.runs_log_metric),
    ("runs/log-parameter", views.runs_log_parameter),
    ("runs/set-tag", views.runs_set_tag),
    ("runs/delete-tag", views.runs_delete_tag),
    ("runs/log-batch", views.runs_log_batch),
    ("metrics/get-history", views.metrics_get_history),
    ("metrics/get-history-bulk-interval", views.metrics_get_history_bulk_interval),
    ("logged-models/search", views.logged_models_search),
]


@csrf_exempt
def artifact(request: HttpRequest, path: str):
    """One URL per artifact: GET downloads it, PUT uploads it."""
    if request.method == "PUT":
        return artifacts.artifact_put(request, path=path)
    if request.method == "GET":
        return artifacts.artifact_get(request, path=path)
    return endpoint_not_found(request)


urlpatterns = [
    *(
        path(f"{prefix}/2.0/mlflow/{route}", view)
        for prefix in ("api", "ajax-api")
        for route, view in TRACKING
    ),
    path("api/2.0/mlflow-artifacts/artifacts", artifacts.artifacts_list),
    path("api/2.0/mlflow-artifacts/artifacts/<path:path>", artifact),
    re_path(r"^(?:api|ajax-api)/2\.0/mlflow(?:-artifacts)?(?:/(?P<path>.*))?$", endpoint_not_found),
]
