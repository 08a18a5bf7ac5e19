"""Celery tasks of sweeps: thin, loading by id. ``trial_run`` is one turn of a slot (see
``tuning.services``); ``sweeps_watchdog`` runs on beat and recovers from dead workers,
as every worker does without beat (``tuning.recovery``).
"""

from celery import current_app, shared_task

# Importing the recovery module connects it to worker_ready: a worker that loads its
# tasks recovers lost trials, beat or no beat.
from tuning import conf, recovery  # noqa: F401


@shared_task(
    # Acknowledged when done, so a busy worker (prefetch 1) leaves the next slot to an
    # idle one. If the worker dies the watchdog re-creates the slot; a broker that
    # redelivers the message later only adds a stray slot, which finds none free.
    acks_late=True,
    soft_time_limit=conf.trial_timeout() + 300,
    time_limit=conf.trial_timeout() + 600,
)
def trial_run(sweep_id: int) -> str | None:
    from tuning.supervisor import run_slot

    return run_slot(sweep_id)


@shared_task(soft_time_limit=60, time_limit=90)
def sweeps_watchdog() -> dict:
    """Recover from dead workers (``tuning.services.trials_recover_lost``) when beat runs.
    Beat is not needed for it: every worker also runs the recovery (``tuning.recovery``)."""
    from tuning import services

    recovered = services.trials_recover_lost()
    return {"lost": recovered.lost, "restarted": recovered.restarted}


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180, max_retries=3, default_retry_delay=30)
def study_delete(study_name: str) -> bool:
    from tuning.storage import delete_study

    return delete_study(study_name)


# The watchdog registers itself with beat: no central schedule to edit for it.
current_app.add_periodic_task(conf.watchdog_interval(), sweeps_watchdog.s(), name="tuning: sweeps watchdog")
