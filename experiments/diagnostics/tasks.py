"""The Celery task of diagnostics, and the run-event listener that enqueues it
(subscribed in ``experiments.diagnostics.apps``)."""

import logging

from celery import shared_task

from experiments.diagnostics.runner import run_diagnose as diagnose
from experiments.diagnostics.schedule import ENDED

log = logging.getLogger(__name__)


# Named as it was when it lived in ``experiments.tasks``: messages already queued under
# that name (an upgrade with a non-empty broker) still find it.
@shared_task(
    name="experiments.tasks.run_diagnose",
    acks_late=True,
    soft_time_limit=120,
    time_limit=150,
    max_retries=2,
    default_retry_delay=10,
)
def run_diagnose(run_id: int) -> dict | None:
    """Run every analyzer over a run and store its findings (at the end of a run; live
    runs are diagnosed in the web process, see ``experiments.diagnostics.schedule``)."""
    result = diagnose(run_id=run_id)
    if result is None:
        return None
    return {
        "findings": sorted(f.fingerprint for f in result.all),
        "errors": result.errors,
        "changed": result.changed,
    }


def on_run_event(run_id: int, project_id: int, event: dict) -> None:
    """A run that ended (finished, failed, crashed) gets its final diagnosis in a worker."""
    if event.get("type") == "status" and event.get("status") in ENDED:
        try:
            run_diagnose.delay(run_id)
        except Exception:  # a broker hiccup must not fail the request that finished the run
            log.exception("could not enqueue the diagnosis of run %s", run_id)
