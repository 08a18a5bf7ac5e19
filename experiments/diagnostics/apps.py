from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Training diagnostics (``experiments.diagnostics``): its models keep the tables they
    had in the experiments app (``experiments_finding``...)."""

    name = "experiments.diagnostics"
    label = "diagnostics"
    verbose_name = "Diagnostics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Live passes in the web process, then the end-of-run task: in every process
        # (web, worker), not only those that hit the diagnostics URLs.
        from experiments import events
        from experiments.diagnostics import schedule, tasks

        events.subscribe(schedule.on_run_event)
        events.subscribe(tasks.on_run_event)
