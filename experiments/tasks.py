"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task
from django.conf import settings

from experiments import diagnostics, services  # diagnostics: subscribes to run events


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360, max_retries=3, default_retry_delay=10)
def run_finalize(run_id: int) -> dict:
    """After a run finishes, recompute its metric summaries exactly from the stored
    points (applying the supersede rule that the incremental ingest path cannot)."""
    return services.run_summaries_recompute(run_id=run_id)


@shared_task(soft_time_limit=60, time_limit=90)
def runs_detect_crashed() -> list[int]:
    return services.runs_mark_crashed(silent_for_seconds=settings.TRACKER_CRASH_AFTER_SECONDS)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150, max_retries=2, default_retry_delay=10)
def run_diagnose(run_id: int) -> dict | None:
    """Run every analyzer over a run and store its findings (at the end of a run; live
    runs are diagnosed in the web process, see ``experiments.diagnostics.schedule``)."""
    result = diagnostics.runner.run_diagnose(run_id=run_id)
    if result is None:
        return None
    return {
        "findings": sorted(f.fingerprint for f in result.all),
        "errors": result.errors,
        "changed": result.changed,
    }
