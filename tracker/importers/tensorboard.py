"""``python -m tracker import tensorboard LOGDIR``: TensorBoard event files, every point.

Read with the ``tensorboard`` package's low-level record reader
(``event_file_loader.RawEventFileLoader``, no TensorFlow needed), never with
``EventAccumulator``, whose scalars are a reservoir sample (10,000 per tag by default).

- One run per run folder (a folder holding ``*tfevents*`` files), named by its path
  under LOGDIR. The folder that ``SummaryWriter.add_hparams`` writes inside a run
  folder belongs to that run.
- Scalars in both forms: ``simple_value`` (PyTorch, tensorboardX, TF1) and the tensor
  form of TF2's ``tf.summary.scalar`` (plugin "scalars"), at the event's step and
  wall time.
- Histograms (``histo`` and TF2's ``[k, 3]`` tensors) become "histogram" media, text
  (plugin "text") "text" media, ``add_hparams`` the run's config (its hyperparameters)
  and summary (the last value of each hparams metric).
- Idempotent: one writer per event file, each batch numbered by the byte offset where
  its last event ends, so the server's receipts say where a re-import (or ``--follow``
  on a growing file) resumes; media uids are derived from the same offsets.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
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
    storable,
    usable_key,
    wire_value,
)
from tracker.transport import HttpClient, TrackerError
from tracker.values import MAX_TEXT_LENGTH

MAX_BINS = 1000  # the server's histogram limit: finer histograms are merged down
RECORD_OVERHEAD = 16  # a TFRecord: length (8), its crc (4), data, the data's crc (4)


def is_event_file(path: Path) -> bool:
    return path.is_file() and "tfevents" in path.name


def run_folders(logdir: Path) -> list[Path]:
    """Every folder under ``logdir`` (itself included) holding event files."""
    found = []
    for folder, _, files in os.walk(logdir, followlinks=True):
        if any("tfevents" in name for name in files):
            found.append(Path(folder))
    return sorted(found)


@dataclass
class EventFile:
    """One event file being read: where reading got to, and its tags' plugins (TF2
    writes a tag's metadata only with its first value)."""

    path: Path
    writer: str
    loader: Any = None
    offset: int = 0
    plugins: dict[str, str] = field(default_factory=dict)
    whole: bool | None = None  # every point and media item read so far is on the server

    def read(self) -> Iterator[tuple[int, int, Any]]:
        """(start offset, end offset, Event) of each record not read yet."""
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto import event_pb2

        if self.loader is None:
            self.loader = RawEventFileLoader(str(self.path))
        for record in self.loader.Load():
            start = self.offset
            self.offset += len(record) + RECORD_OVERHEAD
            yield start, self.offset, event_pb2.Event.FromString(record)


def _is_hparams_folder(folder: Path) -> bool:
    """Whether ``folder``'s events carry ``add_hparams`` session data (PyTorch writes
    them into a sub-folder of the run)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    for path in sorted(folder.iterdir()):
        if not is_event_file(path):
            continue
        for record in RawEventFileLoader(str(path)).Load():
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    return True
    return False


def _histogram(value: Any) -> dict[str, Any] | None:
    """A TensorBoard histogram as our "histogram" media data (edges and counts), or
    None when it holds no values. The outer edges are the data's min and max (the
    ``histo`` form's outermost limits are ±DBL_MAX)."""
    if value.HasField("histo"):
        histo = value.histo
        counts = list(histo.bucket)
        nonzero = [i for i, c in enumerate(counts) if c > 0]
        if not nonzero:
            return None
        start, end = nonzero[0], nonzero[-1]
        inner = list(histo.bucket_limit[start:end])
        edges = [histo.min, *inner, histo.max]
        counts = counts[start : end + 1]
    else:
        from tensorboard.util import tensor_util

        array = tensor_util.make_ndarray(value.tensor)
        if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
            return None
        edges = [float(array[0, 0]), *(float(x) for x in array[:, 1])]
        counts = [float(c) for c in array[:, 2]]
    edges = [float(e) for e in edges]
    for i in range(1, len(edges)):  # float32 rounding can put an edge a hair behind
        edges[i] = max(edges[i], edges[i - 1])
    if len(counts) > MAX_BINS:
        factor = math.ceil(len(counts) / MAX_BINS)
        counts = [sum(counts[i : i + factor]) for i in range(0, len(counts), factor)]
        edges = edges[::factor] + ([edges[-1]] if (len(edges) - 1) % factor else [])
    if not all(math.isfinite(x) for x in edges + counts):
        return None
    return {"edges": edges, "counts": counts, "nonfinite": 0}


def _text(value: Any) -> str:
    from tensorboard.util import tensor_util

    array = tensor_util.make_ndarray(value.tensor)

    def decode(item: Any) -> str:
        return item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)

    if array.ndim == 0:
        return decode(array.item())
    if array.ndim == 1:
        return "\n".join(decode(x) for x in array)
    return "\n".join("\t".join(decode(x) for x in row) for row in array.reshape(array.shape[0], -1))


def _scalar(value: Any) -> float:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    from tensorboard.util import tensor_util

    return float(tensor_util.make_ndarray(value.tensor).reshape(-1)[0])


@dataclass
class RunState:
    """One run folder (and its hparams sub-folder) on its way to the server."""

    folder: Path
    name: str
    target: Target | None = None
    files: dict[Path, EventFile] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)
    metric_tags: set[str] = field(default_factory=set)
    last: dict[str, float] = field(default_factory=dict)  # tag -> last scalar value
    first_wall: float | None = None
    last_wall: float | None = None
    failed: bool = False

    def folders(self, extra: list[Path]) -> list[Path]:
        return [self.folder, *extra]


class TensorBoardImport:
    """Import every run folder under ``logdir``; ``poll()`` again picks up what was
    appended since (``--follow``)."""

    def __init__(self, logdir: Path, client: HttpClient, *, project: str | None, progress: bool = True):
        self.logdir = logdir
        self.client = client
        self.project = project_name(project or logdir.resolve().name)
        self.report = Report("tensorboard", str(logdir))
        self.runs: dict[Path, RunState] = {}
        self.merged: dict[Path, Path] = {}  # hparams sub-folder -> its run folder
        self.progress = Progress("importing", stream=None) if progress else None

    # -- discovery ------------------------------------------------------------------

    def _discover(self) -> None:
        folders = run_folders(self.logdir)
        known = set(folders)
        for folder in folders:
            if folder in self.runs or folder in self.merged:
                continue
            if folder.parent in known and folder != self.logdir and _is_hparams_folder(folder):
                self.merged[folder] = folder.parent
                continue
            relative = folder.relative_to(self.logdir).as_posix()
            name = self.logdir.resolve().name if relative == "." else relative
            self.runs[folder] = RunState(folder, name)
        for state in self.runs.values():
            extra = [sub for sub, parent in self.merged.items() if parent == state.folder]
            for folder in state.folders(extra):
                for path in sorted(folder.iterdir()):
                    if is_event_file(path) and path not in state.files:
                        relative = path.relative_to(state.folder).as_posix()
                        writer = "tb-" + digest(self._identity(state), relative, length=40)
                        state.files[path] = EventFile(path, writer)
                        self.report.files_read += 1
                        if self.progress:
                            self.progress.add(total=path.stat().st_size)

    def _identity(self, state: RunState) -> str:
        return "tensorboard:" + digest(str(state.folder.resolve()), length=20)

    # -- reading --------------------------------------------------------------------

    def poll(self, *, final: bool) -> None:
        """Read what is new in every event file and send it; with ``final`` record each
        run's end, otherwise keep the runs running (a heartbeat)."""
        self._discover()
        for state in self.runs.values():
            if state.failed:
                continue
            try:
                self._poll_run(state, final=final)
            except (TrackerError, OSError) as exc:
                state.failed = True
                fail_run(self.report, f"run folder {state.folder}", exc)

    def _poll_run(self, state: RunState, *, final: bool) -> None:
        pending: list[tuple[EventFile, list[tuple[int, list[Row], list[dict]]]]] = []
        for event_file in state.files.values():
            spans = [
                self._span(state, event_file, start, end, event) for start, end, event in event_file.read()
            ]
            pending.append((event_file, spans))
        if state.target is None:
            source = SourceRun(
                identity=self._identity(state),
                project=self.project,
                name=state.name,
                config=dict(state.hparams),
                tags=["tensorboard"],
                started_at=state.first_wall,
            )
            state.target = Target(self.client, source, self.report)
            state.target.open()
            self.report.runs_read += 1
        elif state.hparams and storable(state.hparams) != state.target.source.config:
            state.target.source.config = storable(state.hparams)
            state.target.open()  # the hparams arrived while following: they become the config
        target = state.target
        for event_file, spans in pending:
            refused = sum(self.report.skipped.values())
            target.send_spans(event_file.writer, spans, self._batch_sent(target))
            if sum(self.report.skipped.values()) > refused:
                self.report.files_stored -= event_file.whole is True
                event_file.whole = False
            elif event_file.whole is None:
                event_file.whole = True
                self.report.files_stored += 1
        summary = {tag: state.last[tag] for tag in sorted(state.metric_tags) if tag in state.last}
        summary = {k: wire_value(v) if not math.isfinite(v) else v for k, v in summary.items()}
        if final:
            target.finish("finished", finished_at=state.last_wall, summary=summary)
            target.count_run()
        else:
            target.finish(None, summary=summary)
            target.heartbeat()

    def _batch_sent(self, target: Target) -> Callable[[], None]:
        return lambda: self.progress.add(note=target.source.name) if self.progress else None

    def _span(self, state: RunState, event_file: EventFile, start: int, end: int, event: Any) -> tuple:
        """One event as (end offset, rows, media items)."""
        if self.progress:
            self.progress.add(end - start)
        wall = float(event.wall_time)
        if state.first_wall is None or wall < state.first_wall:
            state.first_wall = wall
        state.last_wall = wall if state.last_wall is None else max(state.last_wall, wall)
        what = event.WhichOneof("what")
        if what in ("graph_def", "meta_graph_def", "tagged_run_metadata"):
            self.report.skip(f"{what.replace('_', ' ')} records (graphs are not imported)")
            return end, [], []
        if what != "summary":
            return end, [], []  # file_version, session_log, log_message: not data
        step = int(event.step)
        values: dict[str, Any] = {}
        media: list[dict] = []
        for index, value in enumerate(event.summary.value):
            tag = value.tag
            plugin = value.metadata.plugin_data.plugin_name
            if plugin:
                event_file.plugins[tag] = plugin
            plugin = event_file.plugins.get(tag, "")
            kind = value.WhichOneof("value")
            if plugin == "hparams":
                self._hparams(state, value)
                continue
            if step < 0:
                self.report.skip("values at a negative step (steps start at 0)")
                continue
            if kind == "simple_value" or (kind == "tensor" and plugin == "scalars"):
                self.report.points_read += 1
                if not usable_key(tag):
                    self.report.skip("points of tags that are not usable metric names")
                    continue
                number = _scalar(value)
                state.last[tag] = number
                values[tag] = wire_value(number)
            elif kind == "histo" or (kind == "tensor" and plugin == "histograms"):
                self.report.media_read += 1
                data = _histogram(value)
                if data is None:
                    self.report.skip("empty histograms (no values)")
                    self.report.media_read -= 1
                    continue
                media.append(self._item(event_file, end, index, "histogram", tag, step, data))
            elif kind == "tensor" and plugin == "text":
                self.report.media_read += 1
                text = _text(value)
                if len(text) > MAX_TEXT_LENGTH:
                    self.report.skip(f"text values cut to their first {MAX_TEXT_LENGTH} characters")
                    text = text[:MAX_TEXT_LENGTH]
                media.append(self._item(event_file, end, index, "text", tag, step, {"value": text}))
            else:
                label = plugin or kind or "unknown"
                self.report.skip(f"{label} values (not imported)")
        return end, ([[step, wall, values]] if values else []), media

    @staticmethod
    def _item(
        event_file: EventFile, end: int, index: int, kind: str, tag: str, step: int, data: dict
    ) -> dict:
        name = "".join(ch if ch.isprintable() else " " for ch in tag)[:200] or kind
        return {
            "uid": f"{event_file.writer[:40]}.{end}.{index}",
            "kind": kind,
            "name": name,
            "step": step,
            "data": data,
        }

    def _hparams(self, state: RunState, value: Any) -> None:
        from google.protobuf import json_format
        from tensorboard.plugins.hparams import plugin_data_pb2

        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
        which = data.WhichOneof("data")
        if which == "session_start_info":
            for name, item in data.session_start_info.hparams.items():
                state.hparams[name] = json_format.MessageToDict(item)
        elif which == "experiment":
            state.metric_tags |= {info.name.tag for info in data.experiment.metric_infos}

    def close(self) -> None:
        if self.progress:
            self.progress.close()


def import_tensorboard(
    logdir: str | Path,
    *,
    project: str | None = None,
    follow: bool = False,
    interval: float = 2.0,
    server: str | None = None,
    api_key: str | None = None,
    progress: bool = True,
) -> Report:
    """Import ``logdir``'s runs; with ``follow`` keep reading new events every
    ``interval`` seconds until interrupted (Ctrl-C or SIGTERM), then record the ends."""
    logdir = Path(logdir)
    if not logdir.is_dir():
        raise TrackerError(f"{logdir} is not a directory")
    if not run_folders(logdir):
        raise TrackerError(f"{logdir} holds no TensorBoard event files (*tfevents*)")
    client = connect(server, api_key)
    job = TensorBoardImport(logdir, client, project=project, progress=progress)
    try:
        if follow:
            with _stop_signals() as stop:
                while not stop.is_set():
                    job.poll(final=False)
                    stop.wait(interval)
        job.poll(final=True)
    finally:
        job.close()
        client.close()
    return job.report


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM end ``--follow`` between two reads, never in the middle of
    sending one (what was read is then always sent, and the runs' ends recorded)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
