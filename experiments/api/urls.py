from django.urls import path

from experiments import converters  # noqa: F401 (registers <project:...>)
from experiments.analysis_api import project_analysis_view
from experiments.api import openapi, views
from experiments.api.http import by_method
from experiments.compare import api as compare_views
from experiments.diagnostics import api as diagnostics_views
from experiments.media.api import run_checkpoint_file, run_checkpoints, run_media

urlpatterns = [
    path("openapi.json", openapi.schema_view, name="openapi"),
    path("runs", views.runs_create, name="api-runs"),
    path(
        "runs/<int:run_id>",
        by_method(GET=views.run_detail, PATCH=views.run_edit, DELETE=views.run_delete),
        name="api-run",
    ),
    path("runs/bulk", views.runs_bulk, name="api-runs-bulk"),
    path("runs/<int:run_id>/batches", views.run_batches, name="api-run-batches"),
    path("runs/<int:run_id>/heartbeat", views.run_heartbeat, name="api-run-heartbeat"),
    path("runs/<int:run_id>/finish", views.run_finish, name="api-run-finish"),
    path("runs/<int:run_id>/history", views.run_history, name="api-run-history"),
    path("runs/<int:run_id>/receipts", views.run_receipts, name="api-run-receipts"),
    path("projects", views.projects_list, name="api-projects"),
    path("projects/<project:name>/runs", views.project_runs, name="api-project-runs"),
    path("projects/<project:name>/analysis", project_analysis_view, name="api-project-analysis"),
    # Baselines and comparisons (experiments.compare.api)
    path("runs/<int:run_id>/compare", compare_views.run_compare, name="api-run-compare"),
    path("projects/<project:name>/baseline", compare_views.project_baseline, name="api-project-baseline"),
    path(
        "projects/<project:name>/directions",
        compare_views.project_directions,
        name="api-project-directions",
    ),
    path("projects/<project:name>/compare", compare_views.project_compare, name="api-project-compare"),
    path("groups", compare_views.groups_find, name="api-groups"),
    # Media and checkpoints (experiments.media.api)
    path("runs/<int:run_id>/media", run_media, name="api-run-media"),
    path("runs/<int:run_id>/checkpoints", run_checkpoints, name="api-run-checkpoints"),
    path(
        "runs/<int:run_id>/checkpoints/<int:checkpoint_id>/file",
        run_checkpoint_file,
        name="api-run-checkpoint-file",
    ),
    # Diagnostics (experiments.diagnostics.api)
    path("runs/<int:run_id>/findings", diagnostics_views.run_findings, name="api-run-findings"),
    path(
        "runs/<int:run_id>/findings/<int:finding_id>/dismiss",
        diagnostics_views.finding_dismiss,
        name="api-run-finding-dismiss",
    ),
    path("projects/<project:name>/findings", diagnostics_views.project_findings, name="api-project-findings"),
]
