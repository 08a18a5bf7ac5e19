"""Upload run directories: offline runs, and what an online run left in its spool.

Re-running is safe. The server id of an offline run is remembered in ``sync.json`` the
moment the run is created, acknowledged batches are recorded (and their files deleted),
``finish.json`` is renamed once the server has it, and the server drops any batch it
already stored by (run, writer, seq), so even an interrupted sync never duplicates points.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker.spool import Spool, _try_lock, read_json, write_json
from tracker.transport import HttpClient, RequestFailed, TrackerError, run_path

_ATTEMPTS = 6


@dataclass
class SyncResult:
    """What one directory's sync did."""

    directory: Path
    run_id: int | None = None
    url: str = ""
    created: bool = False
    batches: int = 0
    points: int = 0
    dropped: int = 0
    finished: bool = False
    busy_writers: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def nothing_to_do(self) -> bool:
        return not (self.created or self.batches or self.finished or self.dropped)


def run_directories(path: Path) -> list[Path]:
    """``path`` itself if it is a run directory, else the run directories inside it."""
    if (path / "run.json").is_file():
        return [path]
    if not path.is_dir():
        raise TrackerError(f"{path} is not a directory")
    return sorted(child for child in path.iterdir() if (child / "run.json").is_file())


def _post(client: HttpClient, path: str, body: Any, backoff: float) -> Any:
    """POST with a few retries on outages (about 15 s at the default 0.5 s backoff,
    honouring Retry-After); other 4xx raise at once."""
    for attempt in range(_ATTEMPTS):
        try:
            return client.request("POST", path, body)
        except RequestFailed as exc:
            if not exc.retryable or attempt == _ATTEMPTS - 1:
                raise
            delay = backoff * 2**attempt
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            time.sleep(min(delay, 60.0))
    raise AssertionError("unreachable")


def sync_directory(
    directory: Path, *, server: str | None = None, api_key: str | None = None, backoff: float = 0.5
) -> SyncResult:
    """Create (or resume) the directory's run on the server, upload every batch not yet
    acknowledged, then record the run's end if the directory holds one not yet sent."""
    directory = Path(directory)
    meta = read_json(directory / "run.json")
    if not isinstance(meta, dict):
        raise TrackerError(f"{directory} is not a run directory (no run.json)")
    state = read_json(directory / "sync.json") or {}
    # A run that already has a server id lives on the server that gave it that id.
    recorded = meta.get("server") if meta.get("id") else state.get("server")
    if recorded:
        server = server or recorded
    server = server or os.environ.get("TRACKER_SERVER") or meta.get("server")
    api_key = api_key or os.environ.get("TRACKER_API_KEY")
    if not server:
        raise TrackerError("no server: pass --server or set TRACKER_SERVER")
    if not api_key:
        raise TrackerError("no API key: pass --api-key or set TRACKER_API_KEY")

    result = SyncResult(directory)
    lock = _try_lock(directory / "sync.lock")
    if lock is None:
        raise TrackerError(f"another sync of {directory} is running")
    client = HttpClient(server, api_key)
    spool = Spool(directory, writer=None)
    try:
        spool.adopt()
        result.busy_writers = spool.busy_writers
        finish_path = directory / "finish.json"
        finish = read_json(finish_path)
        if spool.busy_writers and meta.get("mode") == "offline" and finish is None:
            result.skipped = "the run is still being recorded by a live process"
            return result
        create = dict(meta.get("create") or {})
        run_id = meta.get("id") or state.get("id") or create.get("id")
        if run_id is None:
            answer = _post(client, "/api/v1/runs", create, backoff)
            run_id, result.created, result.url = int(answer["id"]), True, answer.get("url", "")
            write_json(directory / "sync.json", {"server": server, "id": run_id, "url": result.url})
        elif finish is not None:
            answer = _post(client, "/api/v1/runs", {**create, "id": run_id}, backoff)
            result.url = answer.get("url", "")
        result.run_id = int(run_id)

        batches_path = run_path(result.run_id, "batches")
        while spool.pending:
            entry = spool.pending[0]
            try:
                _post(client, batches_path, spool.read(entry), backoff)
            except RequestFailed as exc:
                if exc.retryable or exc.status in (401, 403, 404):
                    raise
                result.dropped += entry.points
            else:
                result.batches += 1
                result.points += entry.points
            spool.ack(entry)

        if finish is not None:
            finish = dict(finish)
            finish["dropped"] = int(finish.get("dropped") or 0) + result.dropped
            _post(client, run_path(result.run_id, "finish"), finish, backoff)
            os.replace(finish_path, directory / "finish-sent.json")
            result.finished = True
        return result
    finally:
        spool.close()
        client.close()
        os.close(lock)
