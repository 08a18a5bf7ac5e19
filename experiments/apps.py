from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every listener of run events is wired here (and in the diagnostics app's
        # ``ready``), in every process: web, worker, management commands.
        from experiments import events, live, tasks

        events.subscribe(live.publish_run_event)
        events.subscribe(tasks.on_run_event)
