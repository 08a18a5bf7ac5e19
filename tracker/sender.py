"""The background sender: one daemon thread per process that batches, spools and ships.

Shaped after sentry-python's worker (bounded queue, a ``submit`` that never blocks, a lazy
fork-aware daemon thread, a timed flush at exit), with one difference: nothing is dropped
when the server is away. Every batch is written to the run's spool file before it is
sent and acknowledged after, so an outage, a slow server or a killed process costs at most
what was still in memory; memory stays capped because a backlog beyond
``max_pending_points`` is moved to disk by whoever notices it first.

A batch the server keeps refusing is set aside (``tracker.quarantine``) so that it never
holds the later ones back; an outage never sets anything aside.

Threads: the training thread(s) only append to ``queue`` and bump ``logged``; everything
else happens on the sender thread, except the overflow spill and ``close`` after a stuck
request, which take ``_lock`` like the sender does around each queue/spool step (never
around network I/O).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker import _current, _json, quarantine
from tracker._env import Settings
from tracker.backoff import Backoff
from tracker.spool import Entry, Spool
from tracker.transport import HttpClient, RequestFailed, run_path

logger = logging.getLogger("tracker")

Row = tuple[int, float, dict[str, Any]]


@dataclass
class Pending:
    """What ``close`` could not deliver: the batches left in the spool, and where; and
    the batches set aside (kept in the same directory) with the last reason."""

    batches: int
    points: int
    directory: Path
    dropped: int
    quarantine: dict[str, Any] = field(default_factory=dict)

    @property
    def quarantined_batches(self) -> int:
        return sum(item["batches"] for item in self.quarantine.values())

    @property
    def quarantined_points(self) -> int:
        return sum(item["points"] for item in self.quarantine.values())

    @property
    def quarantine_reason(self) -> str:
        reasons = [item["reason"] for item in self.quarantine.values() if item["batches"]]
        return reasons[-1] if reasons else ""


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
        _current.reset_after_fork(self)

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
        # After close() gave up waiting for a stuck request, the thread itself closes the
        # spool (releasing the writer's lock for a sync) once the request returns.
        self._loop_done = False
        self._abandoned = False
        self._deadline = float("inf")
        # The line's back-off (no answer, 429, 503...; a Retry-After is honoured even by
        # finish()), and the set-aside rules for batches answered 5xx (tracker.quarantine).
        self.backoff = Backoff(self.settings.backoff_base, self.settings.backoff_max)
        self._rules = quarantine.Rules(self.settings.quarantine_after, self.backoff.delay)
        self._quarantine_sent: dict[str, Any] = {}
        self._final_quarantine: dict[str, Any] = {}
        self._set_aside_logged = False
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
            if self._lock.acquire(timeout=2.0):
                try:
                    self._move_queue()
                    lost = self.spool.memory_points
                    if lost:
                        self._drop(lost, "they could not be written to disk")
                    self._final_quarantine = self.spool.quarantine_report()
                    if thread is None or self._loop_done:
                        self.spool.close()
                    else:
                        self._abandoned = True
                finally:
                    self._lock.release()
            else:
                self._abandoned = True
        on_disk = [entry for entry in self.spool.pending if entry.path is not None]
        return Pending(
            len(on_disk), sum(e.points for e in on_disk), self.spool_dir, self.dropped, self._final_quarantine
        )

    # -- sender thread ---------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._run_loop()
        finally:
            with self._lock:
                self._loop_done = True
                if self._abandoned:
                    self.spool.close()

    def _run_loop(self) -> None:
        settings = self.settings
        next_heartbeat = time.monotonic() + settings.heartbeat_interval
        closing_seen = False
        while True:
            now = time.monotonic()
            if self._closing:
                if not closing_seen:
                    # finish(): whatever the back-off had grown to, try again now (but not
                    # before the server's own Retry-After).
                    closing_seen = True
                    self.backoff.try_now()
                    self._rules.retry_now()
                done = not self.queue and not (self.client and self.spool.pending)
                if done or now >= self._deadline:
                    return
                wait = max(0.0, min(self._due_at(), self._deadline) - now) if self.spool.pending else 0.0
            else:
                wait = settings.flush_interval
                if self.client is not None:
                    wait = min(wait, max(0.0, next_heartbeat - now))
                    due = self._due_at()
                    if due > now:
                        wait = min(wait, due - now)
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

    def _due_at(self) -> float:
        """When the next pending batch may be sent (infinity when none is pending)."""
        return self._rules.due_at(self.spool.pending, self.backoff.retry_at)

    @property
    def _failures(self) -> int:  # consecutive failed tries of the line
        return self.backoff.failures

    def _send_pending(self) -> None:
        """Send spooled batches oldest first until the spool is empty or the server is
        away. A batch the server refuses does not stop the others (tracker.quarantine)."""
        assert self.client is not None
        rules = self._rules
        rules.begin()
        replayed = 0
        while self.spool.pending:
            now = time.monotonic()
            if not self.backoff.ready(now) or (self._closing and now >= self._deadline):
                return
            if self.logged - self.taken >= self._wake_at:
                # Logging outpaces the server: spool the backlog here, between requests,
                # so the training thread does not reach the cap and have to do it itself.
                with self._lock:
                    self._move_queue()
            # Batches answered 5xx wait their own back-off; the ones behind them go on.
            entry = rules.next_due(self.spool.pending, now)
            if entry is None:
                break
            try:
                body = self.spool.read(entry)
            except OSError as exc:
                with self._lock:
                    self._forget(entry)
                    self._drop(entry.points, f"spooled batch unreadable ({exc})")
                continue
            if entry.path is not None:
                entry.body = None  # read it back from disk next time: memory stays flat
            try:
                answer = self.client.request("POST", self._batches_path, body, timeout=self._timeout())
            except RequestFailed as exc:
                if quarantine.classify(exc) == quarantine.WAIT:
                    self._back_off(exc)
                    return
                if exc.status == 413 and self._split(entry, body):
                    continue
                if self._refused_summary(exc) and self._without_summary(entry, body, exc):
                    continue
                # finish() tries at once; the tries are counted all the same.
                verdict = rules.refused(entry, exc, now, at_once=self._closing)
                if verdict == quarantine.SET_ASIDE:
                    self._set_aside(entry, exc)
                elif verdict == quarantine.PROBE and not self._probe():
                    return  # a 5xx again, and the server answers nothing else: it is away
                continue
            with self._lock:
                self._forget(entry)
            rules.answered()
            replayed += 1
            self._answered(answer)
        if rules.unresolved:
            self._probe()  # a 5xx: this batch or the server? Another request answers that.
        if self.backoff.failures and replayed:
            logger.warning("tracker: the server is reachable again; spooled batches were sent")
            self.backoff.succeeded()

    def _forget(self, entry: Entry) -> None:
        """The server has ``entry`` (or it is dropped): never send it again."""
        self._rules.forget(entry)
        self.spool.ack(entry)

    def _set_aside(self, entry: Entry, exc: RequestFailed) -> None:
        """Quarantine ``entry``: kept on disk, counted, reported; the others go on."""
        reason = quarantine.reason_of(exc, max(1, entry.tries))
        with self._lock:
            try:
                self.spool.set_aside(entry, reason)
            except OSError as err:
                self._forget(entry)
                self._drop(entry.points, f"server refused them ({exc}), disk too ({err})")
                return
            self._forget(entry)
        batches, points = quarantine.totals(self.spool.quarantine_of(entry.writer))
        log = logger.info if self._set_aside_logged else logger.warning
        self._set_aside_logged = True
        log(
            "tracker: the server refused batch %d of writer %s (%d points): %s. It is set aside "
            "in %s (%d batches, %d points so far) and later batches go on; "
            "retry it with: python -m tracker sync --retry-quarantined %s",
            entry.seq,
            entry.writer,
            entry.points,
            exc,
            self.spool_dir,
            batches,
            points,
            self.spool_dir,
        )

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
            self._forget(entry)
            self.spool.move_to_front(len(self.spool.pending) - before + 1)
        return True

    @staticmethod
    def _refused_summary(exc: RequestFailed) -> bool:
        field = exc.field or ""
        return (
            quarantine.classify(exc) == quarantine.REFUSED and field.split(".")[0].split("[")[0] == "summary"
        )

    def _without_summary(self, entry: Entry, body: bytes, exc: RequestFailed) -> bool:
        """The server refused the summary riding on this batch (too large, too deep): the
        summary alone is lost, with a warning; the batch's points are sent without it."""
        data = _json.loads(body)
        if "summary" not in data:
            return False
        logger.warning(
            "tracker: the server refused the run summary (%s); the points are sent without it", exc
        )
        with self._lock:
            before = len(self.spool.pending)
            self._store(data.get("rows") or [], entry.points, {})
            self._forget(entry)
            self.spool.move_to_front(len(self.spool.pending) - before + 1)
        return True

    def _answered(self, answer: Any) -> None:
        if isinstance(answer, dict) and "should_stop" in answer:
            self._on_should_stop(bool(answer["should_stop"]))

    def _back_off(self, exc: RequestFailed) -> None:
        self.backoff.failed(exc.retry_after)
        if self.backoff.failures == 1:
            logger.warning(
                "tracker: cannot send to %s (%s); batches are kept in %s and retried",
                self.client.server if self.client else "?",
                exc,
                self.spool_dir,
            )

    def _heartbeat(self, probe: bool = False) -> bool:
        """Tell the server the run is alive (with new drops and set-aside totals).

        As a probe (a batch was answered 5xx): its answer says whether the server works,
        and a failure backs off like a failed batch.
        """
        if self.client is None or self.run_id is None or (self.backoff.failures and not probe):
            return False
        dropped = self.dropped_unreported
        body: dict[str, Any] = {"dropped": dropped}
        report = self.spool.quarantine_report()
        if report != self._quarantine_sent:
            body["quarantined"] = report
        try:
            answer = self.client.request(
                "POST", run_path(self.run_id, "heartbeat"), body, timeout=self._timeout()
            )
        except RequestFailed as exc:
            if probe:
                self._back_off(exc)
            else:
                logger.debug("tracker: heartbeat failed: %s", exc)
            return False
        self.dropped_unreported -= dropped
        self._quarantine_sent = report
        self._answered(answer)
        return True

    def _probe(self) -> bool:
        if self._heartbeat(probe=True):
            self._rules.answered()
            return True
        return False

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


def _abandon(obj: Any) -> None:
    """Keep ``obj`` alive for the rest of this process, even through interpreter exit
    (where freeing a buffered reader locked by a vanished thread aborts the process)."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
