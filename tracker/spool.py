"""The on-disk spool: append-only batch files that survive outages and crashes.

A run directory (``<dir>/run-<id>/`` online, ``<dir>/offline-<...>/`` offline) holds,
per writer (one client process):

- ``batches-<writer>.jsonl``: one batch per line, ``<seq>\\t<points>\\t<request body>\\n``;
  the body is exactly what is POSTed, so a replay re-sends the same bytes;
- ``acks-<writer>.txt``: one acknowledged ``<seq>`` per line, so a restart or a second
  ``sync`` does not resend what the server already stored;
- ``writer-<writer>.lock``: held (``flock``) while the writer lives. A batch file whose
  lock can be taken belongs to a dead process and is adopted: replayed, then deleted;
- ``quarantine-<writer>.jsonl``: the writer's batches the server kept refusing, set aside
  so that later batches go on (``tracker.quarantine``); kept until a
  ``sync --retry-quarantined`` delivers them.

A batch line is written before the batch is first sent (write-ahead), so a process killed
mid-request loses nothing it had taken off its queue; a file whose batches are all
acknowledged is truncated or deleted, so the disk only holds what is not yet stored.
Replays are safe because the server drops a (run, writer, seq) it has already stored.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker import _json, quarantine

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no liveness check, adopt everything
    fcntl = None

_BATCH_FILE = re.compile(r"^batches-([0-9A-Za-z_-]{1,64})\.jsonl$")


@dataclass(eq=False)
class Entry:
    """One batch waiting for the server's acknowledgement (compared by identity).

    ``body`` is kept in memory only until the first send attempt (or for good when the
    disk could not take it: ``path`` is None then); otherwise it is read back from disk.
    ``tries``, ``ok_mark`` and ``not_before`` are the sender's: how often the server
    answered it with a 5xx while answering other requests, the sender's success count at
    its last failure, and when it may be sent again.
    """

    writer: str
    seq: int
    points: int
    path: Path | None
    offset: int = 0
    length: int = 0
    body: bytes | None = None
    tries: int = 0
    ok_mark: int = -1
    not_before: float = 0.0


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically: readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(_json.dumps(data))
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return _json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def recorded_server(meta: dict[str, Any], state: dict[str, Any]) -> str | None:
    """The server a run directory's run lives on: the one that gave it its id (in
    ``run.json`` for an online run, ``sync.json`` once an offline run is synced)."""
    return (meta.get("server") if meta.get("id") else state.get("server")) or None


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_acks(path: Path) -> set[int]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return set()
    return {int(line) for line in text.split() if line.isdigit()}


def scan_batches(path: Path) -> Iterator[tuple[int, int, int, int]]:
    """(seq, points, body offset, body length) for every complete line of a batch file.

    A line without its newline is a write cut short by a crash and is ignored.
    """
    offset = 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            parts = line.split(b"\t", 2)
            if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
                head = len(parts[0]) + len(parts[1]) + 2
                yield int(parts[0]), int(parts[1]), offset + head, len(line) - head - 1
            offset += len(line)


class Spool:
    """Pending batches of one run directory, oldest first, plus this process's batch file.

    ``writer`` None is a reader only (``sync``): it adopts dead writers' files and writes
    none. Not thread-safe: the sender serialises calls with its own lock.
    """

    def __init__(self, run_dir: Path, writer: str | None, *, track: bool = True):
        self.dir = run_dir
        self.writer = writer
        self.track = track
        self.pending: deque[Entry] = deque()
        self.pending_points = 0
        self.busy_writers: list[str] = []
        self._locks: dict[str, int] = {}
        # Raw descriptors, not Python file objects: a buffered file carries a lock that a
        # forked child could find held by a parent thread that no longer exists.
        self._own: int | None = None
        self._own_size = 0
        self._own_acks: int | None = None
        self._own_unacked = 0
        self._counts: dict[str, int] = {}
        self.memory_points = 0
        # Set-aside batches per writer, {seq: (points, reason)}, loaded from the writer's
        # quarantine file when first needed; ``quarantine_touched``: writers whose set
        # changed here (their totals go to the server).
        self.quarantined: dict[str, dict[int, tuple[int, str]]] = {}
        self.quarantine_touched: set[str] = set()

    # -- paths ---------------------------------------------------------------------
    def batch_file(self, writer: str) -> Path:
        return self.dir / f"batches-{writer}.jsonl"

    def _ack_file(self, writer: str) -> Path:
        return self.dir / f"acks-{writer}.txt"

    def _lock_file(self, writer: str) -> Path:
        return self.dir / f"writer-{writer}.lock"

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> None:
        """Create the directory and claim this writer (raises OSError if the disk refuses)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.writer is not None and self.writer not in self._locks:
            fd = _try_lock(self._lock_file(self.writer))
            if fd is None:
                raise OSError(f"writer {self.writer} is already in use")
            self._locks[self.writer] = fd

    def adopt(self) -> None:
        """Queue the unacknowledged batches of every dead writer in this directory.

        Writers whose lock is held (another rank, a sync in progress) are left alone and
        listed in ``busy_writers``.
        """
        self.busy_writers = []
        try:
            names = sorted(self.dir.iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
        except FileNotFoundError:
            return
        for path in names:
            match = _BATCH_FILE.match(path.name)
            if not match or match.group(1) == self.writer or match.group(1) in self._locks:
                continue
            writer = match.group(1)
            fd = _try_lock(self._lock_file(writer))
            if fd is None:
                self.busy_writers.append(writer)
                continue
            self._locks[writer] = fd
            # A batch set aside is acknowledged right after its quarantine line is
            # written; a crash in between must not put it back in line.
            acked = _read_acks(self._ack_file(writer)) | self.quarantine_of(writer).keys()
            found = 0
            for seq, points, offset, length in scan_batches(path):
                if seq not in acked:
                    self._push(Entry(writer, seq, points, path, offset, length))
                    found += 1
            if not found:
                self._forget_writer(writer)

    def close(self) -> None:
        """Close files and release locks; delete this writer's files if nothing is pending."""
        for fd in (self._own, self._own_acks):
            if fd is not None:
                os.close(fd)
        self._own = self._own_acks = None
        if self.writer is not None and self.writer in self._locks and self._own_unacked == 0:
            self._forget_writer(self.writer)
        for fd in self._locks.values():
            os.close(fd)
        self._locks.clear()

    def drop_after_fork(self) -> None:
        """In a forked child: let go of the parent's files without touching them."""
        for fd in (self._own, self._own_acks, *self._locks.values()):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._locks.clear()
        self._own = self._own_acks = None
        self.pending.clear()
        self.pending_points = 0
        self._counts.clear()
        self.memory_points = 0
        self._own_size = self._own_unacked = 0
        self.quarantined.clear()
        self.quarantine_touched.clear()

    # -- writing -------------------------------------------------------------------
    def append(self, seq: int, points: int, body: bytes) -> Entry:
        """Write one batch line (raises OSError: the caller keeps it in memory instead)."""
        assert self.writer is not None
        if self._own is None:
            self.open()
            self._own = _open_append(self.batch_file(self.writer))
            self._own_size = os.fstat(self._own).st_size
        head = b"%d\t%d\t" % (seq, points)
        try:
            _write_all(self._own, head + body + b"\n")
        except OSError:
            # A partial line is ignored by readers; reopen to realign the offset.
            os.close(self._own)
            self._own = None
            raise
        path = self.batch_file(self.writer)
        entry = Entry(self.writer, seq, points, path, self._own_size + len(head), len(body))
        self._own_size += len(head) + len(body) + 1
        self._own_unacked += 1
        if self.track:
            entry.body = body
            self._push(entry)
        return entry

    def keep_in_memory(self, entry: Entry) -> None:
        """Queue a batch the disk refused, so it is still sent in order."""
        self._push(entry)
        self.memory_points += entry.points

    def _push(self, entry: Entry) -> None:
        self.pending.append(entry)
        self.pending_points += entry.points
        self._counts[entry.writer] = self._counts.get(entry.writer, 0) + 1

    def move_to_front(self, count: int) -> None:
        """Move the ``count`` newest pending batches to the front, keeping their order."""
        moved = [self.pending.pop() for _ in range(count)]
        self.pending.extendleft(moved)

    def read(self, entry: Entry) -> bytes:
        if entry.body is not None:
            return entry.body
        assert entry.path is not None
        with open(entry.path, "rb") as handle:
            handle.seek(entry.offset)
            return handle.read(entry.length)

    def ack(self, entry: Entry) -> None:
        """The server has ``entry`` (or refused it for good): never send it again."""
        if self.pending and self.pending[0] is entry:
            self.pending.popleft()
        else:
            self.pending.remove(entry)
        self.pending_points -= entry.points
        self._counts[entry.writer] -= 1
        if entry.path is None:
            self.memory_points -= entry.points
            return
        if entry.writer == self.writer:
            self._own_unacked -= 1
            if self._own_unacked == 0 and self._own is not None:
                # Everything this process wrote is stored: start the file over.
                os.ftruncate(self._own, 0)  # O_APPEND: the next line starts at 0
                self._own_size = 0
                if self._own_acks is not None:
                    os.ftruncate(self._own_acks, 0)
                return
            if self._own_acks is None:
                self._own_acks = _open_append(self._ack_file(entry.writer))
            _write_all(self._own_acks, b"%d\n" % entry.seq)
            return
        with open(self._ack_file(entry.writer), "ab") as handle:
            handle.write(b"%d\n" % entry.seq)
        if not self._counts[entry.writer]:
            self._forget_writer(entry.writer)

    # -- set aside (tracker.quarantine) ----------------------------------------------
    def quarantine_of(self, writer: str) -> dict[int, tuple[int, str]]:
        """The set-aside batches of ``writer``: {seq: (points, reason)}."""
        records = self.quarantined.get(writer)
        if records is None:
            found = quarantine.scan(quarantine.file_for(self.dir, writer))
            records = {seq: (r.points, quarantine.describe(r.reason)) for seq, r in found.items()}
            self.quarantined[writer] = records
        return records

    def set_aside(self, entry: Entry, reason: dict[str, Any]) -> None:
        """Keep ``entry``'s body in its writer's quarantine file; the caller then acks it
        (raises OSError if the disk refuses: nothing changed)."""
        body = self.read(entry)
        records = self.quarantine_of(entry.writer)
        fd = _open_append(quarantine.file_for(self.dir, entry.writer))
        try:
            _write_all(fd, quarantine.line(entry.seq, entry.points, reason, body))
        finally:
            os.close(fd)
        records.pop(entry.seq, None)
        records[entry.seq] = (entry.points, quarantine.describe(reason))
        self.quarantine_touched.add(entry.writer)

    def quarantine_report(self) -> dict[str, dict[str, Any]]:
        """Totals of the writers whose set-aside batches changed here, as the server's
        heartbeat and finish take them: {writer: {batches, points, reason, dir}}."""
        report = {}
        for writer in sorted(self.quarantine_touched):
            records = self.quarantine_of(writer)
            batches, points = quarantine.totals(records)
            last = next(reversed(records.values()))[1] if records else ""
            reason = last[:500]
            report[writer] = {"batches": batches, "points": points, "reason": reason, "dir": str(self.dir)}
        return report

    def quarantine_writers(self) -> list[str]:
        """Writers that have a quarantine file in this directory."""
        try:
            names = sorted(path.name for path in self.dir.iterdir())
        except FileNotFoundError:
            return []
        return [m.group(1) for m in map(quarantine.QUARANTINE_FILE.match, names) if m]

    def claim(self, writer: str) -> bool:
        """Hold ``writer``'s lock (False: its process or another sync is alive)."""
        if writer in self._locks:
            return True
        fd = _try_lock(self._lock_file(writer))
        if fd is None:
            return False
        self._locks[writer] = fd
        return True

    def load_quarantine(self, writer: str) -> list[tuple[Entry, dict[str, Any]]]:
        """The set-aside batches of ``writer`` as entries (read with ``read``), oldest
        first, with their recorded reasons. Claim the writer first."""
        path = quarantine.file_for(self.dir, writer)
        found = quarantine.scan(path)
        return [
            (Entry(writer, r.seq, r.points, path, r.offset, r.length), r.reason)
            for r in sorted(found.values(), key=lambda r: r.seq)
        ]

    def keep_quarantined(self, writer: str, kept: list[tuple[Entry, dict[str, Any]]]) -> None:
        """Rewrite ``writer``'s quarantine file with only ``kept`` (entries from
        ``load_quarantine``, with their latest reasons); the others were delivered."""
        lines = [(entry.seq, entry.points, reason, self.read(entry)) for entry, reason in kept]
        quarantine.rewrite(quarantine.file_for(self.dir, writer), lines)
        self.quarantined[writer] = {
            entry.seq: (entry.points, quarantine.describe(reason)) for entry, reason in kept
        }
        self.quarantine_touched.add(writer)

    def release(self, writer: str) -> None:
        """Let go of a claimed writer that has no batch waiting here."""
        if self._counts.get(writer):
            return
        if not self.batch_file(writer).exists():
            self._forget_writer(writer)
        else:
            fd = self._locks.pop(writer, None)
            if fd is not None:
                os.close(fd)

    def _forget_writer(self, writer: str) -> None:
        """Delete a fully acknowledged writer's files and release its lock."""
        for path in (self.batch_file(writer), self._ack_file(writer), self._lock_file(writer)):
            path.unlink(missing_ok=True)
        fd = self._locks.pop(writer, None)
        if fd is not None:
            os.close(fd)
