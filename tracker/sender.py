"""The background sender: one daemon thread per process that batches, spools and ships.

Shaped after sentry-python's worker (bounded queue, a ``submit`` that never blocks, a lazy
fork-aware daemon thread, a timed flush at exit), with one difference: nothing is dropped
when the server is away. Every batch is written to the run's spool file before it is
sent and acknowledged after, so an outage, a slow server or a killed process costs at most
what was still in memory; memory stays capped because a backlog beyond
``max_pending_points`` is moved to disk by whoever notices it first.

Threads: the training thread(s) only append to ``queue`` and bump ``logged``; everything
else happens on the sender thread, except the overflow spill and ``close`` after a stuck
request, which take ``_lock`` like the sender does around each queue/spool step (never
around network I/O).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker import _json
from tracker._env import Settings
from tracker.spool import Entry, Spool
from tracker.transport import HttpClient, RequestFailed, run_path

logger = logging.getLogger("tracker")

_MAX_RETRY_AFTER = 600.0
# Answers about the run or the key rather than the batch: keep the batches (the user can
# fix the key and sync later) instead of dropping them as malformed.
_KEEP_ON = {401, 403, 404}

Row = tuple[int, float, dict[str, Any]]


@dataclass
class Pending:
    """What ``close`` could not deliver: the batches left in the spool, and where."""

    batches: int
    points: int
    directory: Path
    dropped: int


class Sender:
    """Ships the rows of one run from one process.

    ``client`` None means offline: batches are only written to the spool. ``run_id`` is
    needed only online. ``summary`` returns the run summary when it changed since the
    last call (it rides along with the next batch), else None.
    """

    def __init__(
        self,
        *,
        spool_dir: Path,
        settings: Settings,
        rank: int = 0,
        client: HttpClient | None = None,
        run_id: int | None = None,
        summary: Callable[[], dict[str, Any] | None] = lambda: None,
        on_should_stop: Callable[[bool], None] = lambda flag: None,
        adopt: bool = False,
    ):
        self.settings = settings
        self.rank = rank
        self.client = client
        self.run_id = run_id
        self.spool_dir = spool_dir
        self._summary = summary
        self._on_should_stop = on_should_stop
        self._adopt = adopt
        self._wake_at = max(1, min(settings.batch_max_points, settings.max_pending_points // 4))
        self._batches_path = run_path(run_id, "batches") if run_id is not None else ""
        self._fresh_state()
        _SENDERS.add(self)

    def _fresh_state(self) -> None:
        """Per-process state: built at start and again in a forked child."""
        self.queue: deque[Row] = deque()
        self.logged = 0  # points appended by log(); written only by training threads
        self.taken = 0  # points moved off the queue; written under _lock
        self.dropped = 0
        self.dropped_unreported = 0
        self.writer = uuid.uuid4().hex
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._deadline = float("inf")
        self._failures = 0
        self._retry_at = 0.0
        self._spool_broken = False
        self._max_rows = self.settings.batch_max_rows
        self._max_points = self.settings.batch_max_points
        self.spool = Spool(self.spool_dir, self.writer, track=self.client is not None)

    # -- training thread -------------------------------------------------------------
    def submit(self, row: Row, points: int) -> None:
        """Queue one row. Never blocks unless memory is over its cap (then: disk write)."""
        if self._thread is None:
            self.start()
        self.queue.append(row)
        self.logged += points
        if self.logged - self.taken >= self._wake_at:
            self._backlog()

    def _backlog(self) -> None:
        if self.logged - self.taken > self.settings.max_pending_points:
            # The sender is stuck (e.g. a request hanging until its timeout): move the
            # backlog to disk here rather than let memory grow, one batch at a time so
            # that each pause of the training thread stays short.
            with self._lock:
                self._move_queue(keep=self.settings.max_pending_points - self._max_points)
        elif not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        if self._thread is not None or self._closed:
            return
        if self._adopt:
            self._adopt = False
            try:
                with self._lock:
                    self.spool.open()
                    self.spool.adopt()
            except OSError as exc:
                logger.warning("tracker: cannot read the spool in %s: %s", self.spool_dir, exc)
            if self.spool.pending:
                logger.info(
                    "tracker: replaying %d spooled batches (%d points) left by an earlier process",
                    len(self.spool.pending),
                    self.spool.pending_points,
                )
        self._thread = threading.Thread(target=self._loop, name="tracker-sender", daemon=True)
        self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait until everything logged so far is acknowledged (online) or on disk."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.queue and self.logged == self.taken and not (self.client and self.spool.pending):
                return True
            self._wake.set()
            time.sleep(0.005)
        return False

    def close(self, timeout: float) -> Pending:
        """Flush for at most ``timeout`` seconds, stop the thread, report what is left."""
        if not self._closed:
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._closing = True
            self._wake.set()
            thread = self._thread
            if thread is not None:
                thread.join(max(0.0, self._deadline - time.monotonic()) + 0.5)
            stuck = thread is not None and thread.is_alive()
            if self._lock.acquire(timeout=2.0):
                try:
                    self._move_queue()
                    lost = self.spool.memory_points
                    if lost:
                        self._drop(lost, "they could not be written to disk")
                    if not stuck:
                        self.spool.close()
                finally:
                    self._lock.release()
        on_disk = [entry for entry in self.spool.pending if entry.path is not None]
        return Pending(len(on_disk), sum(e.points for e in on_disk), self.spool_dir, self.dropped)

    # -- sender thread ---------------------------------------------------------------
    def _loop(self) -> None:
        settings = self.settings
        next_heartbeat = time.monotonic() + settings.heartbeat_interval
        while True:
            now = time.monotonic()
            if self._closing:
                done = not self.queue and not (self.client and self.spool.pending)
                if done or now >= self._deadline:
                    return
                wait = max(0.0, min(self._retry_at, self._deadline) - now) if self.spool.pending else 0.0
            else:
                wait = settings.flush_interval
                if self.client is not None:
                    wait = min(wait, max(0.0, next_heartbeat - now))
                    if self.spool.pending and self._retry_at > now:
                        wait = min(wait, self._retry_at - now)
            if wait > 0 and self._wake.wait(wait):
                self._wake.clear()
            try:
                with self._lock:
                    self._move_queue()
                if self.client is not None:
                    self._send_pending()
                    if time.monotonic() >= next_heartbeat and not self._closing:
                        next_heartbeat = time.monotonic() + settings.heartbeat_interval
                        self._heartbeat()
            except Exception:  # the sender must outlive any bug: log it and go on
                logger.exception("tracker: unexpected error in the sender thread")
                time.sleep(settings.flush_interval)

    def _move_queue(self, keep: int = 0) -> None:
        """Queue → batches → spool until at most ``keep`` points wait. Caller holds ``_lock``."""
        queue = self.queue
        max_rows = self._max_rows
        max_points = self._max_points
        while queue and self.logged - self.taken > keep:
            rows: list[Row] = []
            points = 0
            while queue and len(rows) < max_rows and points < max_points:
                row = queue.popleft()
                rows.append(row)
                points += len(row[2])
            self._store(rows, points)
            # Counted once stored, so flush() never sees a batch that is being encoded as done.
            self.taken += points

    def _store(self, rows: list[Row], points: int, summary: dict[str, Any] | None = None) -> None:
        if summary is None:
            summary = self._summary()
        body: dict[str, Any] = {"writer": self.writer, "seq": self._seq, "rank": self.rank, "rows": rows}
        if summary is not None:
            body["summary"] = summary
        data = _json.dumps(body)
        if len(data) > self.settings.batch_max_bytes and len(rows) > 1:
            # Rare (very long keys): halve until each body fits under the server's cap.
            half = len(rows) // 2
            first = sum(len(r[2]) for r in rows[:half])
            self._store(rows[:half], first, None)
            self._store(rows[half:], points - first, summary)
            return
        seq = self._seq
        self._seq += 1
        try:
            self.spool.append(seq, points, data)
            return
        except OSError as exc:
            if not self._spool_broken:
                self._spool_broken = True
                logger.warning(
                    "tracker: cannot write the spool in %s (%s); keeping batches in memory",
                    self.spool_dir,
                    exc,
                )
        if self.client is not None and self.spool.memory_points + points <= self.settings.max_pending_points:
            self.spool.keep_in_memory(Entry(self.writer, seq, points, None, body=data))
        else:
            self._drop(points, "the spool is not writable and memory is full")

    def _drop(self, points: int, why: str) -> None:
        if self.dropped == 0:
            logger.warning("tracker: dropping %d points: %s (drops are counted and reported)", points, why)
        self.dropped += points
        self.dropped_unreported += points

    def _timeout(self) -> float:
        return min(self.settings.http_timeout, max(0.05, self._deadline - time.monotonic()))

    def _send_pending(self) -> None:
        """Send spooled batches oldest first until one fails or the spool is empty."""
        assert self.client is not None
        replayed = 0
        while self.spool.pending and time.monotonic() >= self._retry_at:
            if self._closing and time.monotonic() >= self._deadline:
                return
            if self.logged - self.taken >= self._wake_at:
                # Logging outpaces the server: spool the backlog here, between requests,
                # so the training thread does not reach the cap and have to do it itself.
                with self._lock:
                    self._move_queue()
            entry = self.spool.pending[0]
            try:
                body = self.spool.read(entry)
            except OSError as exc:
                with self._lock:
                    self.spool.ack(entry)
                    self._drop(entry.points, f"spooled batch unreadable ({exc})")
                continue
            if entry.path is not None:
                entry.body = None  # read it back from disk next time: memory stays flat
            try:
                answer = self.client.request("POST", self._batches_path, body, timeout=self._timeout())
            except RequestFailed as exc:
                if exc.retryable or exc.status in _KEEP_ON:
                    self._back_off(exc)
                    return
                if exc.status == 413 and self._split(entry, body):
                    continue
                logger.warning(
                    "tracker: the server refused batch %d of writer %s: %s; its %d points are dropped",
                    entry.seq,
                    entry.writer,
                    exc,
                    entry.points,
                )
                with self._lock:
                    self.spool.ack(entry)
                    self._drop(entry.points, f"the server refused them ({exc})")
                continue
            with self._lock:
                self.spool.ack(entry)
            replayed += 1
            self._answered(answer)
        if self._failures and replayed:
            logger.warning("tracker: the server is reachable again; spooled batches were sent")
            self._failures = 0

    def _split(self, entry: Entry, body: bytes) -> bool:
        """The server's caps are below ours: resend the batch as two halves (new seqs,
        same place in line) and make later batches no bigger than a half."""
        data = _json.loads(body)
        rows = data.get("rows") or []
        if len(rows) < 2:
            return False
        half = len(rows) // 2
        first = sum(len(row[2]) for row in rows[:half])
        self._max_rows = max(1, min(self._max_rows, half))
        self._max_points = max(1, min(self._max_points, first))
        logger.info("tracker: the server found batch %d too large; sending it in halves", entry.seq)
        with self._lock:
            before = len(self.spool.pending)
            self._store(rows[:half], first, None)
            self._store(rows[half:], entry.points - first, data.get("summary"))
            self.spool.ack(entry)
            self.spool.move_to_front(len(self.spool.pending) - before + 1)
        return True

    def _answered(self, answer: Any) -> None:
        if isinstance(answer, dict) and "should_stop" in answer:
            self._on_should_stop(bool(answer["should_stop"]))

    def _back_off(self, exc: RequestFailed) -> None:
        self._failures += 1
        base = self.settings.backoff_base * 2 ** min(self._failures - 1, 20)
        delay = min(self.settings.backoff_max, base) * random.uniform(0.75, 1.0)
        if exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, _MAX_RETRY_AFTER))
        self._retry_at = time.monotonic() + delay
        if self._failures == 1:
            logger.warning(
                "tracker: cannot send to %s (%s); batches are kept in %s and retried",
                self.client.server if self.client else "?",
                exc,
                self.spool_dir,
            )

    def _heartbeat(self) -> None:
        if self.client is None or self.run_id is None or self._failures:
            return
        dropped = self.dropped_unreported
        try:
            answer = self.client.request(
                "POST", run_path(self.run_id, "heartbeat"), {"dropped": dropped}, timeout=self._timeout()
            )
        except RequestFailed as exc:
            logger.debug("tracker: heartbeat failed: %s", exc)
            return
        self.dropped_unreported -= dropped
        self._answered(answer)

    # -- fork ------------------------------------------------------------------------
    def _after_fork_in_child(self) -> None:
        """The child is a new writer: the parent keeps its queue, files and connection.

        Nothing the parent's sender thread may have been using is closed or freed here:
        a response being read holds a buffered reader whose lock belongs to that thread,
        which does not exist in the child, so freeing it would block forever.
        """
        if self.client is not None:
            _abandon(self.client)
            self.client = self.client.for_child()
        self.spool.drop_after_fork()
        closed = self._closed
        self._fresh_state()
        self._closed = closed
        self._adopt = False


_SENDERS: weakref.WeakSet[Sender] = weakref.WeakSet()


def _abandon(obj: Any) -> None:
    """Keep ``obj`` alive for the rest of this process, even through interpreter exit
    (where freeing a buffered reader locked by a vanished thread aborts the process)."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _after_fork() -> None:
    for sender in list(_SENDERS):
        sender._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
