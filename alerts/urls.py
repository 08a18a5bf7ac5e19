"""Alerts' API endpoints and project page (one include in ``dashboard.urls``)."""

from django.urls import path

from alerts import api, pages

urlpatterns = [
    path("api/v1/runs/<int:run_id>/alerts", api.run_alert, name="api-run-alerts"),
    path("api/v1/runs/<int:run_id>/datasets", api.run_datasets, name="api-run-datasets"),
    path("projects/<str:name>/alerts/", pages.project_alerts, name="project-alerts"),
    path(
        "projects/<str:name>/alerts/destinations/<int:destination_id>/test/",
        pages.destination_test,
        name="alert-destination-test",
    ),
]
