from django.apps import AppConfig


class TuningConfig(AppConfig):
    """Hyperparameter sweeps (Optuna studies run by Celery workers); see issue #5."""

    name = "tuning"
    default_auto_field = "django.db.models.BigAutoField"
