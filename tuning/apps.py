from django.apps import AppConfig


class TuningConfig(AppConfig):
    """Hyperparameter sweeps (Optuna studies run by Celery workers); see issue #5."""

    name = "tuning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from experiments.api.openapi import register_paths
        from tuning.api.openapi import PATHS

        register_paths(PATHS)
        self._wire()

    def _wire(self) -> None:
        """What the services ask for reaches the tasks, and every worker recovers lost
        trials (beat or no beat): connected here, in every process, not on import."""
        from celery.signals import worker_ready, worker_shutdown

        from tuning import recovery, signals, tasks

        signals.slot_wanted.connect(tasks.enqueue_slot, dispatch_uid="tuning.enqueue_slot")
        signals.study_unused.connect(tasks.enqueue_study_delete, dispatch_uid="tuning.enqueue_study_delete")
        worker_ready.connect(recovery.start, dispatch_uid="tuning.recovery.start")
        worker_shutdown.connect(recovery.stop, dispatch_uid="tuning.recovery.stop")
