"""``Run``: one training run as seen from the training script, and the module functions.

``tracker.log`` and friends delegate to the current run (the last ``init``, kept in
``tracker._current``), like wandb. The run validates on the calling thread, so a bad value
raises at the offending line, and hands rows to the background ``Sender``; the hot path
does nothing else.

Layers: ``tracker._current`` (the current run, and ``PluginRun``: what plug-ins may use
of a run) <- the plug-ins (``hooks``, ``media``, ``checkpoints``, ``system``) <- this
module, whose ``Run`` offers the plug-ins' functions as methods. Nothing imports upwards.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import time as _now
from typing import Any

from tracker import _current, checkpoints, hooks, media
from tracker._env import Settings
from tracker.sender import Sender
from tracker.spool import write_json
from tracker.summary import Summary
from tracker.transport import HttpClient, RequestFailed, run_path
from tracker.uploader import Uploader
from tracker.uploads import new_uid
from tracker.values import (
    MAX_DEPTH,
    MAX_STEP,
    check_key,
    check_log_text,
    check_step,
    coerce_value,
    strip_nul,
)

logger = logging.getLogger("tracker")

_MAX_KNOWN_KEYS = 10_000


@dataclass
class FinishResult:
    """What ``finish`` did: the status sent, and what is still only on this machine.

    ``sent`` is False when the end could not be recorded, or was held back because
    points were still only on this machine (``pending_*``): ``sync_command`` sends those
    and then the end. ``quarantined_*``: batches the server refused, set aside in
    ``directory`` (``retry_command`` sends them again).
    """

    status: str
    exit_code: int
    sent: bool
    pending_batches: int = 0
    pending_points: int = 0
    dropped: int = 0
    directory: Path | None = None
    quarantined_batches: int = 0
    quarantined_points: int = 0
    quarantine_reason: str = ""

    @property
    def sync_command(self) -> str:
        return f"python -m tracker sync {self.directory}"

    @property
    def retry_command(self) -> str:
        return f"python -m tracker sync --retry-quarantined {self.directory}"


class Run:
    """A run being recorded. Create it with ``tracker.init``.

    ``id`` is the server's integer id (None for an offline run until it is synced);
    ``dir`` is the local directory that holds its spool. With several ranks logging to
    one run, rank 0's ``finish`` ends it (any rank's failure marks it failed).

    Plug-ins (watch hooks, media, checkpoints, the system sampler; anything built on a
    run) use only ``step``, ``log_aside``, ``on_finish``, ``uploader`` and ``new_client``
    besides the attributes above: that is their contract (``tracker._current.PluginRun``).
    """

    def __init__(
        self,
        *,
        project: str,
        config: dict[str, Any],
        mode: str,
        settings: Settings,
        directory: Path | None,
        sender: Sender | None,
        client: HttpClient | None = None,
        run_id: int | None = None,
        name: str = "",
        url: str = "",
        rank: int = 0,
    ):
        self.id = run_id
        self.project = project
        self.name = name
        self.url = url
        self.mode = mode
        self.rank = rank
        self.config = config
        self.dir = directory
        self.settings = settings
        self.summary = Summary()
        self._client = client
        self._sender = sender
        self._step = 0
        self._known: set[str] = set()
        self._warned: set[str] = set()  # keys whose bad value was reported (once each)
        self._stop_flag = False
        self._finished: FinishResult | None = None
        self._finish_lock = threading.Lock()
        self._pid = os.getpid()
        self._submit = sender.submit if sender is not None else _discard
        # Parts that log on their own (system sampler, watch hooks): stopped by finish
        # before the last points are flushed (on_finish). Media and checkpoints ship via
        # the uploader, created on first use.
        self._closers: list[Callable[[], None]] = []
        self._uploader: Uploader | None = None

    def _attach(self, sender: Sender) -> None:
        """Give the run its sender (built after the run: it reads the run's summary)."""
        self._sender = sender
        self._submit = sender.submit

    def __repr__(self) -> str:
        where = f"id={self.id}" if self.id is not None else f"dir={self.dir}"
        return f"<tracker.Run {self.project}/{self.name or '?'} {where} mode={self.mode}>"

    # -- hot path ------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at ``step`` (default: the previous step + 1).

        Only validates and enqueues: no I/O, no lock. Values are numbers (int, float,
        bool as 1/0, numpy scalars, one-element tensors; NaN and ±inf are legal), strings
        (kept as a text series, shown on the run page) and nested dicts (flattened with
        ``/``: ``{"val": {"acc": 0.9}}`` logs ``val/acc``). A bad key or value (a list, an
        object, a NUL) costs only itself: it is dropped with one warning per key per run
        and the rest is recorded. ``step`` is an int from 0 to 2**63 - 1; a bad step
        raises (TypeError or ValueError) and records nothing.
        """
        if step is None:
            step = self._step
            if step > MAX_STEP:
                step = check_step(step)
        elif type(step) is not int or not 0 <= step <= MAX_STEP:
            step = check_step(step)
        known = self._known
        try:
            items = data.items()
        except AttributeError:
            raise TypeError(f"tracker.log expects a dict, got {type(data).__name__}") from None
        for key, value in items:
            kind = type(value)
            # Finite floats (``value - value`` is 0 unless NaN/inf) and 64-bit ints under a
            # known key; everything else is checked and converted by coerce_value.
            if (
                (kind is float and not (value - value)) or (kind is int and -MAX_STEP <= value <= MAX_STEP)
            ) and key in known:
                continue
            row = self._normalise(items, step)
            break
        else:
            row = dict(data)
        self._step = step + 1
        if row:
            self._submit((step, _now(), row), len(row))

    # -- the plug-in contract (tracker._current.PluginRun) -----------------------------
    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step=`` records at: the last logged step
        + 1 (0 before any). Read-only: only ``log()`` moves it."""
        return self._step

    def log_aside(self, data: Mapping[str, Any], step: int) -> None:
        """Record values at ``step`` like ``log``, without moving ``step``: for what logs
        on its own (hooks, the system sampler), between the script's ``log()`` calls."""
        row = self._normalise(data.items(), step)
        if row:
            self._submit((step, _now(), row), len(row))

    def on_finish(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when the run finishes, before its last points are flushed
        (so it may still log: stop a sampler, remove hooks). Errors are logged, not
        raised. Returns a function that cancels it."""
        self._closers.append(callback)

        def cancel() -> None:
            if callback in self._closers:
                self._closers.remove(callback)

        return cancel

    @property
    def uploader(self) -> Uploader:
        """Ships media and checkpoints from its own thread (spooled on disk first), and
        waits for them at ``finish``; created on first use, with its own connection."""
        if self._uploader is None:
            client = self.new_client() if self.id is not None else None
            self._uploader = Uploader(run_dir=self.dir, client=client, run_id=self.id, settings=self.settings)
        return self._uploader

    def new_client(self) -> HttpClient | None:
        """A connection of its own to this run's server, with its key (None offline);
        the caller closes it."""
        return self._client.for_child() if self._client is not None else None

    # -- what the plug-ins offer, as methods -------------------------------------------
    def log_confusion_matrix(self, y_true: Any, y_pred: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return media.log_confusion_matrix(y_true, y_pred, *args, run=self, **kwargs)

    def log_roc_curve(self, y_true: Any, y_score: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return media.log_roc_curve(y_true, y_score, *args, run=self, **kwargs)

    def log_pr_curve(self, y_true: Any, y_score: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return media.log_pr_curve(y_true, y_score, *args, run=self, **kwargs)

    def log_image(self, key: str, image: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from tracker import images

        return images.log_image(key, image, *args, run=self, **kwargs)

    def log_feature_maps(self, model: Any, batch: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from tracker import images

        return images.log_feature_maps(model, batch, *args, run=self, **kwargs)

    def watch(
        self, model: Any, optimizer: Any = None, log: str | None = "gradients", log_freq: int = 100
    ) -> Any:
        return hooks.watch(model, optimizer, log=log, log_freq=log_freq, run=self)

    def unwatch(self, model: Any = None) -> None:
        hooks.unwatch(model, run=self)

    def save_checkpoint(self, obj: Any, step: int | None = None, metrics: Any = None, **kwargs: Any) -> Any:
        return checkpoints.save_checkpoint(obj, step, metrics, run=self, **kwargs)

    def _normalise(self, items: Any, step: int) -> dict[str, Any]:
        """The numbers of a ``log()`` call as the wire wants them; strings go to the
        uploader as text media of ``step``; a bad key or value is dropped and warned of."""
        row: dict[str, Any] = {}
        texts: dict[str, str] = {}
        self._collect(items, "", 0, row, texts)
        if texts and self.mode != "disabled":
            self.uploader.add_media(
                [
                    {"uid": new_uid(), "kind": "text", "name": key, "step": step, "data": {"value": text}}
                    for key, text in texts.items()
                ]
            )
        return row

    def _collect(self, items: Any, prefix: str, depth: int, row: dict, texts: dict) -> None:
        known = self._known
        for key, value in items:
            if prefix:
                key = f"{prefix}/{key}" if isinstance(key, str) else key
            try:
                if key not in known:
                    key = check_key(key)
                if isinstance(value, Mapping):
                    if depth >= MAX_DEPTH:
                        raise ValueError(f"tracker.log: value for key {key!r} nests dicts over {MAX_DEPTH}")
                    self._collect(value.items(), key, depth + 1, row, texts)
                    continue
                if isinstance(value, str):
                    texts[key] = check_log_text(key, value)
                else:
                    row[key] = coerce_value(key, value)
            except (TypeError, ValueError) as exc:
                self._warn_once(key, exc)
                continue
            if key not in known and len(known) < _MAX_KNOWN_KEYS:
                known.add(key)

    def _warn_once(self, key: Any, exc: Exception) -> None:
        name = key if isinstance(key, str) else repr(key)
        if name in self._warned:
            return
        if len(self._warned) < _MAX_KNOWN_KEYS:
            self._warned.add(name)
        logger.warning("%s; not logged (the other keys are; this warning is shown once per key)", exc)

    # -- control -------------------------------------------------------------------
    def should_stop(self) -> bool:
        """True once the server asked this run to stop (sweep pruning, Stop button)."""
        return self._stop_flag

    def _set_should_stop(self, flag: bool) -> None:
        self._stop_flag = flag

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` s until everything logged is stored (or spooled offline)."""
        return self._sender.flush(timeout) if self._sender is not None else True

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            self.finish(code, error="" if code == 0 else f"SystemExit({exc.code!r})")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish(130, error="".join(traceback.format_exception(exc_type, exc, tb)))
        else:
            self.finish(1, error="".join(traceback.format_exception(exc_type, exc, tb)))
        return False

    def finish(
        self, exit_code: int | None = None, *, error: str = "", timeout: float | None = None
    ) -> FinishResult:
        """End the run: flush (at most ``timeout`` s, default ``settings.finish_timeout``),
        then record the status (``failed`` when ``exit_code`` is non-zero).

        Idempotent. Says on stderr what could not be uploaded and how to upload it.
        """
        with self._finish_lock:
            if self._finished is not None:
                return self._finished
            for close in list(self._closers):  # they may still log: before the points are flushed
                try:
                    close()
                except Exception:
                    logger.exception("tracker: error while stopping %r", close)
            self._submit = self._logged_after_finish
            # Marked first: a failure inside must not make atexit try again.
            self._finished = FinishResult("failed" if exit_code else "finished", exit_code or 0, sent=False)
            try:
                wait = self.settings.finish_timeout if timeout is None else timeout
                self._finished = self._finish(exit_code or 0, error, wait)
            finally:
                _current.forget(self)
        return self._finished

    def _finish(self, exit_code: int, error: str, timeout: float) -> FinishResult:
        if error and not exit_code:
            exit_code = 1
        status = "failed" if exit_code else "finished"
        deadline = time.monotonic() + timeout
        pending = self._sender.close(timeout) if self._sender is not None else None
        if self._uploader is not None:  # media and checkpoints, with what is left of the time
            self._uploader.close(max(0.0, deadline - time.monotonic()))
        result = FinishResult(status, exit_code, sent=False, directory=self.dir)
        if pending is not None:
            result.pending_batches, result.pending_points = pending.batches, pending.points
            result.dropped = pending.dropped
            result.quarantined_batches = pending.quarantined_batches
            result.quarantined_points = pending.quarantined_points
            result.quarantine_reason = pending.quarantine_reason
        if self.mode == "disabled" or os.getpid() != self._pid:
            # A forked child flushes its own points but never ends the parent's run.
            return result
        body: dict[str, Any] = {
            "status": status,
            "exit_code": exit_code,
            "error": strip_nul(error),
            "summary": self.summary.snapshot(),
            "dropped": self._sender.dropped_unreported if self._sender is not None else 0,
        }
        if pending is not None and pending.quarantine:
            body["quarantined"] = pending.quarantine
        # With several ranks, rank 0 ends the run; another rank only reports a failure
        # (and its drops), so a rank finishing early does not mark the run finished.
        ends_run = self.rank == 0 or status == "failed"
        # Points still only on this machine: the run must not look ended without them.
        # The end waits in finish.json for `tracker sync`, which sends them first.
        held = ends_run and result.pending_batches > 0
        if self._client is not None and self.id is not None and not held:
            action = "finish" if ends_run else "heartbeat"
            payload = body if ends_run else {k: v for k, v in body.items() if k in ("dropped", "quarantined")}
            try:
                try:
                    self._post_end(action, payload, deadline)
                except RequestFailed as exc:
                    if not (str(exc.field or "").startswith("summary") and payload.get("summary")):
                        raise
                    # The summary alone is refused (too large, too deep): end the run without it.
                    logger.warning(
                        "tracker: the server refused the run summary (%s); ending the run without it", exc
                    )
                    payload = {**payload, "summary": {}}
                    self._post_end(action, payload, deadline)
                result.sent = True
            except RequestFailed as exc:
                logger.warning("tracker: could not record the end of run %s on the server: %s", self.id, exc)
        if self._client is not None:
            self._client.close()
        if not result.sent and ends_run and self.dir is not None:
            try:
                write_json(self.dir / "finish.json", body)
            except OSError as exc:
                logger.warning("tracker: cannot write %s: %s", self.dir / "finish.json", exc)
        self._report_end(result, held, ends_run)
        return result

    def _post_end(self, action: str, payload: dict, deadline: float) -> None:
        """POST the run's end; a 429 (the key's rate limit) is waited out as its
        Retry-After asks, while the finish budget lasts."""
        while True:
            # Whatever the flush left of the budget, but at least a second to try.
            wait = max(1.0, min(self.settings.http_timeout, deadline - time.monotonic()))
            try:
                self._client.request("POST", run_path(self.id, action), payload, timeout=wait)
                return
            except RequestFailed as exc:
                pause = exc.retry_after if exc.status == 429 else None
                if pause is None or time.monotonic() + pause >= deadline:
                    raise
                time.sleep(pause)

    def _report_end(self, result: FinishResult, held: bool, ends_run: bool) -> None:
        """Say on stderr what is not on the server, and the command that puts it there."""
        if result.dropped:
            logger.warning("tracker: %d points could not be kept (counted on the server)", result.dropped)
        if result.quarantined_batches:
            logger.warning(
                "tracker: %d batches (%d points) of run %s were set aside: the server refused them "
                "(%s). They are kept in %s; send them again with: %s",
                result.quarantined_batches,
                result.quarantined_points,
                self.id or self.dir,
                result.quarantine_reason,
                self.dir,
                result.retry_command,
            )
        if self.mode == "offline":
            logger.warning(
                "tracker: offline run saved in %s (%d points). Upload it with: python -m tracker sync %s",
                self.dir,
                self._sender.taken if self._sender is not None else 0,
                self.dir,
            )
        elif held:
            logger.warning(
                "tracker: %d points in %d batches of run %s are not on the server yet, so the run "
                "is not marked %s there (it shows as running, then crashed). They are spooled in %s. "
                "Upload them and record the end with: python -m tracker sync %s",
                result.pending_points,
                result.pending_batches,
                self.id,
                result.status,
                self.dir,
                self.dir,
            )
        elif result.pending_batches:
            logger.warning(
                "tracker: %d points in %d batches of run %s are not on the server yet; "
                "they are spooled in %s. Upload them with: python -m tracker sync %s",
                result.pending_points,
                result.pending_batches,
                self.id,
                self.dir,
                self.dir,
            )
        elif not result.sent and ends_run:
            logger.warning(
                "tracker: every point of run %s is stored, but not its end; record it with: "
                "python -m tracker sync %s",
                self.id,
                self.dir,
            )

    def _logged_after_finish(self, row: Any, points: int) -> None:
        logger.warning("tracker: log() after finish() is ignored (run %s)", self.id or self.dir)
        self._submit = _discard


def _discard(row: Any, points: int) -> None:
    """Where rows go in disabled mode and after finish."""


# -- the module functions: the current run (tracker._current) ---------------------


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """``current_run.log(...)``; see ``Run.log``."""
    run = _current._run
    if run is None:
        raise RuntimeError("tracker.log: call tracker.init(...) first")
    run.log(data, step)


def should_stop() -> bool:
    """True when the server asked the current run to stop; False when there is none."""
    run = _current._run
    return run._stop_flag if run is not None else False


def finish(exit_code: int | None = None, *, timeout: float | None = None) -> FinishResult | None:
    """Finish the current run, if any."""
    run = _current._run
    return run.finish(exit_code, timeout=timeout) if run is not None else None
