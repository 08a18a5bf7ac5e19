"""The on-disk spool: append-only batch files that survive outages and crashes.

A run directory (``<dir>/run-<id>/`` online, ``<dir>/offline-<...>/`` offline) holds,
per writer (one client process):

- ``batches-<writer>.jsonl``: one batch per line, ``<seq>\\t<points>\\t<request body>\\n``;
  the body is exactly what is POSTed, so a replay re-sends the same bytes;
- ``acks-<writer>.txt``: one acknowledged ``<seq>`` per line, so a restart or a second
  ``sync`` does not resend what the server already stored;
- ``writer-<writer>.lock``: held (``flock``) while the writer lives. A batch file whose
  lock can be taken belongs to a dead process and is adopted: replayed, then deleted.

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

from tracker import _json

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no liveness check, adopt everything
    fcntl = None

_BATCH_FILE = re.compile(r"^batches-([0-9A-Za-z_-]{1,64})\.jsonl$")


@dataclass
class Entry:
    """One batch waiting for the server's acknowledgement.

    ``body`` is kept in memory only until the first send attempt (or for good when the
    disk could not take it: ``path`` is None then); otherwise it is read back from disk.
    """

    writer: str
    seq: int
    points: int
    path: Path | None
    offset: int = 0
    length: int = 0
    body: bytes | None = None


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
            acked = _read_acks(self._ack_file(writer))
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

    def _forget_writer(self, writer: str) -> None:
        """Delete a fully acknowledged writer's files and release its lock."""
        for path in (self.batch_file(writer), self._ack_file(writer), self._lock_file(writer)):
            path.unlink(missing_ok=True)
        fd = self._locks.pop(writer, None)
        if fd is not None:
            os.close(fd)
