"""Ships a run's media (confusion matrices, curves, histograms, model summary) and
checkpoints from one daemon thread, spooled on disk first, like the point sender.

Media calls hand a dict to ``add_media`` and return; the thread encodes it, writes it to
``<run dir>/uploads/`` and POSTs it. Checkpoints are written there by the training
thread (the state must be captured at the call) and uploaded by the thread. A file is
deleted once the server has it; the server stores each item once by its uid, so a
retry or a later ``sync_uploads`` never duplicates anything. Offline runs only spool;
``sync_uploads(directory)`` (and ``python -m tracker.uploader DIR``) uploads them later.

An upload the server keeps refusing is set aside by the same rules as a batch of points
(``tracker.quarantine``): moved to ``uploads/quarantine/`` with the server's answer,
counted, and named at ``finish``, while the uploads after it go on; an outage never sets
anything aside. ``python -m tracker sync --retry-quarantined DIR`` sends them again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker import _json, quarantine, uploads
from tracker._env import client_from_env
from tracker.backoff import Backoff
from tracker.spool import read_json, recorded_server, write_json
from tracker.transport import HttpClient, RequestFailed, TrackerError, run_path
from tracker.uploads import Item

logger = logging.getLogger("tracker")


class Uploader:
    """One per run and process. ``client`` None means offline (spool only).

    Spooled items are sent oldest first. An outage (``quarantine.WAIT``) holds them all
    back with the line's back-off; an item answered 5xx waits its own while the ones
    behind it go on, and the ones the server refuses for good are set aside
    (``quarantine.Rules``, the sender's rules for batches).
    """

    def __init__(self, *, run_dir: Path | None, client: HttpClient | None, run_id: int | None, settings: Any):
        self.folder = run_dir / "uploads" if run_dir is not None else None
        self.client = client
        self.run_id = run_id
        self.settings = settings
        self._memory: deque[dict] = deque()  # media bodies not yet on disk
        self._files: deque[Item] = deque()  # spooled, in order
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._deadline = float("inf")
        self.backoff = Backoff(settings.backoff_base, settings.backoff_max)
        self._rules = quarantine.Rules(settings.quarantine_after, self.backoff.delay)
        self._busy = False
        self.dropped = 0
        self.quarantined = 0  # uploads the server refused for good, kept in uploads/quarantine/
        self.quarantine_reason = ""
        self._pid = os.getpid()  # the process whose thread and connection these are

    # -- training thread ---------------------------------------------------------------
    def add_media(self, items: list[dict]) -> None:
        """Queue media items (``uid``, ``kind``, ``name``, ``step``, ``data``); never blocks."""
        if self._closing:
            logger.warning("tracker: media logged after finish() is ignored")
            return
        self._memory.append({"items": items})
        self._start()
        self._wake.set()

    def checkpoint_path(self, suffix: str = ".pt") -> Path:
        """Where the training thread writes a checkpoint to upload."""
        if self.folder is None:
            raise TrackerError("this run has no local directory to stage checkpoints in")
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{uploads.stamp()}-checkpoint{suffix}"

    def add_checkpoint(self, file_path: Path, query: dict[str, Any]) -> None:
        assert self.folder is not None
        meta_path = file_path.with_suffix(".json")
        write_json(meta_path, {"type": "checkpoint", "file": file_path.name, "query": query})
        with self._lock:
            self._files.append(Item(meta_path))
        self._start()
        self._wake.set()

    def _start(self) -> None:
        if os.getpid() != self._pid:
            # A forked child (a DataLoader worker...): the parent's connection may be mid-
            # request and must not be touched. The child only spools, for a later sync.
            self._pid = os.getpid()
            self.client = None
            self._lock = threading.Lock()
            self._thread = None
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tracker-uploader", daemon=True)
            self._thread.start()

    def pending(self) -> int:
        return len(self._memory) + len(self._files) + (1 if self._busy else 0)

    def close(self, timeout: float) -> int:
        """Upload what is queued for at most ``timeout`` s; returns how many items are
        left (on disk, for ``sync_uploads``)."""
        if os.getpid() != self._pid:
            return 0  # a forked child that never uploaded: the parent's objects are not ours
        self._closing = True
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, timeout) + 0.5)
        with self._lock:
            self._spool_memory()
        left = len(self._files)
        if left and self.client is not None:
            logger.warning(
                "tracker: %d media/checkpoint uploads of run %s are not on the server yet; they are in %s. "
                "Upload them with: python -m tracker.uploader %s",
                left,
                self.run_id,
                self.folder,
                self.folder.parent if self.folder else "",
            )
        if self.quarantined and self.folder is not None:
            logger.warning(
                "tracker: %d media/checkpoint uploads of run %s were set aside: the server refused them "
                "(%s). They are kept in %s; send them again with: "
                "python -m tracker sync --retry-quarantined %s",
                self.quarantined,
                self.run_id,
                self.quarantine_reason,
                self.folder / "quarantine",
                self.folder.parent,
            )
        if self.client is not None:
            self.client.close()
        return left

    def flush(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.pending() or (self.client is None and not self._memory):
                return True
            self._wake.set()
            time.sleep(0.01)
        return False

    # -- uploader thread ---------------------------------------------------------------
    def _spool_memory(self) -> None:
        while self._memory:
            body = self._memory.popleft()
            if self.folder is None:
                self.dropped += len(body["items"])
                continue
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                path = self.folder / f"{uploads.stamp()}-media.json"
                write_json(path, {"type": "media", "body": body})
            except OSError as exc:
                if self.client is None:
                    self.dropped += len(body["items"])
                    logger.warning("tracker: cannot spool media in %s (%s); dropped", self.folder, exc)
                    continue
                # Online with an unwritable disk: send from memory, once.
                self._send_memory(body)
                continue
            self._files.append(Item(path))

    def _send_memory(self, body: dict) -> None:
        try:
            self.client.request("POST", run_path(self.run_id, "media"), _json.dumps(body))
        except RequestFailed as exc:
            self.dropped += len(body["items"])
            logger.warning("tracker: could not upload media (%s); dropped", exc)

    def _loop(self) -> None:
        closing_seen = False
        while True:
            if self._closing and not closing_seen:
                # finish(): whatever the back-off had grown to, try again now (but not
                # before the server's own Retry-After).
                closing_seen = True
                self.backoff.try_now()
                self._rules.retry_now()
            try:
                with self._lock:
                    self._spool_memory()
                if self.client is not None:
                    self._send_files()
            except Exception:  # the uploader must outlive any bug
                logger.exception("tracker: unexpected error in the upload thread")
                time.sleep(0.2)
            now = time.monotonic()
            due = float("inf")  # offline (or a forked child): files only wait for a sync
            if self.client is not None:
                due = self._rules.due_at(self._files, self.backoff.retry_at)
            if self._closing:
                if self.client is None or not (self._memory or self._files) or now >= self._deadline:
                    return
                wait = min(max(0.02, due - now), self._deadline - now)
            else:
                wait = min(0.5, max(0.0, due - now))
            if self._wake.wait(max(0.0, wait)):
                self._wake.clear()

    def _timeout(self) -> float | None:
        if not self._closing:
            return None
        return max(0.05, min(self.settings.http_timeout, self._deadline - time.monotonic()))

    def _send_files(self) -> None:
        """Send spooled uploads oldest first until none is left, none may go yet, or the
        server is away. One the server refuses does not stop the others."""
        assert self.client is not None and self.run_id is not None
        rules = self._rules
        rules.begin()
        while self._files:
            now = time.monotonic()
            if not self.backoff.ready(now) or (self._closing and now >= self._deadline):
                return
            item = rules.next_due(self._files, now)
            if item is None:
                break
            self._busy = True
            try:
                uploads.send(self.client, self.run_id, item.path, timeout=self._timeout())
            except RequestFailed as exc:
                if quarantine.classify(exc) == quarantine.WAIT:
                    self.backoff.failed(exc.retry_after)
                    return
                # finish() tries at once; the tries are counted all the same.
                verdict = rules.refused(item, exc, now, at_once=self._closing)
                if verdict == quarantine.SET_ASIDE:
                    self._put_aside(item, exc)
                elif verdict == quarantine.PROBE and not self._probe():
                    return  # a 5xx again, and the server answers nothing else: it is away
                continue
            except OSError as exc:
                logger.warning("tracker: cannot read spooled upload %s (%s); skipped", item.path, exc)
            else:
                rules.answered()
                self.backoff.succeeded()
            finally:
                self._busy = False
            self._forget(item)
            uploads.remove(item.path)
        if rules.unresolved:
            self._probe()  # a 5xx: this upload or the server? Another request answers that.

    def _forget(self, item: Item) -> None:
        with self._lock:
            self._files.remove(item)
        self._rules.forget(item)

    def _probe(self) -> bool:
        try:
            uploads.probe(self.client, self.run_id, timeout=self._timeout())
        except RequestFailed as exc:
            self.backoff.failed(exc.retry_after)
            return False
        self._rules.answered()
        return True

    def _put_aside(self, item: Item, exc: RequestFailed) -> None:
        """Keep ``item`` in ``uploads/quarantine/``, counted and reported; the others go on."""
        reason = quarantine.reason_of(exc, max(1, item.tries))
        self._forget(item)
        try:
            uploads.set_aside(item.path, reason)
        except OSError as err:
            self.dropped += 1
            logger.warning(
                "tracker: the server refused upload %s (%s), the disk too (%s)", item.path, exc, err
            )
            uploads.remove(item.path)
            return
        self.quarantined += 1
        self.quarantine_reason = quarantine.describe(reason)
        log = logger.info if self.quarantined > 1 else logger.warning
        log(
            "tracker: the server refused upload %s: %s. It is set aside in %s and later uploads go on; "
            "retry it with: python -m tracker sync --retry-quarantined %s",
            item.path.name,
            exc,
            item.path.parent / "quarantine",
            item.path.parent.parent,
        )


@dataclass
class UploadsResult:
    """What ``upload_directory`` did: items uploaded, items set aside now (the server
    refused them), set-aside items delivered on a retry, and those still refused."""

    sent: int = 0
    set_aside: int = 0
    reason: str = ""
    retried: int = 0
    still_refused: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def upload_directory(
    directory: str | os.PathLike[str],
    *,
    server: str | None = None,
    api_key: str | None = None,
    retry_quarantined: bool = False,
    quarantine_after: int = 5,
    backoff: float = 0.5,
) -> UploadsResult:
    """Upload the media and checkpoints spooled in a run directory (an offline run
    after ``python -m tracker sync`` gave it a server id, or what an online run left).

    An item the server refuses (a 4xx about it; a 5xx ``quarantine_after`` times while
    it answers other requests) is set aside in ``uploads/quarantine/`` and the others go
    on; ``retry_quarantined`` sends those once more (still refused: they stay). Raises
    ``RequestFailed`` when the server stays away or refuses the key or the run."""
    directory = Path(directory)
    meta = read_json(directory / "run.json") or {}
    state = read_json(directory / "sync.json") or {}
    run_id = meta.get("id") or state.get("id")
    if not run_id:
        raise TrackerError(
            f"{directory} has no server run yet: run `python -m tracker sync {directory}` first"
        )
    run_id = int(run_id)
    client = client_from_env(server, api_key, who="tracker sync", recorded=recorded_server(meta, state))
    result = UploadsResult()

    def deliver(meta_path: Path, tries: int) -> tuple[RequestFailed, int] | None:
        return quarantine.deliver(
            lambda: uploads.send(client, run_id, meta_path),
            lambda: _answers(client, run_id),
            tries=tries,
            backoff=Backoff.blocking(backoff),
        )

    try:
        for meta_path in uploads.pending_uploads(directory):
            refused = deliver(meta_path, quarantine_after)
            if refused is None:
                result.sent += 1
                uploads.remove(meta_path)
                continue
            exc, tries = refused
            uploads.set_aside(meta_path, quarantine.reason_of(exc, tries))
            result.set_aside += 1
            result.reason = str(exc)
        if retry_quarantined:
            for meta_path in uploads.set_aside_uploads(directory):
                refused = deliver(meta_path, 1)
                if refused is None:
                    result.retried += 1
                    uploads.remove(meta_path)
                    continue
                exc, _ = refused
                before = (read_json(meta_path) or {}).get("reason") or {}
                uploads.set_aside(meta_path, quarantine.reason_of(exc, int(before.get("tries") or 0) + 1))
                result.still_refused.append((meta_path.name, str(exc)))
            with contextlib.suppress(OSError):  # only when empty: everything was delivered
                (directory / "uploads" / "quarantine").rmdir()
    finally:
        client.close()
    return result


def _answers(client: HttpClient, run_id: int) -> bool:
    try:
        uploads.probe(client, run_id)
    except RequestFailed:
        return False
    return True


def sync_uploads(
    directory: str | os.PathLike[str], *, server: str | None = None, api_key: str | None = None
) -> int:
    """``upload_directory`` with the defaults; returns how many items were uploaded."""
    return upload_directory(directory, server=server, api_key=api_key).sent


def main(argv: list[str] | None = None) -> int:
    """``python -m tracker.uploader DIR``: upload the spooled media/checkpoints of DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tracker.uploader RUN_DIR", file=sys.stderr)
        return 2
    try:
        result = upload_directory(args[0])
    except (TrackerError, OSError) as exc:
        print(f"tracker uploader: {exc}", file=sys.stderr)
        return 1
    print(f"{args[0]}: {result.sent} uploads sent")
    if result.set_aside:
        print(
            f"{args[0]}: {result.set_aside} uploads set aside: the server refuses them ({result.reason}); "
            f"send them again with: python -m tracker sync --retry-quarantined {args[0]}"
        )
    return 0


def uploader_for(run: Any) -> Uploader:
    """The run's uploader (``run.uploader``), created on first use."""
    return run.uploader


if __name__ == "__main__":
    raise SystemExit(main())
