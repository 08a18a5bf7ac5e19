"""Every URL of the sweeps app, included once by ``dashboard.urls``: the JSON API under
``api/v1/`` and the sweep page with the JSON its script fetches."""

from django.urls import include, path

from tuning import views

urlpatterns = [
    path("api/v1/", include("tuning.api.urls")),
    path("sweeps/<int:sweep_id>/", views.sweep_detail, name="sweep"),
    path("sweeps/<int:sweep_id>/data.json", views.sweep_data, name="sweep-data"),
]
