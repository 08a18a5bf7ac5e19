"""``python -m tracker import wandb DIR``: W&B run folders (``wandb/run-*``, ``wandb/offline-run-*``).

Everything comes from the run's transaction log (``run-<id>.wandb``), decoded with the
``wandb`` package's own record type (``wandb.proto.wandb_internal_pb2.Record``):
config, summary, every history row (numbers as points, strings as text,
``wandb.Histogram`` as histograms), system metrics (``sys/<name>`` at the last history
step seen, as our own sampler logs them), the run's name, group, tags, notes, start
time and exit code.

wandb 0.31 writes and reads these logs in its Go core and ships no Python reader any
more (``wandb.sdk.internal.datastore`` is gone), so the framing, a LevelDB-style log of
32 KiB blocks after a 7-byte ``:W&B`` header, is read here; each record's bytes are
parsed by wandb's protobuf.

Idempotent: one writer per ``.wandb`` file, batches numbered by the byte offset where
their last record ends. A W&B run resumed in a later folder goes to the same run
(found again by its W&B id).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker.importers.report import Progress, Report
from tracker.importers.target import (
    Row,
    SourceRun,
    Target,
    connect,
    digest,
    fail_run,
    project_name,
    usable_key,
    wire_value,
)
from tracker.transport import HttpClient, TrackerError
from tracker.values import MAX_TEXT_LENGTH

HEADER = b":W&B" + struct.pack("<HB", 0xBEE1, 0)
BLOCK = 32 * 1024
CHUNK_HEADER = 7  # crc32 (4), length (2), type (1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAX_BINS = 1000


class LogError(TrackerError):
    """A ``.wandb`` file that is not a W&B transaction log."""


def records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(end offset, record bytes) of each complete record of a ``.wandb`` log; a record
    cut short at the end (the run still writing) is left for the next read."""
    data = path.read_bytes()
    if not data.startswith(HEADER):
        raise LogError(f"{path} is not a W&B transaction log (no :W&B header)")
    pos, parts = len(HEADER), []
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < CHUNK_HEADER:
            pos += left_in_block  # the block's tail is padding
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        start, pos = pos + CHUNK_HEADER, pos + CHUNK_HEADER + length
        if pos > len(data) or kind not in (FULL, FIRST, MIDDLE, LAST):
            return  # cut short, or zeros not yet written over
        if kind in (FULL, FIRST):
            parts = []
        parts.append(data[start:pos])
        if kind in (FULL, LAST):
            yield pos, b"".join(parts)


def run_folders(directory: Path) -> list[Path]:
    """``directory`` if it is a run folder, else the run folders in it (or in its ``wandb/``)."""
    if any(directory.glob("run-*.wandb")):
        return [directory]
    for root in (directory, directory / "wandb"):
        found = sorted(
            child
            for child in root.glob("*run-*")
            if child.is_dir() and not child.is_symlink() and any(child.glob("run-*.wandb"))
        )
        if found:
            return found
    return []


def _value(item: Any) -> Any:
    """A history / summary / config item's value (typed fields, else its JSON)."""
    which = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    if which == "none":
        return None
    if which in ("boolean", "integer", "number", "text"):
        return getattr(item, which)
    raw = item.json if which == "json" else item.value_json
    return json.loads(raw) if raw else None


def _path(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _put(target: dict[str, Any], item: Any) -> None:
    """Set an item at its (nested) key: wandb splits a dict value into one item per leaf
    (``hist._type``, ``hist.bins``, ...)."""
    *parents, last = _path(item)
    for name in parents:
        child = target.get(name)
        if not isinstance(child, dict):
            child = target[name] = {}
        target = child
    target[last] = _value(item)


def _drop(target: dict[str, Any], item: Any) -> None:
    *parents, last = _path(item)
    for name in parents:
        target = target.get(name)
        if not isinstance(target, dict):
            return
    target.pop(last, None)


def _leaves(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """History values by flat key ("a.b" for nested dicts); a dict with a ``_type`` (a
    wandb media object) is one value."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and "_type" not in value:
            yield from _leaves(value, f"{name}.")
        else:
            yield name, value


def _timestamp(ts: Any) -> float | None:
    return ts.seconds + ts.nanos / 1e9 if ts.seconds or ts.nanos else None


def _histogram(value: dict[str, Any]) -> dict[str, Any] | None:
    """``wandb.Histogram`` ({"bins": edges, "values": counts}) as our histogram data."""
    edges, counts = value.get("bins"), value.get("values")
    if not isinstance(edges, list) or not isinstance(counts, list) or len(edges) != len(counts) + 1:
        return None
    try:
        edges, counts = [float(e) for e in edges], [float(c) for c in counts]
    except (TypeError, ValueError):
        return None
    if not counts or not all(math.isfinite(x) for x in edges + counts):
        return None
    if len(counts) > MAX_BINS:
        factor = math.ceil(len(counts) / MAX_BINS)
        counts = [sum(counts[i : i + factor]) for i in range(0, len(counts), factor)]
        edges = edges[::factor] + ([edges[-1]] if (len(edges) - 1) % factor else [])
    return {"edges": edges, "counts": counts, "nonfinite": 0}


@dataclass
class RunLog:
    """What one run folder's log says, read whole (a re-import re-reads it and resumes
    sending at the server's cursor)."""

    folder: Path
    path: Path
    run_id: str = ""
    project: str = ""
    name: str = ""
    group: str = ""
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    host: str = ""
    git_commit: str = ""
    started_at: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    runtime: float | None = None
    last_wall: float | None = None
    spans: list[tuple[int, list[Row], list[dict]]] = field(default_factory=list)


class WandbImport:
    def __init__(self, client: HttpClient, report: Report, *, project: str | None, progress: bool):
        self.client = client
        self.report = report
        self.project = project
        self.progress = Progress("importing") if progress else None

    def read(self, folder: Path) -> RunLog:
        from wandb.proto import wandb_internal_pb2

        path = sorted(folder.glob("run-*.wandb"))[0]
        log = RunLog(folder, path)
        self.report.files_read += 1
        writer = "wb-" + digest(folder.name, path.name, length=40)
        step = 0  # the last history step: system metrics are logged at it
        for end, raw in records(path):
            record = wandb_internal_pb2.Record.FromString(raw)
            kind = record.WhichOneof("record_type")
            rows: list[Row] = []
            media: list[dict] = []
            if kind == "run":
                self._run_record(log, record.run)
            elif kind == "config":
                self._config(log.config, record.config)
            elif kind == "summary":
                for item in record.summary.update:
                    _put(log.summary, item)
                for item in record.summary.remove:
                    _drop(log.summary, item)
            elif kind == "history":
                step = self._history(log, record.history, writer, end, rows, media, step)
            elif kind == "stats":
                self._stats(log, record.stats, step, rows)
            elif kind == "exit":
                log.exit_code, log.runtime = record.exit.exit_code, record.exit.runtime
            elif kind in ("output", "output_raw"):
                self.report.skip("console output records (not imported)")
            elif kind in ("artifact", "use_artifact"):
                self.report.skip("artifact records (artifacts are not copied)")
            log.spans.append((end, rows, media))
        return log

    def _run_record(self, log: RunLog, run: Any) -> None:
        log.run_id, log.project = run.run_id, run.project
        log.name, log.group, log.notes = run.display_name, run.run_group, run.notes
        log.tags, log.host = list(run.tags), run.host
        log.git_commit = run.git.commit if run.HasField("git") else ""
        log.started_at = _timestamp(run.start_time) or log.started_at
        self._config(log.config, run.config)
        for item in run.summary.update:
            _put(log.summary, item)

    @staticmethod
    def _config(config: dict[str, Any], record: Any) -> None:
        for item in record.update:
            if _path(item)[0] != "_wandb":  # wandb's own bookkeeping, not the user's config
                _put(config, item)
        for item in record.remove:
            _drop(config, item)

    def _history(
        self, log: RunLog, history: Any, writer: str, end: int, rows: list, media: list, step: int
    ) -> int:
        values: dict[str, Any] = {}
        for item in history.item:
            _put(values, item)
        row_step = history.step.num if history.HasField("step") else values.get("_step", step)
        row_step = int(row_step) if isinstance(row_step, int | float) else step
        wall = values.get("_timestamp")
        if not isinstance(wall, int | float):
            runtime = values.get("_runtime")
            wall = (log.started_at or 0.0) + (runtime if isinstance(runtime, int | float) else 0.0)
        log.last_wall = max(log.last_wall or wall, wall)
        points: dict[str, Any] = {}
        for index, (key, value) in enumerate(_leaves(values)):
            if key.startswith("_"):
                continue  # _step, _runtime, _timestamp: the row's own coordinates
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, int | float):
                self.report.points_read += 1
                if not usable_key(key):
                    self.report.skip("points of keys that are not usable metric names")
                elif row_step < 0:
                    self.report.skip("points at a negative step (steps start at 0)")
                else:
                    points[key] = wire_value(value)
                continue
            item = self._media(key, value, row_step)
            if item is None:
                label = value.get("_type", "object") if isinstance(value, dict) else type(value).__name__
                self.report.skip(f"history values of type {label} (not imported)")
                continue
            self.report.media_read += 1
            item["uid"] = f"{writer[:40]}.{end}.{index}"
            media.append(item)
        if points:
            rows.append([row_step, float(wall), points])
        return max(step, row_step)

    def _media(self, key: str, value: Any, step: int) -> dict[str, Any] | None:
        name = "".join(ch if ch.isprintable() else " " for ch in key)[:200]
        if not name or step < 0:
            return None
        if isinstance(value, str):
            if len(value) > MAX_TEXT_LENGTH:
                self.report.skip(f"text values cut to their first {MAX_TEXT_LENGTH} characters")
            return {"kind": "text", "name": name, "step": step, "data": {"value": value[:MAX_TEXT_LENGTH]}}
        if isinstance(value, dict) and value.get("_type") == "histogram":
            data = _histogram(value)
            return None if data is None else {"kind": "histogram", "name": name, "step": step, "data": data}
        return None

    def _stats(self, log: RunLog, stats: Any, step: int, rows: list) -> None:
        wall = _timestamp(stats.timestamp) or log.last_wall or log.started_at or 0.0
        points = {}
        for item in stats.item:
            try:
                value = json.loads(item.value_json)
            except ValueError:
                value = None
            self.report.points_read += 1
            key = f"sys/{item.key}"
            if isinstance(value, int | float) and not isinstance(value, bool) and usable_key(key):
                points[key] = wire_value(value)
            else:
                self.report.skip("system metrics that are not numbers")
        if points:
            rows.append([step, wall, points])

    def send(self, log: RunLog) -> None:
        self.report.runs_read += 1
        if not log.run_id:
            raise LogError(f"{log.path} holds no run record (not a finished write?)")
        source = SourceRun(
            identity=f"wandb:{log.run_id}"[:100],
            project=project_name(self.project or log.project or "wandb"),
            name=log.name or log.run_id,
            config=log.config,
            group=log.group,
            tags=["wandb", *log.tags],
            started_at=log.started_at,
            git_commit=log.git_commit,
            host=log.host,
        )
        target = Target(self.client, source, self.report)
        target.open()
        if log.notes:
            self.report.media_read += 1
            uid = "wb-" + digest(log.run_id, "notes", length=40)
            target.media(
                [{"uid": uid, "kind": "text", "name": "notes", "step": 0, "data": {"value": log.notes}}]
            )
        writer = "wb-" + digest(log.folder.name, log.path.name, length=40)
        refused = sum(self.report.skipped.values())
        target.send_spans(
            writer, log.spans, lambda: self.progress.add(note=source.name) if self.progress else None
        )
        if sum(self.report.skipped.values()) == refused:
            self.report.files_stored += 1
        summary = {k: v for k, v in log.summary.items() if not k.startswith("_")}
        summary = {
            k: wire_value(v) if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in summary.items()
        }
        if log.exit_code is None:
            self.report.skip("runs without an exit record (still running or killed; kept running here)")
            target.finish(None, summary=summary)
        else:
            # The exit record's runtime is whole seconds: the last row may be later.
            ends = [log.started_at + (log.runtime or 0.0)] if log.started_at else []
            ended = max([*ends, *([log.last_wall] if log.last_wall else [])], default=None)
            status = "finished" if log.exit_code == 0 else "failed"
            target.finish(status, finished_at=ended, summary=summary, exit_code=log.exit_code)
        target.count_run()


def import_wandb(
    directory: str | Path,
    *,
    project: str | None = None,
    server: str | None = None,
    api_key: str | None = None,
    progress: bool = True,
) -> Report:
    """Import every W&B run folder in ``directory`` (a ``wandb`` folder, its parent, or
    one run folder)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TrackerError(f"{directory} is not a directory")
    folders = run_folders(directory)
    if not folders:
        raise TrackerError(
            f"{directory} holds no W&B run folders (run-*/ or offline-run-*/ with a .wandb file)"
        )
    client = connect(server, api_key)
    report = Report("wandb", str(directory))
    job = WandbImport(client, report, project=project, progress=progress)
    if job.progress:
        job.progress.add(total=len(folders))
    try:
        for folder in folders:
            try:
                job.send(job.read(folder))
            except (TrackerError, OSError, ValueError) as exc:
                fail_run(report, f"W&B run folder {folder}", exc)
            if job.progress:
                job.progress.add(1, note=folder.name)
    finally:
        if job.progress:
            job.progress.close()
        client.close()
    return report
