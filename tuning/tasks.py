"""Celery tasks of sweeps: thin, loading by id. ``trial_run`` is one turn of a slot (see
``tuning.services``); ``sweeps_watchdog`` runs on beat and recovers from dead workers,
as every worker does without beat (``tuning.recovery``).

The receivers at the end enqueue what the services ask for (``tuning.signals``); they and
the recovery thread are connected in ``TuningConfig.ready``. Time limits of ``trial_run``
follow ``TUNING_TRIAL_TIMEOUT`` and the watchdog's period ``TUNING_WATCHDOG_INTERVAL``:
both are declared in ``dashboard/settings.py`` (``CELERY_TASK_ANNOTATIONS``,
``CELERY_BEAT_SCHEDULE``).
"""

from celery import shared_task

from tuning import services


@shared_task(
    # Acknowledged when done, so a busy worker (prefetch 1) leaves the next slot to an
    # idle one. If the worker dies the watchdog re-creates the slot; a broker that
    # redelivers the message later only adds a stray slot, which finds none free.
    acks_late=True,
)
def trial_run(sweep_id: int) -> str | None:
    from tuning.supervisor import run_slot  # Optuna and the supervisor: in workers only

    return run_slot(sweep_id)


@shared_task(soft_time_limit=60, time_limit=90)
def sweeps_watchdog() -> dict:
    """Recover from dead workers (``tuning.services.trials_recover_lost``) when beat runs.
    Beat is not needed for it: every worker also runs the recovery (``tuning.recovery``)."""
    recovered = services.trials_recover_lost()
    return {"lost": recovered.lost, "restarted": recovered.restarted}


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, max_retries=3, default_retry_delay=30)
def study_delete(study_name: str) -> bool:
    from tuning.storage import delete_study

    return delete_study(study_name)


def enqueue_slot(sender, sweep_id: int, **kwargs) -> None:
    """Receiver of ``tuning.signals.slot_wanted``."""
    trial_run.delay(sweep_id)


def enqueue_study_delete(sender, study_name: str, **kwargs) -> None:
    """Receiver of ``tuning.signals.study_unused``."""
    study_delete.delay(study_name)
