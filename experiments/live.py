"""Publishes committed run changes to the run's Channels group, coalesced.

A run logging thousands of batches a second must not flood the channel layer or the
browsers: the first "points" event of a run goes out at once, later ones within
``TRACKER_LIVE_INTERVAL`` seconds are merged (union of keys) and sent when it ends.
Status events go out at once, after any pending points of that run, so order is kept.

Everything runs on the server's event loop (sync ingest code reaches it through
``async_to_sync``), so the in-memory layer of the embedded default works and no lock
is needed.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from experiments.consumers import run_group

log = logging.getLogger(__name__)


async def _send(run_id: int, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(run_group(run_id), {"type": "run.event", "event": event})
    except Exception:  # a live-update failure must never fail an ingest that committed
        log.exception("could not publish event for run %s", run_id)


_tasks: set[asyncio.Task] = set()


def _spawn(coro) -> None:
    """Run ``coro`` on the running loop, keeping a reference until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Coalescer:
    """Merges "points" events per run over a fixed interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: dict[int, set[str]] = {}
        # Runs inside an interval, with the loop whose timer will end it.
        self._due: dict[int, asyncio.AbstractEventLoop] = {}

    async def publish(self, run_id: int, event: dict) -> None:
        if event.get("type") != "points":
            keys = self._pending.pop(run_id, None)
            if keys:
                await _send(run_id, {"type": "points", "keys": sorted(keys)})
            await _send(run_id, event)
            return
        loop = asyncio.get_running_loop()
        due = self._due.get(run_id)
        if due is not None and not due.is_closed():
            self._pending.setdefault(run_id, set()).update(event.get("keys", ()))
            return
        self._due[run_id] = loop
        await _send(run_id, {"type": "points", "keys": sorted(event.get("keys", ()))})
        loop.call_later(self.interval, self._interval_ended, run_id)

    def _interval_ended(self, run_id: int) -> None:
        keys = self._pending.pop(run_id, None)
        if not keys:
            self._due.pop(run_id, None)
            return
        _spawn(_send(run_id, {"type": "points", "keys": sorted(keys)}))
        asyncio.get_running_loop().call_later(self.interval, self._interval_ended, run_id)


_coalescer = Coalescer(settings.TRACKER_LIVE_INTERVAL)


def publish_run_event(run_id: int, event: dict) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_coalescer.publish)(run_id, event)
    else:
        _spawn(_coalescer.publish(run_id, event))
