"""When diagnosis runs: while a run is live, coalesced, in the web server process; and at
its end, in the Celery worker too.

Live: every committed batch (or media upload) of a run asks for a pass; passes of one
run start at most once per ``TRACKER_DIAGNOSE_INTERVAL`` seconds (default 10; 0 turns
live passes off), the first a moment after the first request and the last after the last
request (a trailing pass), never two of one run at once and at most ``CONCURRENCY``
in all. They run on the server's event loop's thread pool, so the "findings" event they
send reaches browsers on every deployment shape, including the embedded one, whose
in-memory channel layer the Celery worker cannot reach. With several web processes each
coalesces its own requests.

At the end (finished, failed, crashed): an immediate pass in the web process, for the
page, and a ``run_diagnose`` Celery task (``experiments.diagnostics.tasks``), which stores
the final verdict even when no web process is left to do it (or runs an older client's
sync). Passes are idempotent: one that changes nothing sends no event.

``on_run_event`` here and the task's listener are subscribed to run events in
``experiments.diagnostics.apps``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

from experiments.models import RunStatus

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
CONCURRENCY = 2
ENDED = {RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CRASHED}
LIVE_EVENTS = {"points", "media"}


def _pass(run_id: int) -> None:
    from experiments.diagnostics.runner import run_diagnose

    close_old_connections()
    try:
        run_diagnose(run_id=run_id)
    finally:
        # A thread of the loop's shared pool: keep no connection open in it between passes.
        connections.close_all()


class Debouncer:
    """Per run, at most one pass per ``interval`` with a trailing one, none concurrent.
    Every method runs on the event loop's thread; no locks. Without an ``interval`` it
    follows ``settings.TRACKER_DIAGNOSE_INTERVAL``, read when used."""

    def __init__(
        self, interval: float | None = None, run_pass=_pass, first_delay: float = FIRST_DELAY
    ) -> None:
        self._interval = interval
        self._first_delay = first_delay
        self.run_pass = run_pass
        self._last: dict[int, float] = {}  # loop time the run's last pass started
        self._timers: dict[int, tuple[float, asyncio.TimerHandle]] = {}
        self._running: set[int] = set()
        self._again: dict[int, bool] = {}  # asked while running -> urgent
        self._slots: asyncio.Semaphore | None = None
        self.passes = 0

    @property
    def interval(self) -> float:
        return float(settings.TRACKER_DIAGNOSE_INTERVAL if self._interval is None else self._interval)

    @property
    def first_delay(self) -> float:
        return min(self._first_delay, self.interval)

    def request(self, run_id: int, urgent: bool = False) -> None:
        loop = asyncio.get_running_loop()
        if run_id in self._running:
            self._again[run_id] = self._again.get(run_id, False) or urgent
            return
        now = loop.time()
        due = now if urgent else max(now + self.first_delay, self._last.get(run_id, -1e18) + self.interval)
        scheduled = self._timers.get(run_id)
        if scheduled is not None:
            if scheduled[0] <= due:
                return
            scheduled[1].cancel()
        self._timers[run_id] = (due, loop.call_at(due, self._fire, run_id))

    def _fire(self, run_id: int) -> None:
        self._timers.pop(run_id, None)
        self._running.add(run_id)
        loop = asyncio.get_running_loop()
        # Forget runs whose last pass no longer limits the next one.
        horizon = loop.time() - self.interval
        for stale in [r for r, t in self._last.items() if t < horizon and r not in self._running]:
            del self._last[stale]
        task = loop.create_task(self._run(run_id), context=contextvars.Context())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    async def _run(self, run_id: int) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(CONCURRENCY)
        try:
            async with self._slots:
                self._last[run_id] = asyncio.get_running_loop().time()
                self.passes += 1
                await sync_to_async(self.run_pass, thread_sensitive=False)(run_id)
        except Exception:
            log.exception("live diagnosis of run %s failed", run_id)
        finally:
            self._running.discard(run_id)
        if run_id in self._again:
            self.request(run_id, urgent=self._again.pop(run_id))


_tasks: set[asyncio.Task] = set()
debouncer = Debouncer()


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's event loop when called from one of its sync threads (a request's
    or a consumer's ORM code, which is where run events are committed), else None: a
    Celery worker, a management command, a test calling services directly (even one
    that drives a browser: Playwright's sync API keeps an event loop running in the
    test's thread, and passes must not run in a test process)."""
    local = SyncToAsync.threadlocal
    loop = getattr(local, "main_event_loop", None)
    if loop is not None and getattr(local, "main_event_loop_pid", None) == os.getpid() and loop.is_running():
        return loop
    return None


def request_pass(run_id: int, urgent: bool = False) -> bool:
    """Ask for a live pass over ``run_id``; False when not inside a server (or turned off)."""
    if debouncer.interval <= 0:
        return False
    loop = _server_loop()
    if loop is None:
        return False
    loop.call_soon_threadsafe(debouncer.request, run_id, urgent, context=contextvars.Context())
    return True


def on_run_event(run_id: int, project_id: int, event: dict) -> None:
    """A run-event listener (after commit): new data asks for a live pass, the end of a
    run for an immediate one."""
    kind = event.get("type")
    if kind in LIVE_EVENTS:
        request_pass(run_id)
    elif kind == "status" and event.get("status") in ENDED:
        request_pass(run_id, urgent=True)
