"""HTTP to the tracker server: keep-alive, TCP_NODELAY, gzip for big bodies, typed errors.

Standard library only (``http.client``). One ``HttpClient`` is one connection and is not
thread-safe: the sender thread owns one, and calls from the training thread (create,
finish) use their own.
"""

from __future__ import annotations

import copy
import gzip
import http.client
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from tracker import _json

USER_AGENT = "tracker-sdk/0.1"


class TrackerError(Exception):
    """Base class of the SDK's errors (bad configuration, refused requests)."""


@dataclass
class RequestFailed(TrackerError):
    """A request that did not succeed. ``status`` is None when no HTTP answer came back.

    ``retryable`` is the sender's policy: the connection failed, the server is
    overloaded or broken (429, 5xx); the same bytes may succeed later. Anything else is
    an answer about the request itself and resending it cannot help.
    """

    status: int | None
    message: str
    field: str | None = None
    retry_after: float | None = None

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        code = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{code}{self.message}{where}"

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class _Connection(http.client.HTTPConnection):
    """Disables Nagle: http.client writes headers and body separately, and with Nagle on
    a kept-alive connection the body waits for the server's delayed ACK (~40 ms)."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class HttpClient:
    """JSON requests to one server with one API key over one kept-alive connection."""

    def __init__(self, server: str, api_key: str, *, timeout: float = 10.0, gzip_min_bytes: int = 65536):
        parts = urlsplit(server.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TrackerError(f"tracker server {server!r} is not an http(s):// URL")
        self.server = server.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._timeout = timeout
        self._gzip_min_bytes = gzip_min_bytes
        self._auth = f"Bearer {api_key}"
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        if self._conn is not None:
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
                return self._conn, True
        cls = _TLSConnection if self._scheme == "https" else _Connection
        self._conn = cls(self._host, self._port, timeout=timeout)
        return self._conn, False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def for_child(self) -> HttpClient:
        """A client for a forked child: same server and key, its own connection."""
        fresh = copy.copy(self)
        fresh._conn = None
        return fresh

    def request(self, method: str, path: str, body: Any = None, *, timeout: float | None = None) -> Any:
        """Send one request and return the decoded JSON answer; raise ``RequestFailed``.

        ``body`` may be pre-encoded bytes (spooled batches are sent as written). A request
        that fails on a connection reused from an earlier request is retried once on a
        fresh one: servers close idle keep-alive connections, and every write here is
        idempotent or deduplicated by the server.
        """
        data = body if body is None or isinstance(body, bytes) else _json.dumps(body)
        headers = {"Authorization": self._auth, "User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
            if len(data) >= self._gzip_min_bytes:
                data = gzip.compress(data, compresslevel=5)
                headers["Content-Encoding"] = "gzip"
        url = self._base + path
        timeout = self._timeout if timeout is None else max(0.05, timeout)
        for attempt in (0, 1):
            conn, reused = self._connection(timeout)
            try:
                conn.request(method, url, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                    continue
                raise RequestFailed(None, f"cannot reach {self.server}: {exc or type(exc).__name__}") from exc
            if response.will_close:
                self.close()
            return self._answer(response, payload)
        raise AssertionError("unreachable")

    def _answer(self, response: http.client.HTTPResponse, payload: bytes) -> Any:
        status = response.status
        try:
            decoded = _json.loads(payload) if payload else None
        except ValueError:
            decoded = None
        if 200 <= status < 300:
            if decoded is None and payload:
                raise RequestFailed(status, "the server's answer is not JSON")
            return decoded
        message, field = f"{response.reason or 'error'}", None
        if isinstance(decoded, dict):
            message = str(decoded.get("error") or decoded.get("detail") or message)
            field = decoded.get("field")
        elif payload:
            message = payload[:200].decode("utf-8", "replace").strip() or message
        raise RequestFailed(status, message, field, _retry_after(response.getheader("Retry-After")))


def run_path(run_id: int, action: str = "") -> str:
    """``/api/v1/runs/{id}[/action]``."""
    return f"/api/v1/runs/{int(run_id)}" + (f"/{action}" if action else "")


def project_path(name: str) -> str:
    return f"/api/v1/projects/{quote(name, safe='')}/runs"
