from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Training diagnostics (``experiments.diagnostics``): its models keep the tables they
    had in the experiments app (``experiments_finding``...)."""

    name = "experiments.diagnostics"
    label = "diagnostics"
    verbose_name = "Diagnostics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments import events
        from experiments.api.openapi import register_paths
        from experiments.diagnostics import openapi, schedule, tasks

        # Live passes in the web process, then the end-of-run task: in every process
        # (web, worker), not only those that hit the diagnostics URLs.
        events.subscribe(schedule.on_run_event)
        events.subscribe(tasks.on_run_event)
        # Its endpoints in /api/v1/openapi.json, after the experiments app's, as before.
        register_paths(openapi.PATHS)
