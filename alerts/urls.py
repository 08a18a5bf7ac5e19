"""Alerts' API endpoints and project page (one include in ``dashboard.urls``)."""

from django.urls import path

from alerts import api, data_views, pages
from experiments import converters  # noqa: F401 (registers <project:...>)

urlpatterns = [
    path("api/v1/runs/<int:run_id>/alerts", api.run_alert, name="api-run-alerts"),
    path("api/v1/runs/<int:run_id>/datasets", api.run_datasets, name="api-run-datasets"),
    # The run page's Data section (templates/runs/_data.html, static/js/run_data.js)
    path("runs/<int:run_id>/datasets.json", data_views.run_data, name="run-datasets"),
    path("projects/<project:name>/alerts/", pages.project_alerts, name="project-alerts"),
    path(
        "projects/<project:name>/alerts/destinations/<int:destination_id>/test/",
        pages.destination_test,
        name="alert-destination-test",
    ),
]
