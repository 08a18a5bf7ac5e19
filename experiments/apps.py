from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments import live, services

        services.on_run_event(live.publish_run_event)
        # Live diagnosis subscribes itself to run events on import (idempotent); import it
        # here so every process (web, worker) has it, not only those that hit its URLs.
        import experiments.diagnostics  # noqa: F401
