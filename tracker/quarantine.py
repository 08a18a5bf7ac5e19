"""Batches set aside: the server keeps refusing them, so they must not hold the rest back.

Spooled batches are sent oldest first. One that the server refuses every time would
block every later batch of its run, so it is *set aside* (quarantined): its body moves
from the batch file to ``quarantine-<writer>.jsonl`` in the same run directory, it is
acknowledged in the batch file, and the batches after it go on. Nothing is deleted:
``python -m tracker sync --retry-quarantined DIR`` sends them again (the server drops
any it already stored), and those still refused stay, with the server's latest answer.

When is a refusal for good? ``classify`` sorts every failed request into one of three:

- ``REFUSED``: a 4xx about the request (400, 413 that cannot be split, 422, ...). The
  server said what is wrong with this batch; the same bytes cannot succeed. Set aside
  at once.
- ``SERVER_ERROR``: 500 and the other 5xx except 502/503/504. The batch (a value the
  server chokes on) or the server (its database is away)? The batch is set aside only
  after ``Settings.quarantine_after`` such answers *with the server answering other
  requests in between* (the next batches, or a heartbeat sent as a probe). A server
  that answers everything with 500 is down, and a down server never gets good data set
  aside.
- ``WAIT``: no answer, timeouts, 408, 429, 502, 503, 504 (an outage, or a proxy whose
  server is away), 401/403/404 (the key or the run, not the batch), a redirect (the
  server's address is wrong). The batch keeps its place and is retried with back-off.

``Rules`` applies this to a line of items sent oldest first by a background thread (the
sender's batches, the uploader's media and checkpoints); ``deliver`` to one item at a time
in the blocking loops of ``tracker sync``.

File format (batches): one line per set-aside batch, ``<seq>\\t<points>\\t<reason>\\t<body>\\n``.
``reason`` is a JSON object (JSON escapes tabs, so it never holds one): the HTTP status,
the server's message and field, the number of tries, the time. ``body`` is the exact
request body, so a retry sends the same bytes. A later line for the same seq supersedes
an earlier one. The file of a writer is only written by whoever holds that writer's
lock (the live process, or the process or ``sync`` that adopted it).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker import _json
from tracker.backoff import Backoff
from tracker.transport import RequestFailed

REFUSED = "refused"
SERVER_ERROR = "server_error"
WAIT = "wait"

_WAIT_ON = {401, 403, 404, 408, 429, 502, 503, 504}

QUARANTINE_FILE = re.compile(r"^quarantine-([0-9A-Za-z_-]{1,64})\.jsonl$")


def classify(exc: RequestFailed) -> str:
    """``REFUSED``, ``SERVER_ERROR`` or ``WAIT`` for a failed batch request (see above)."""
    status = exc.status
    if status is None or status < 400 or status in _WAIT_ON:
        return WAIT
    return SERVER_ERROR if status >= 500 else REFUSED


# What ``Rules.refused`` decides about an item whose request failed (not ``WAIT``).
SET_ASIDE = "set_aside"  # for good: keep it aside, the others go on
LATER = "later"  # it waits its own back-off (``not_before``); the ones behind it go on
PROBE = "probe"  # as LATER, but first ask the server (another request) whether it works


class Rules:
    """The rules above for one line of items sent oldest first by one thread.

    An item is anything with ``tries``, ``ok_mark`` and ``not_before`` attributes
    (``spool.Entry``, ``uploader.Item``): how often the server answered it with a 5xx
    while answering other requests, the answered-count at its last failure, and when it
    may be sent again. The sending loop calls ``begin`` at the start of a pass,
    ``answered`` each time the server answers a request (an item stored, a probe),
    ``refused`` when an item's request fails in a way ``classify`` does not call ``WAIT``,
    ``forget`` when an item leaves the line, and sends ``next_due`` (None: nothing may go
    now; sleep until ``due_at``). ``unresolved`` at the end of a pass: probe once.
    """

    def __init__(self, after: int, delay: Callable[[int], float]):
        self.after = after
        self.delay = delay
        self.ok = 0  # requests the server answered
        self.waiting: set[Any] = set()  # items answered 5xx, each waiting its own back-off
        self.unresolved = False  # an item was answered 5xx and nothing was answered since

    def begin(self) -> None:
        self.unresolved = False

    def answered(self) -> None:
        self.ok += 1
        self.unresolved = False

    def refused(self, item: Any, exc: RequestFailed, now: float, *, at_once: bool = False) -> str:
        """``SET_ASIDE``, ``LATER`` or ``PROBE`` for ``item`` after ``exc`` (not ``WAIT``).

        A 4xx about the item: at once. A 5xx counts a try only if the server answered
        some other request since the item's previous one (the first counts too), so a
        server that answers nothing never gets anything set aside. ``at_once``: the item
        may be sent again right away (``finish()``), the try is counted all the same.
        """
        if classify(exc) == REFUSED:
            self.answered()  # an answer about this item: the server itself works
            return SET_ASIDE
        if item.tries == 0 or self.ok > item.ok_mark:
            item.tries += 1
        item.ok_mark = self.ok
        if item.tries >= self.after:
            return SET_ASIDE
        item.not_before = now + (0.0 if at_once else self.delay(item.tries))
        self.waiting.add(item)
        if self.unresolved:
            return PROBE
        self.unresolved = True
        return LATER

    def forget(self, item: Any) -> None:
        self.waiting.discard(item)

    def retry_now(self) -> None:
        """Let every waiting item go at once (``finish()``); tries stay counted."""
        for item in self.waiting:
            item.not_before = 0.0

    def next_due(self, pending: Sequence[Any], now: float) -> Any:
        """The oldest pending item that may be sent now, or None."""
        if not self.waiting:
            return pending[0] if pending else None
        for item in pending:
            if item.not_before <= now:
                return item
        return None

    def due_at(self, pending: Sequence[Any], retry_at: float) -> float:
        """When the next pending item may be sent (``retry_at``: the line's own back-off;
        infinity when nothing is pending)."""
        if not pending:
            return float("inf")
        if len(self.waiting) < len(pending):
            return retry_at
        return max(retry_at, min(item.not_before for item in self.waiting))


def deliver(
    send: Callable[[], Any], probe: Callable[[], bool], *, tries: int, backoff: Backoff, attempts: int = 6
) -> tuple[RequestFailed, int] | None:
    """Send one item, blocking (``tracker sync``): None once the server has it; (its
    answer, tries) when it refuses it for good (a 4xx about it at once, a 5xx after
    ``tries`` answers while ``probe`` succeeded each time). Raises ``RequestFailed``
    when the server stays away (``attempts`` waits) or refuses the key or the run."""
    counted = waited = 0
    while True:
        try:
            send()
            return None
        except RequestFailed as exc:
            kind = classify(exc)
            if kind == REFUSED:
                return exc, 1
            if kind == SERVER_ERROR and probe():
                counted += 1
                if counted >= tries:
                    return exc, counted
            elif not exc.retryable:
                raise
            else:
                waited += 1
                if waited >= attempts:
                    raise
            backoff.sleep(exc.retry_after)


def reason_of(exc: RequestFailed, tries: int) -> dict[str, Any]:
    """What is recorded with a set-aside batch: the server's answer, verbatim."""
    return {
        "status": exc.status,
        "error": exc.message[:500],
        "field": exc.field,
        "tries": tries,
        "at": round(time.time(), 3),
    }


def describe(reason: dict[str, Any]) -> str:
    """A reason as one line: ``HTTP 500: <the server's message> (field ...)``."""
    status = reason.get("status")
    field = reason.get("field")
    text = f"HTTP {status}: " if status is not None else ""
    text += str(reason.get("error") or "refused")
    return text + (f" (field {field})" if field else "")


def file_for(directory: Path, writer: str) -> Path:
    return directory / f"quarantine-{writer}.jsonl"


def line(seq: int, points: int, reason: dict[str, Any], body: bytes) -> bytes:
    return b"%d\t%d\t%s\t%s\n" % (seq, points, _json.dumps(reason), body)


@dataclass
class Record:
    """One set-aside batch as found in a quarantine file."""

    seq: int
    points: int
    reason: dict[str, Any]
    offset: int
    length: int


def scan(path: Path) -> dict[int, Record]:
    """The records of a quarantine file by seq (the last line for a seq wins; a line cut
    short by a crash is ignored). Empty when the file does not exist."""
    found: dict[int, Record] = {}
    try:
        for record in _lines(path):
            found.pop(record.seq, None)  # re-inserted last: dict order is "latest last"
            found[record.seq] = record
    except FileNotFoundError:
        pass
    return found


def _lines(path: Path) -> Iterator[Record]:
    offset = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            parts = raw.split(b"\t", 3)
            if len(parts) == 4 and parts[0].isdigit() and parts[1].isdigit():
                try:
                    reason = _json.loads(parts[2])
                except ValueError:
                    reason = {}
                head = len(parts[0]) + len(parts[1]) + len(parts[2]) + 3
                yield Record(
                    int(parts[0]),
                    int(parts[1]),
                    reason if isinstance(reason, dict) else {},
                    offset + head,
                    len(raw) - head - 1,
                )
            offset += len(raw)


def read_body(path: Path, record: Record) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(record.offset)
        return handle.read(record.length)


def rewrite(path: Path, kept: list[tuple[int, int, dict[str, Any], bytes]]) -> None:
    """Replace the file with ``kept`` (seq, points, reason, body) atomically; delete it
    when nothing is kept."""
    if not kept:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        for seq, points, reason, body in kept:
            handle.write(line(seq, points, reason, body))
    os.replace(tmp, path)


def totals(records: dict[int, tuple[int, str]]) -> tuple[int, int]:
    """(batches, points) of one writer's set-aside batches."""
    return len(records), sum(points for points, _ in records.values())
