from django.apps import AppConfig


class TuningConfig(AppConfig):
    """Hyperparameter sweeps (Optuna studies run by Celery workers); see issue #5."""

    name = "tuning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments.api.openapi import register_paths
        from tuning.api.openapi import PATHS

        register_paths(PATHS)
