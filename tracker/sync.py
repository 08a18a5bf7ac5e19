"""Upload run directories: offline runs, and what an online run left in its spool.

Re-running is safe. The server id of an offline run is remembered in ``sync.json`` the
moment the run is created, acknowledged batches are recorded (and their files deleted),
``finish.json`` is renamed once the server has it, and the server drops any batch it
already stored by (run, writer, seq), so even an interrupted sync never duplicates points.

A batch the server keeps refusing is set aside as the sender does (``tracker.quarantine``)
and the others go on; ``retry_quarantined`` sends the set-aside batches once more and
keeps those still refused, with the server's new answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker import quarantine
from tracker._env import server_and_key
from tracker.backoff import Backoff
from tracker.spool import Spool, _try_lock, read_json, recorded_server, write_json
from tracker.transport import HttpClient, RequestFailed, TrackerError, run_path

_ATTEMPTS = 6


@dataclass
class Refused:
    """A set-aside batch the server refused again (``--retry-quarantined``)."""

    writer: str
    seq: int
    points: int
    reason: str


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
    finish_held: bool = False  # the end waits: a writer still running holds batches
    # Batches set aside by this sync (the server kept refusing them).
    quarantined: int = 0
    quarantined_points: int = 0
    quarantine_reason: str = ""
    # --retry-quarantined: set-aside batches delivered now, and those still refused.
    retried: int = 0
    retried_points: int = 0
    still_refused: list[Refused] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not (
            self.created
            or self.batches
            or self.finished
            or self.dropped
            or self.quarantined
            or self.retried
            or self.still_refused
            or self.finish_held
        )


def run_directories(path: Path) -> list[Path]:
    """``path`` itself if it is a run directory, else the run directories inside it."""
    if (path / "run.json").is_file():
        return [path]
    if not path.is_dir():
        raise TrackerError(f"{path} is not a directory")
    return sorted(child for child in path.iterdir() if (child / "run.json").is_file())


def _post(client: HttpClient, path: str, body: Any, backoff: float) -> Any:
    """POST with a few retries on outages; other 4xx raise at once."""
    pauses = Backoff.blocking(backoff)
    for attempt in range(_ATTEMPTS):
        try:
            return client.request("POST", path, body)
        except RequestFailed as exc:
            if not exc.retryable or attempt == _ATTEMPTS - 1:
                raise
            pauses.sleep(exc.retry_after)
    raise AssertionError("unreachable")


def probe(client: HttpClient, run_id: int) -> bool:
    """Does the server answer a request other than the one it refused? (A heartbeat: the
    run's status does not change, except a crashed run, which a stored batch revives too.)"""
    try:
        client.request("POST", run_path(run_id, "heartbeat"), {"dropped": 0})
    except RequestFailed:
        return False
    return True


def _deliver(
    client: HttpClient, run_id: int, body: bytes, *, tries: int, backoff: float
) -> tuple[RequestFailed, int] | None:
    """POST one batch (``quarantine.deliver``: None when the server has it, its answer
    when refused for good; raises RequestFailed when the server stays away)."""
    return quarantine.deliver(
        lambda: client.request("POST", run_path(run_id, "batches"), body),
        lambda: probe(client, run_id),
        tries=tries,
        backoff=Backoff.blocking(backoff),
        attempts=_ATTEMPTS,
    )


def sync_directory(
    directory: Path,
    *,
    server: str | None = None,
    api_key: str | None = None,
    backoff: float = 0.5,
    retry_quarantined: bool = False,
    quarantine_after: int = 5,
) -> SyncResult:
    """Create (or resume) the directory's run on the server, upload every batch not yet
    acknowledged, then record the run's end if the directory holds one not yet sent.

    A batch the server keeps refusing is set aside in the directory (``quarantine_after``
    5xx answers, or one 4xx about the batch) and the others go on. ``retry_quarantined``
    also sends the set-aside batches once more; those still refused stay set aside."""
    directory = Path(directory)
    meta = read_json(directory / "run.json")
    if not isinstance(meta, dict):
        raise TrackerError(f"{directory} is not a run directory (no run.json)")
    state = read_json(directory / "sync.json") or {}
    # A run that already has a server id lives on the server that gave it that id.
    recorded = recorded_server(meta, state)
    server, api_key = server_and_key(
        server, api_key, who="tracker sync", recorded=recorded, fallback=meta.get("server")
    )

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

        while spool.pending:
            entry = spool.pending[0]
            refused = _deliver(
                client, result.run_id, spool.read(entry), tries=quarantine_after, backoff=backoff
            )
            if refused is None:
                result.batches += 1
                result.points += entry.points
            else:
                exc, tries = refused
                spool.set_aside(entry, quarantine.reason_of(exc, tries))
                result.quarantined += 1
                result.quarantined_points += entry.points
                result.quarantine_reason = str(exc)
            spool.ack(entry)
        if retry_quarantined:
            _retry_quarantined(spool, client, result, backoff)

        report = spool.quarantine_report()
        if finish is not None and spool.busy_writers:
            # Their batches are not on the server yet: the run must not look ended.
            result.finish_held = True
        elif finish is not None:
            finish = dict(finish)
            finish["dropped"] = int(finish.get("dropped") or 0) + result.dropped
            if report or finish.get("quarantined"):
                finish["quarantined"] = {**(finish.get("quarantined") or {}), **report}
            _post(client, run_path(result.run_id, "finish"), finish, backoff)
            os.replace(finish_path, directory / "finish-sent.json")
            result.finished = True
        if report and not result.finished:
            body = {"dropped": 0, "quarantined": report}
            _post(client, run_path(result.run_id, "heartbeat"), body, backoff)
        return result
    finally:
        spool.close()
        client.close()
        os.close(lock)


def _retry_quarantined(spool: Spool, client: HttpClient, result: SyncResult, backoff: float) -> None:
    """Send every set-aside batch of the directory once more (writers whose process is
    alive are left to it); keep those still refused, with the server's new answer."""
    assert result.run_id is not None
    for writer in spool.quarantine_writers():
        if not spool.claim(writer):
            if writer not in result.busy_writers:
                result.busy_writers.append(writer)
            continue
        items = spool.load_quarantine(writer)
        kept = []
        away: RequestFailed | None = None
        for done, (entry, reason) in enumerate(items):
            try:
                refused = _deliver(client, result.run_id, spool.read(entry), tries=1, backoff=backoff)
            except RequestFailed as exc:
                kept += items[done:]  # the server went away: the rest stays as it was
                away = exc
                break
            if refused is None:
                result.retried += 1
                result.retried_points += entry.points
                continue
            exc, _ = refused
            kept.append((entry, quarantine.reason_of(exc, int(reason.get("tries") or 0) + 1)))
            result.still_refused.append(Refused(writer, entry.seq, entry.points, str(exc)))
        spool.keep_quarantined(writer, kept)
        spool.release(writer)
        if away is not None:
            raise away
