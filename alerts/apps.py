from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts (rules, destinations, deliveries) and data checks (dataset profiles)."""

    name = "alerts"
    verbose_name = "Alerts and data checks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Run events reach alert rules in every process (web, worker): a run finished by
        # its client (web), crashed (beat's detector, worker), a diagnosis pass (either).
        from alerts import listeners, openapi
        from experiments import events
        from experiments.api.openapi import register_paths

        events.subscribe(listeners.on_run_event)
        register_paths(openapi.PATHS)
