"""The uploads spool: media and checkpoints waiting for the server, one per description
file in ``<run dir>/uploads/``, and how one is sent, set aside or removed.

A media item's description holds its body; a checkpoint's names its file beside it.
Set-aside items (``tracker.quarantine``) move to ``uploads/quarantine/`` with the server's
answer. The uploader thread (``tracker.uploader``) and ``tracker sync`` both work on
these files. Also: raw HTTP on an ``HttpClient``'s connection, for streamed files.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from tracker import _json
from tracker.spool import read_json, write_json
from tracker.transport import USER_AGENT, HttpClient, RequestFailed, run_path

_CHUNK = 1024 * 1024


def new_uid() -> str:
    return uuid.uuid4().hex


def stamp() -> str:
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


# -- spooled items ---------------------------------------------------------------------


@dataclass(eq=False)
class Item:
    """One spooled upload waiting for the server (compared by identity): its description
    file in ``uploads/``, and the set-aside bookkeeping ``quarantine.Rules`` keeps."""

    path: Path
    tries: int = 0
    ok_mark: int = -1
    not_before: float = 0.0


def send(client: HttpClient, run_id: int, meta_path: Path, timeout: float | None = None) -> None:
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


def probe(client: HttpClient, run_id: int, timeout: float | None = None) -> None:
    """A request other than the refused upload, with no side effect (reads the run):
    its answer says whether the server works."""
    client.request("GET", run_path(run_id), timeout=timeout)


def remove(meta_path: Path) -> None:
    meta = read_json(meta_path)
    if isinstance(meta, dict) and meta.get("file"):
        meta_path.with_name(meta["file"]).unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def set_aside(meta_path: Path, reason: dict[str, Any]) -> Path:
    """Move a spooled upload (description and file) to ``quarantine/`` beside it, with
    the server's answer; returns its new description file. Written before the old one
    goes, so a crash in between leaves it in one place or both, never in none."""
    folder = meta_path.parent if meta_path.parent.name == "quarantine" else meta_path.parent / "quarantine"
    folder.mkdir(exist_ok=True)
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise OSError(f"{meta_path} is not a spooled upload")
    target = folder / meta_path.name
    write_json(target, {**meta, "reason": reason})
    if target != meta_path:
        if meta.get("file"):
            os.replace(meta_path.with_name(meta["file"]), folder / meta["file"])
        meta_path.unlink()
    return target


def pending_uploads(directory: Path) -> list[Path]:
    folder = Path(directory) / "uploads"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def set_aside_uploads(directory: Path) -> list[Path]:
    folder = Path(directory) / "uploads" / "quarantine"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
