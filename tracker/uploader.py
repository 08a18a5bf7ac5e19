"""Ships a run's media (confusion matrices, curves, histograms, model summary) and
checkpoints from one daemon thread, spooled on disk first, like the point sender.

Media calls hand a dict to ``add_media`` and return; the thread encodes it, writes it to
``<run dir>/uploads/`` and POSTs it. Checkpoints are written there by the training
thread (the state must be captured at the call) and uploaded by the thread. A file is
deleted once the server has it; the server stores each item once by its uid, so a
retry or a later ``sync_uploads`` never duplicates anything. Offline runs only spool;
``sync_uploads(directory)`` (and ``python -m tracker.uploader DIR``) uploads them later.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import random
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from tracker import _json
from tracker.spool import read_json, write_json
from tracker.transport import USER_AGENT, HttpClient, RequestFailed, TrackerError, run_path

logger = logging.getLogger("tracker")

_KEEP_ON = {401, 403, 404}
_CHUNK = 1024 * 1024


def new_uid() -> str:
    return uuid.uuid4().hex


def _stamp() -> str:
    """A file name prefix that sorts in creation order."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- raw HTTP on an HttpClient's connection ---------------------------------------------


def raw_request(
    client: HttpClient,
    method: str,
    path: str,
    *,
    body: IO[bytes] | None = None,
    length: int = 0,
    sink: IO[bytes] | None = None,
    timeout: float | None = None,
) -> tuple[Any, dict[str, str]]:
    """A request whose body is a file (streamed) or whose answer is a file (streamed to
    ``sink`` on success); returns (decoded JSON or None, response headers). Errors raise
    ``RequestFailed`` exactly as ``HttpClient.request`` does."""
    headers = {"Authorization": client._auth, "User-Agent": USER_AGENT, "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(length)
    conn, _ = client._connection(client._timeout if timeout is None else timeout)
    try:
        conn.putrequest(method, client._base + path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body is not None:
            while chunk := body.read(_CHUNK):
                conn.send(chunk)
        response = conn.getresponse()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        if sink is not None and 200 <= response.status < 300:
            while chunk := response.read(_CHUNK):
                sink.write(chunk)
            payload = b""
        else:
            payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        client.close()
        raise RequestFailed(None, f"cannot reach {client.server}: {exc or type(exc).__name__}") from exc
    if response.will_close:
        client.close()
    if sink is not None and 200 <= response.status < 300:
        return None, answer_headers
    return client._answer(response, payload), answer_headers


# -- spooled items --------------------------------------------------------------------


def _send_file(client: HttpClient, run_id: int, meta_path: Path, timeout: float | None = None) -> None:
    """Upload one spooled item (media body or checkpoint), raising ``RequestFailed``."""
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise OSError(f"{meta_path} is not a spooled upload")
    if meta.get("type") == "media":
        client.request("POST", run_path(run_id, "media"), _json.dumps(meta["body"]), timeout=timeout)
        return
    file_path = meta_path.with_name(meta["file"])
    size = file_path.stat().st_size
    query = urlencode({**meta["query"], "metrics": _json.dumps(meta["query"].get("metrics") or {}).decode()})
    with file_path.open("rb") as handle:
        raw_request(
            client,
            "POST",
            run_path(run_id, "checkpoints") + "?" + query,
            body=handle,
            length=size,
            timeout=timeout,
        )


def _remove(meta_path: Path) -> None:
    meta = read_json(meta_path)
    if isinstance(meta, dict) and meta.get("file"):
        meta_path.with_name(meta["file"]).unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def pending_uploads(directory: Path) -> list[Path]:
    folder = Path(directory) / "uploads"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


class Uploader:
    """One per run and process. ``client`` None means offline (spool only)."""

    def __init__(self, *, run_dir: Path | None, client: HttpClient | None, run_id: int | None, settings: Any):
        self.folder = run_dir / "uploads" if run_dir is not None else None
        self.client = client
        self.run_id = run_id
        self.settings = settings
        self._memory: deque[dict] = deque()  # media bodies not yet on disk
        self._files: deque[Path] = deque()  # spooled, in order
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._deadline = float("inf")
        self._failures = 0
        self._retry_at = 0.0
        self._busy = False
        self.dropped = 0
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
        return self.folder / f"{_stamp()}-checkpoint{suffix}"

    def add_checkpoint(self, file_path: Path, query: dict[str, Any]) -> None:
        assert self.folder is not None
        meta_path = file_path.with_suffix(".json")
        write_json(meta_path, {"type": "checkpoint", "file": file_path.name, "query": query})
        with self._lock:
            self._files.append(meta_path)
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
                path = self.folder / f"{_stamp()}-media.json"
                write_json(path, {"type": "media", "body": body})
            except OSError as exc:
                if self.client is None:
                    self.dropped += len(body["items"])
                    logger.warning("tracker: cannot spool media in %s (%s); dropped", self.folder, exc)
                    continue
                # Online with an unwritable disk: send from memory, once.
                self._send_memory(body)
                continue
            self._files.append(path)

    def _send_memory(self, body: dict) -> None:
        try:
            self.client.request("POST", run_path(self.run_id, "media"), _json.dumps(body))
        except RequestFailed as exc:
            self.dropped += len(body["items"])
            logger.warning("tracker: could not upload media (%s); dropped", exc)

    def _loop(self) -> None:
        while True:
            try:
                with self._lock:
                    self._spool_memory()
                if self.client is not None:
                    self._send_files()
            except Exception:  # the uploader must outlive any bug
                logger.exception("tracker: unexpected error in the upload thread")
                time.sleep(0.2)
            now = time.monotonic()
            if self._closing:
                if self.client is None or not (self._memory or self._files) or now >= self._deadline:
                    return
                wait = min(max(0.02, self._retry_at - now), self._deadline - now)
            else:
                wait = 0.5
                if self._files and self._retry_at > now:
                    wait = min(wait, self._retry_at - now)
            if self._wake.wait(max(0.0, wait)):
                self._wake.clear()

    def _send_files(self) -> None:
        while self._files and time.monotonic() >= self._retry_at:
            if self._closing and time.monotonic() >= self._deadline:
                return
            meta_path = self._files[0]
            self._busy = True
            try:
                timeout = None
                if self._closing:
                    timeout = max(0.05, min(self.settings.http_timeout, self._deadline - time.monotonic()))
                _send_file(self.client, self.run_id, meta_path, timeout=timeout)
            except RequestFailed as exc:
                if exc.retryable or exc.status in _KEEP_ON:
                    self._back_off(exc)
                    return
                logger.warning(
                    "tracker: the server refused an upload (%s): %s; it is dropped", meta_path.name, exc
                )
                self.dropped += 1
            except OSError as exc:
                logger.warning("tracker: cannot read spooled upload %s (%s); skipped", meta_path, exc)
            finally:
                self._busy = False
            with self._lock:
                self._files.popleft()
            _remove(meta_path)
            self._failures = 0

    def _back_off(self, exc: RequestFailed) -> None:
        self._failures += 1
        base = self.settings.backoff_base * 2 ** min(self._failures - 1, 20)
        delay = min(self.settings.backoff_max, base) * random.uniform(0.75, 1.0)
        if exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, 600.0))
        self._retry_at = time.monotonic() + delay


def sync_uploads(
    directory: str | os.PathLike[str], *, server: str | None = None, api_key: str | None = None
) -> int:
    """Upload the media and checkpoints spooled in a run directory (an offline run
    after ``python -m tracker sync`` gave it a server id, or what an online run left).
    Returns how many items were uploaded; items the server refuses are removed."""
    directory = Path(directory)
    meta = read_json(directory / "run.json") or {}
    state = read_json(directory / "sync.json") or {}
    run_id = meta.get("id") or state.get("id")
    if not run_id:
        raise TrackerError(
            f"{directory} has no server run yet: run `python -m tracker sync {directory}` first"
        )
    server = server or meta.get("server") or state.get("server") or os.environ.get("TRACKER_SERVER")
    api_key = api_key or os.environ.get("TRACKER_API_KEY")
    if not server or not api_key:
        raise TrackerError("no server or API key (TRACKER_SERVER, TRACKER_API_KEY)")
    client = HttpClient(server, api_key)
    sent = 0
    try:
        for meta_path in pending_uploads(directory):
            try:
                _send_file(client, int(run_id), meta_path)
            except RequestFailed as exc:
                if exc.retryable or exc.status in _KEEP_ON:
                    raise
                logger.warning("tracker: the server refused %s: %s; removed", meta_path.name, exc)
            else:
                sent += 1
            _remove(meta_path)
    finally:
        client.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    """``python -m tracker.uploader DIR``: upload the spooled media/checkpoints of DIR."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tracker.uploader RUN_DIR", file=sys.stderr)
        return 2
    try:
        sent = sync_uploads(args[0])
    except (TrackerError, OSError) as exc:
        print(f"tracker uploader: {exc}", file=sys.stderr)
        return 1
    print(f"{args[0]}: {sent} uploads sent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def uploader_for(run: Any) -> Uploader:
    """The run's uploader, created on first use (online: its own connection)."""
    uploader = run._uploader
    if uploader is None:
        client = run._client.for_child() if run._client is not None and run.id is not None else None
        uploader = run._uploader = Uploader(
            run_dir=run.dir, client=client, run_id=run.id, settings=run.settings
        )
    return uploader
