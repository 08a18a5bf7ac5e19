"""Browser pages and the JSON endpoints their scripts fetch (the public API lives in
``experiments.api``)."""

from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from dashboard.views import analysis, projects, runs, saved_views, sdk, series
from experiments import converters  # noqa: F401 (registers <project:...>)
from experiments.compare import pages as compare
from experiments.media.pages import run_checkpoint_download, run_media

urlpatterns = [
    path("", projects.project_list, name="projects"),
    # Pages link static/favicon.svg; this answers browsers that ask /favicon.ico anyway
    # (the admin's pages, a bookmark, a feed reader) instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
    # The SDK served by the server itself (dashboard.views.sdk)
    path("start/", sdk.start_page, name="start"),
    path("sdk/simple/", sdk.simple_root, name="sdk-simple"),
    path("sdk/simple/<str:name>/", sdk.simple_project, name="sdk-simple-project"),
    path("sdk/<str:filename>", sdk.wheel_file, name="sdk-wheel"),
    path("projects/<project:name>/rows.json", projects.project_rows, name="project-rows"),
    path("projects/<project:name>/views/", saved_views.view_save, name="project-view-save"),
    path(
        "projects/<project:name>/views/<int:view_id>/delete/",
        saved_views.view_delete,
        name="project-view-delete",
    ),
    path("projects/<project:name>/groups.json", projects.project_group_curves, name="project-group-curves"),
    path(
        "projects/<project:name>/runs.csv",
        projects.project_export,
        {"fmt": "csv"},
        name="project-export-csv",
    ),
    path(
        "projects/<project:name>/runs.parquet",
        projects.project_export,
        {"fmt": "parquet"},
        name="project-export-parquet",
    ),
    path("projects/<project:name>/analysis/", analysis.analysis_page, name="analysis"),
    path("projects/<project:name>/analysis/data.json", analysis.analysis_data, name="analysis-data"),
    path("runs/<int:run_id>/", runs.run_detail, name="run"),
    path("runs/<int:run_id>/series.json", series.run_series, name="run-series"),
    # Baselines and comparisons (experiments.compare.pages)
    path("projects/<project:name>/compare/", compare.compare_page, name="compare"),
    path("projects/<project:name>/compare/curves.json", compare.compare_curves, name="compare-curves"),
    path("projects/<project:name>/baseline/", compare.project_set_baseline, name="project-set-baseline"),
    path("runs/<int:run_id>/compare/", compare.run_compare, name="run-compare"),
    # Media sections of the run page (experiments.media.pages)
    path("runs/<int:run_id>/media.json", run_media, name="run-media"),
    path(
        "runs/<int:run_id>/checkpoints/<int:checkpoint_id>/download",
        run_checkpoint_download,
        name="run-checkpoint-download",
    ),
    # Last: "projects/vision/compare/" is project vision's compare page, not a project
    # "compare" of entity vision (such suffixes are reserved as names; converters.py).
    path("projects/<project:name>/", projects.project_detail, name="project"),
]
