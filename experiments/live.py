"""Publishes committed run changes to Channels groups, coalesced.

Each change goes to the run's group (its page) and to its project's group (the runs
table). A run logging thousands of batches a second must not flood the channel layer
or the browsers, so mergeable events ("points": union of keys; "runs": union of run
ids) go out at once for the first of an interval and merged at its end, at most once per
``TRACKER_LIVE_INTERVAL`` seconds per group. Other events (status, created) go out at
once, after any pending merged event of that group, so order is kept.

Everything runs on the server's event loop (sync ingest code reaches it through
``async_to_sync``), so the in-memory layer of the embedded default works and no lock
is needed.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from experiments.consumers import project_group, run_group

log = logging.getLogger(__name__)

# Event type -> the field whose values merge by union.
MERGEABLE = {"points": "keys", "runs": "runs"}


async def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, {"type": "run.event", "event": event})
    except Exception:  # a live-update failure must never fail an ingest that committed
        log.exception("could not publish an event to %s", group)


_tasks: set[asyncio.Task] = set()


def _spawn(coro) -> None:
    """Run ``coro`` on the running loop, keeping a reference until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Coalescer:
    """Merges mergeable events per group over a fixed interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._pending: dict[str, tuple[str, set]] = {}
        # Groups inside an interval, with the loop whose timer will end it.
        self._due: dict[str, asyncio.AbstractEventLoop] = {}

    async def publish(self, group: str, event: dict) -> None:
        field = MERGEABLE.get(event.get("type", ""))
        if field is None:
            await self._flush(group)
            await _send(group, event)
            return
        loop = asyncio.get_running_loop()
        due = self._due.get(group)
        if due is not None and not due.is_closed():
            _, values = self._pending.setdefault(group, (event["type"], set()))
            values.update(event.get(field, ()))
            return
        self._due[group] = loop
        await _send(group, {"type": event["type"], field: sorted(event.get(field, ()))})
        loop.call_later(self.interval, self._interval_ended, group)

    async def _flush(self, group: str) -> None:
        pending = self._pending.pop(group, None)
        if pending:
            kind, values = pending
            await _send(group, {"type": kind, MERGEABLE[kind]: sorted(values)})

    def _interval_ended(self, group: str) -> None:
        if group not in self._pending:
            self._due.pop(group, None)
            return
        _spawn(self._flush(group))
        asyncio.get_running_loop().call_later(self.interval, self._interval_ended, group)


_coalescer: Coalescer | None = None


def _get_coalescer() -> Coalescer:
    """The process's coalescer, made on first use: ``TRACKER_LIVE_INTERVAL`` is read then,
    not at import."""
    global _coalescer
    if _coalescer is None:
        _coalescer = Coalescer(settings.TRACKER_LIVE_INTERVAL)
    return _coalescer


def _project_event(run_id: int, event: dict) -> dict:
    if event["type"] == "points":
        return {"type": "runs", "runs": [run_id]}
    return {**event, "run": run_id}


async def _publish(run_id: int, project_id: int, event: dict) -> None:
    coalescer = _get_coalescer()
    await coalescer.publish(run_group(run_id), event)
    await coalescer.publish(project_group(project_id), _project_event(run_id, event))


def publish_run_event(run_id: int, project_id: int, event: dict) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_publish)(run_id, project_id, event)
    else:
        _spawn(_publish(run_id, project_id, event))
