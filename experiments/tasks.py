"""Celery tasks: thin wrappers that load by id and call a service, and the run-event
listener that enqueues them (subscribed in ``experiments.apps``; services never import
this module)."""

from celery import shared_task
from django.conf import settings

from experiments import services
from experiments.models import RunStatus

# The statuses only ``services.run_finish`` sets: a client ended the run.
FINISHED = {RunStatus.FINISHED, RunStatus.FAILED}


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, max_retries=3, default_retry_delay=10)
def run_finalize(run_id: int) -> dict:
    """After a run finishes, recompute its metric summaries exactly from the stored
    points (applying the supersede rule that the incremental ingest path cannot)."""
    return services.run_summaries_recompute(run_id=run_id)


@shared_task(soft_time_limit=60, time_limit=90)
def runs_detect_crashed() -> list[int]:
    return services.runs_mark_crashed(silent_for_seconds=settings.TRACKER_CRASH_AFTER_SECONDS)


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900, max_retries=3, default_retry_delay=30)
def run_purge(run_id: int) -> int:
    """A deleted run's points in batches, then the run and its files (``runops``)."""
    from experiments.runops import run_purge as purge

    return purge(run_id)


def on_run_event(run_id: int, project_id: int, event: dict) -> None:
    """The Celery follow-ups of a run event (after commit): a run its client finished
    gets ``run_finalize``; a deleted one ``run_purge``."""
    if event.get("type") == "status" and event.get("status") in FINISHED:
        run_finalize.delay(run_id)
    elif event.get("type") == "deleted":
        run_purge.delay(run_id)
