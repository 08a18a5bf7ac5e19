from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from experiments.diagnostics.admin import legacy_urls as diagnostics_legacy_admin_urls

urlpatterns = [
    # Diagnostics' admin pages where they were before it became its own app.
    path("admin/experiments/", include((diagnostics_legacy_admin_urls(), "diagnostics-legacy-admin"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("experiments.api.urls")),
    # The MLflow-compatible API: api/2.0/mlflow/, ajax-api/2.0/mlflow/, api/2.0/mlflow-artifacts/
    path("", include("mlflow_api.urls")),
    path("", include("tuning.urls")),
    path("", include("teams.urls")),
    path("", include("alerts.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("dashboard.page_urls")),
]

# Errors on API paths answer in the API's JSON shape; pages keep Django's.
handler400 = "experiments.api.errors.bad_request"
handler403 = "experiments.api.errors.permission_denied"
handler404 = "experiments.api.errors.not_found"
handler500 = "experiments.api.errors.server_error"
