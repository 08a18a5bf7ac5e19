"""The teams app's pages (one include in ``dashboard.urls``)."""

from django.urls import path

from experiments import converters  # noqa: F401 (registers <project:...>)
from teams import views

urlpatterns = [
    path("keys/", views.keys_page, name="keys"),
    path("keys/<int:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("teams/", views.team_list, name="teams"),
    path("teams/join/<str:token>/", views.team_join, name="team-join"),
    path("teams/<slug:slug>/", views.team_detail, name="team"),
    path("projects/<project:name>/settings/", views.project_settings, name="project-settings"),
]
