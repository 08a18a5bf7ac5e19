from django.urls import path

from tuning.api import views

urlpatterns = [
    path("sweeps", views.sweeps_create, name="api-sweeps"),
    path("sweeps/<int:sweep_id>", views.sweep_detail, name="api-sweep"),
    path("sweeps/<int:sweep_id>/trials", views.sweep_trials_list, name="api-sweep-trials"),
    path("sweeps/<int:sweep_id>/stop", views.sweep_stop, name="api-sweep-stop"),
    path("sweeps/<int:sweep_id>/start", views.sweep_start, name="api-sweep-start"),
]
