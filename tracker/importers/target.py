"""The server side of an import: find or create the run, send points, media and the end.

Idempotency rides on what the SDK already has. Points travel as ordinary batches
(``POST /runs/{id}/batches``) that the server stores once per (run, writer, seq). An
importer names one writer per source file (or series) and numbers each batch with the
offset where it ends in that file, so the server's receipts (``GET /runs/{id}/receipts``)
say how far each file was imported: a re-import, or ``--follow`` on a growing file,
resumes there and sends each point once. Media items carry uids derived from the same
offsets (the server stores each uid once). The run itself is found again by a tag naming
its source (``tensorboard:...``, ``mlflow:<run id>``, ``wandb:<run id>``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker import quarantine
from tracker._env import server_and_key
from tracker.backoff import Backoff
from tracker.importers.report import Report
from tracker.sync import probe
from tracker.transport import HttpClient, RequestFailed, TrackerError, project_path, run_path
from tracker.values import MAX_KEY_LENGTH, NUL, encode_float

MAX_ROWS = 5_000  # rows per batch: well under the server's TRACKER_MAX_BATCH_ROWS
MAX_POINTS = 20_000  # points per batch (W&B rows hold many keys): a few MB of JSON at most
MAX_MEDIA = 200  # media items per request (the server takes up to 1000)
MAX_TAG = 100  # the server's default TRACKER_MAX_TAG_LENGTH
MAX_NAME = 200
_ATTEMPTS = 6

Row = list  # [step, wall_time, {key: value}]
# A span of a source file: (offset where it ends, its rows, its media items).
Span = tuple[int, list[Row], list[dict[str, Any]]]


def connect(server: str | None, api_key: str | None) -> HttpClient:
    """A client for ``--server`` / ``--api-key`` or ``TRACKER_SERVER`` / ``TRACKER_API_KEY``."""
    server, api_key = server_and_key(server, api_key, who="tracker import")
    return HttpClient(server, api_key, timeout=60.0)


def digest(*parts: str, length: int = 24) -> str:
    """A short stable hex name for ``parts`` (writer ids, identity tags)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def project_name(raw: str) -> str:
    """A name the server takes as a project: printable, no '/', at most 100 characters."""
    name = "".join(ch if ch.isprintable() else " " for ch in raw).replace("/", "-").strip()[:100].strip()
    return name if name not in ("", ".", "..") else "imported"


def clean_text(raw: str, limit: int) -> str:
    return raw.replace(NUL, "\ufffd")[:limit]


def usable_key(key: str) -> bool:
    """Whether the server takes ``key`` as a metric name."""
    return bool(key) and len(key) <= MAX_KEY_LENGTH and key.isprintable()


def wire_value(value: float) -> float | str:
    """A float as a batch carries it (NaN and ±inf as their strings)."""
    return encode_float(float(value))


@dataclass
class SourceRun:
    """What an importer knows about one source run before sending its data."""

    identity: str  # a tag naming the source run: how a re-import finds it again
    project: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    tags: list[str] = field(default_factory=list)
    started_at: float | None = None
    git_commit: str = ""
    host: str = ""


def storable(value: Any) -> Any:
    """A config / summary value the server stores: JSON has no NaN or infinity (they
    become the strings the API uses for them) and PostgreSQL no NUL."""
    if isinstance(value, float):
        return value if math.isfinite(value) else encode_float(value)
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


class Target:
    """One imported run on the server; counts what it sends into ``report``."""

    def __init__(self, client: HttpClient, source: SourceRun, report: Report, *, backoff: float = 0.5):
        self.client = client
        source.config = storable(source.config)
        self.source = source
        self.report = report
        self.backoff = backoff
        self.run: dict[str, Any] = {}
        self.cursors: dict[str, int] = {}
        self.created = False
        self.changed = False
        self._summary_sent: dict[str, Any] = {}

    @property
    def id(self) -> int:
        return int(self.run["id"])

    # -- the run --------------------------------------------------------------------

    def _find(self) -> dict[str, Any] | None:
        """The run an earlier import made from this source (the oldest, if several)."""
        known = self.report.known_runs.get(self.source.project)
        if known is None:  # one listing per project and import, not one per run
            try:
                runs = self.client.request("GET", project_path(self.source.project))["runs"]
            except RequestFailed as exc:
                if exc.status != 404:
                    raise
                runs = []
            known = self.report.known_runs[self.source.project] = {}
            for run in sorted(runs, key=lambda run: -run["id"]):
                for tag in run.get("tags") or []:
                    known[tag] = run
        return known.get(self.source.identity)

    def _tags(self) -> list[str]:
        tags = [self.source.identity]
        for tag in self.source.tags:
            if len(tag) > MAX_TAG or NUL in tag:
                self.report.skip(f"tags longer than {MAX_TAG} characters (not a run tag)")
            elif tag not in tags:
                tags.append(tag)
        if len(tags) > 100:
            self.report.skip("tags beyond the server's 100 per run", len(tags) - 100)
        return tags[:100]

    def open(self) -> None:
        """Find the run this source was imported to before, or create it; resume it when
        the source's config or tags changed since. Learns how far each writer got."""
        source = self.source
        found = self._find()
        body: dict[str, Any] = {
            "project": source.project,
            "name": clean_text(source.name, MAX_NAME),
            "group": clean_text(source.group, MAX_NAME),
            "tags": self._tags(),
            "config": source.config,
        }
        if source.started_at is not None:
            body["started_at"] = max(0.0, float(source.started_at))
        if source.git_commit:
            body["git_commit"] = source.git_commit[:64]
        if source.host:
            body["host"] = source.host[:255]
        if found is None:
            self.run = self._post("/api/v1/runs", body)
            self.created = self.changed = True
            self.report.known_runs.setdefault(source.project, {})[source.identity] = self.run
        else:
            self.run = found
            stale_config = any(
                key not in found["config"] or not _same(found["config"][key], value)
                for key, value in source.config.items()
            )
            if stale_config or not set(body["tags"]) <= set(found["tags"]):
                self.run = self._post("/api/v1/runs", {**body, "id": found["id"]})
                self.changed = True
        if self.run.get("url") and self.run["url"] not in self.report.run_urls:
            self.report.run_urls.append(self.run["url"])
        receipts = self.client.request("GET", run_path(self.id, "receipts"))["writers"]
        self.cursors = {writer: int(item["last_seq"]) for writer, item in receipts.items()}

    def _post(self, path: str, body: Any) -> Any:
        pauses = Backoff.blocking(self.backoff)
        for attempt in range(_ATTEMPTS):
            try:
                return self.client.request("POST", path, body)
            except RequestFailed as exc:
                if not exc.retryable or attempt == _ATTEMPTS - 1:
                    raise
                pauses.sleep(exc.retry_after)
        raise AssertionError("unreachable")

    # -- points ---------------------------------------------------------------------

    def cursor(self, writer: str) -> int:
        """Where this writer's batches stored so far end (0: nothing stored yet)."""
        return self.cursors.get(writer, 0)

    def send(self, writer: str, seq: int, rows: Sequence[Row], summary: dict[str, Any] | None = None) -> None:
        """Send the rows of one source span ending at offset ``seq`` (unless an earlier
        import stored it: then they count as already there)."""
        points = sum(len(row[2]) for row in rows)
        if seq <= self.cursor(writer):
            self.report.points_present += points
            return
        body: dict[str, Any] = {"writer": writer, "seq": seq, "rank": 0, "rows": list(rows)}
        if summary:
            body["summary"] = summary
        answers: list[Any] = []
        refused = quarantine.deliver(
            lambda: answers.append(self.client.request("POST", run_path(self.id, "batches"), body)),
            lambda: probe(self.client, self.id),
            tries=3,
            backoff=Backoff.blocking(self.backoff),
            attempts=_ATTEMPTS,
        )
        if refused is not None:
            exc, _ = refused
            self.report.skip(f"points the server refused ({exc})", points)
            return
        self.cursors[writer] = seq
        answer = answers[-1] if answers else {}
        if answer.get("duplicate"):
            self.report.points_present += points
        else:
            self.report.points_stored += int(answer.get("stored") or 0)
            self.changed = True

    def send_spans(
        self, writer: str, spans: Iterable[Span], on_batch: Callable[[], None] | None = None
    ) -> None:
        """Send one source file's spans (end offset, rows, media items) in file order.
        Spans an earlier import stored (ending at or before the writer's cursor) count as
        already there; the rest go out as batches of up to ``MAX_ROWS`` rows, each
        numbered by the end offset of its last span (a span is never split), media first (a batch stored means
        its media are stored too)."""
        cursor = self.cursor(writer)
        rows: list[Row] = []
        media: list[dict[str, Any]] = []
        end = points = 0
        for end, span_rows, span_media in spans:
            if end <= cursor:
                self.report.points_present += sum(len(row[2]) for row in span_rows)
                self.report.media_present += len(span_media)
                continue
            rows.extend(span_rows)
            media.extend(span_media)
            points += sum(len(row[2]) for row in span_rows)
            if len(rows) >= MAX_ROWS or points >= MAX_POINTS or len(media) >= MAX_MEDIA:
                self._flush(writer, end, rows, media)
                rows, media, points = [], [], 0
                if on_batch:
                    on_batch()
        if rows or media:
            self._flush(writer, end, rows, media)
            if on_batch:
                on_batch()

    def _flush(self, writer: str, end: int, rows: list[Row], media: list[dict[str, Any]]) -> None:
        if media:
            self.media(media)
        if rows:
            self.send(writer, end, rows)

    # -- media ----------------------------------------------------------------------

    def media(self, items: list[dict[str, Any]]) -> None:
        """Store media items (``uid`` derived from the source, so each is stored once)."""
        for start in range(0, len(items), MAX_MEDIA):
            chunk = items[start : start + MAX_MEDIA]
            try:
                answer = self._post(run_path(self.id, "media"), {"items": chunk})
            except RequestFailed as exc:
                if exc.retryable:
                    raise
                self.report.skip(f"media items the server refused ({exc})", len(chunk))
                continue
            self.report.media_stored += int(answer.get("stored") or 0)
            self.report.media_present += int(answer.get("duplicates") or 0)
            if answer.get("stored"):
                self.changed = True

    # -- the end --------------------------------------------------------------------

    def heartbeat(self) -> None:
        self._post(run_path(self.id, "heartbeat"), {"dropped": 0})

    def finish(
        self,
        status: str | None,
        *,
        finished_at: float | None = None,
        summary: dict[str, Any] | None = None,
        error: str = "",
        exit_code: int | None = None,
    ) -> None:
        """Record the source's end (``status`` "finished" or "failed"), or only its
        summary while the source run is still going (``status`` None)."""
        summary = storable(summary or {})
        if status is None:
            stored = self.run.get("summary") or {}
            if any(not _same(stored.get(k), v) for k, v in summary.items()) and summary != self._summary_sent:
                # A source still running: the summary rides on an empty batch of its own
                # writer, numbered by the clock (a later summary must never look stored).
                writer = "imp-" + digest(self.source.identity, "summary")
                self.send(writer, max(time.time_ns() // 1000, self.cursor(writer) + 1), [], summary)
                self._summary_sent = dict(summary)
            return
        body: dict[str, Any] = {"status": status, "summary": summary}
        if finished_at is not None:
            body["finished_at"] = max(0.0, float(finished_at))
        if error:
            body["error"] = error
        if exit_code is not None:
            body["exit_code"] = exit_code
        if not self.changed and self._ended_as(body):
            return
        self.run = self._post(run_path(self.id, "finish"), body)
        self.changed = True

    def _ended_as(self, body: dict[str, Any]) -> bool:
        """Whether the stored run already ended the way the source did."""
        run = self.run
        if run.get("status") != body["status"] or not run.get("finished_at"):
            return False
        stored = run.get("summary") or {}
        return all(k in stored and _same(stored[k], v) for k, v in body["summary"].items())

    def count_run(self) -> None:
        """Count the run (and its params as stored) in the report once its import is done."""
        stored = self.run.get("config") or {}
        self.report.params_read += len(self.source.config)
        self.report.params_stored += sum(
            1 for key, value in self.source.config.items() if key in stored and _same(stored[key], value)
        )
        if self.created:
            self.report.runs_created += 1
        elif self.changed:
            self.report.runs_updated += 1
        else:
            self.report.runs_unchanged += 1


def fail_run(report: Report, what: str, exc: Exception) -> None:
    """Count a run that could not be imported (the others go on)."""
    hint = " (nothing is lost: run the same command later)" if isinstance(exc, RequestFailed) else ""
    report.failed.append(f"{what}: {exc}{hint}")


__all__ = ["Report", "SourceRun", "Target", "TrackerError", "connect", "digest", "fail_run"]
