from django.urls import path

from experiments.api import openapi, views

urlpatterns = [
    path("openapi.json", openapi.schema_view, name="openapi"),
    path("runs", views.runs_create, name="api-runs"),
    path("runs/<int:run_id>", views.run_detail, name="api-run"),
    path("runs/<int:run_id>/batches", views.run_batches, name="api-run-batches"),
    path("runs/<int:run_id>/heartbeat", views.run_heartbeat, name="api-run-heartbeat"),
    path("runs/<int:run_id>/finish", views.run_finish, name="api-run-finish"),
    path("runs/<int:run_id>/history", views.run_history, name="api-run-history"),
    path("projects", views.projects_list, name="api-projects"),
    path("projects/<str:name>/runs", views.project_runs, name="api-project-runs"),
]
