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
        self._register_api_paths()
        self._register_checks()

    def _register_checks(self) -> None:
        """The project's settings checks (``dashboard.checks``): the settings module is the
        project's, not an app's, so the core app registers them."""
        from django.core import checks

        from dashboard.checks import check_settings

        checks.register(check_settings)

    def _register_api_paths(self) -> None:
        """Each area's endpoints in /api/v1/openapi.json (``experiments.api.openapi``)."""
        from experiments import analysis_openapi
        from experiments.api import openapi, paths
        from experiments.compare import openapi as compare_openapi
        from experiments.media import openapi as media_openapi

        # Diagnostics registers its own, in its app config (after these, before tuning's).
        for area in (paths, compare_openapi, media_openapi, analysis_openapi):
            openapi.register_paths(area.PATHS)
