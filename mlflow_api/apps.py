from django.apps import AppConfig


class MlflowApiConfig(AppConfig):
    """The MLflow-compatible tracking API (issue #13)."""

    name = "mlflow_api"
    default_auto_field = "django.db.models.BigAutoField"
