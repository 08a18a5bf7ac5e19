"""Publishes committed run changes to the run's Channels group."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from experiments.consumers import run_group

log = logging.getLogger(__name__)


def publish_run_event(run_id: int, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "run.event", "event": event}
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    try:
        if loop is not None:  # called from async code: schedule, don't block the loop
            loop.create_task(layer.group_send(run_group(run_id), message))
        else:
            async_to_sync(layer.group_send)(run_group(run_id), message)
    except Exception:  # a live-update failure must never fail an ingest that committed
        log.exception("could not publish event for run %s", run_id)
