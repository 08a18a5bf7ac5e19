"""The run-event listener of alerts (subscribed in ``AlertsConfig.ready``): called after
each run event commits, in whichever process emitted it. It only asks whether the
project has a rule the event could fire, and hands the work to ``alerts.services``."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def on_run_event(run_id: int, project_id: int, event: dict) -> None:
    from alerts import services

    try:
        services.event_evaluate(run_id=run_id, project_id=project_id, event=event)
    except Exception:  # an alert must never fail the request or task that changed the run
        log.exception("alert rules could not judge event %s of run %s", event.get("type"), run_id)
