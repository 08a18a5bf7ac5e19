"""Checkpoints in the artifact store: a directory (``TRACKER_ARTIFACT_ROOT``, default
``MEDIA_ROOT``) with one folder per run.

An upload streams to a temporary file beside its final name while it is hashed, so
memory stays flat whatever the size; it becomes visible (rename, then row) only once its
size and SHA-256 match what the client declared. Settings (``dashboard/settings.py``):
``TRACKER_ARTIFACT_ROOT``, ``TRACKER_MAX_CHECKPOINT_BYTES`` (2 GiB).
"""

import hashlib
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction

from experiments.directions import project_directions
from experiments.errors import ApiError, NotFound
from experiments.models import Checkpoint, Run
from experiments.payloads import parse_int

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def artifact_root() -> Path:
    return Path(settings.TRACKER_ARTIFACT_ROOT or settings.MEDIA_ROOT)


def max_checkpoint_bytes() -> int:
    return int(settings.TRACKER_MAX_CHECKPOINT_BYTES)


@dataclass
class CheckpointUpload:
    step: int
    sha256: str
    size: int
    uid: str
    filename: str
    metrics: dict[str, float]
    keep_best: int | None
    best_metric: str


def _int(raw: str | None, name: str, minimum: int = 0) -> int | None:
    return parse_int(raw, name, minimum=minimum)


def parse_checkpoint_upload(query: Any, content_length: str | None) -> CheckpointUpload:
    """Checkpoint metadata from the query string; the body is the file itself."""
    size = _int(content_length, "Content-Length")
    if size is None:
        raise ApiError("is required: the checkpoint's size in bytes", "Content-Length", status=411)
    limit = max_checkpoint_bytes()
    if size > limit:
        raise ApiError(f"checkpoint is {size} bytes; the limit is {limit}", "body", status=413)
    step = _int(query.get("step"), "step")
    if step is None:
        raise ApiError("is required: the training step of the checkpoint", "step")
    sha256 = (query.get("sha256") or "").lower()
    if not _SHA256.fullmatch(sha256):
        raise ApiError("must be the file's SHA-256 as 64 hex digits", "sha256")
    uid = query.get("uid") or ""
    if not _UID.fullmatch(uid):
        raise ApiError("must be 1 to 64 letters, digits or _.:-", "uid")
    try:
        metrics = orjson.loads(query.get("metrics") or "{}")
    except orjson.JSONDecodeError:
        raise ApiError("must be a JSON object of {metric: number}", "metrics") from None
    if type(metrics) is not dict or len(metrics) > 100:
        raise ApiError("must be a JSON object of at most 100 {metric: number}", "metrics")
    for key, value in metrics.items():
        if (
            not 1 <= len(key) <= 200
            or "\x00" in key
            or type(value) not in (int, float)
            or not math.isfinite(value)
        ):
            raise ApiError("must map metric names to finite numbers", f"metrics.{key[:60]}")
    keep_best = _int(query.get("keep_best"), "keep_best", minimum=1)
    best_metric = query.get("best_metric") or ""
    if len(best_metric) > 200:
        raise ApiError("must be at most 200 characters", "best_metric")
    if keep_best is not None and not best_metric:
        raise ApiError("is required with keep_best: the metric that ranks checkpoints", "best_metric")
    if best_metric and best_metric not in metrics:
        raise ApiError(f"{best_metric!r} must be one of the checkpoint's metrics", "best_metric")
    filename = (query.get("filename") or "checkpoint.pt")[:255]
    return CheckpointUpload(step, sha256, size, uid, filename, metrics, keep_best, best_metric)


def _run_folder(run: Run) -> Path:
    return artifact_root() / "checkpoints" / f"run-{run.pk}"


def _receive(stream: IO[bytes], size: int, folder: Path) -> tuple[Path, str, int]:
    """Copy exactly ``size`` bytes of ``stream`` to a temporary file in ``folder``,
    hashing as it goes; returns (path, sha256, bytes read)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    received = 0
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            while received < size:
                chunk = stream.read(min(_CHUNK, size - received))
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), digest.hexdigest(), received


def checkpoint_store(*, run: Run, upload: CheckpointUpload, stream: IO[bytes]) -> tuple[Checkpoint, bool]:
    """Store an uploaded checkpoint; returns (checkpoint, created). A uid stored before
    (a retry) returns the stored one. Applies the keep-best policy when asked."""
    existing = Checkpoint.objects.filter(run=run, uid=upload.uid).first()
    if existing is not None:
        return existing, False
    folder = _run_folder(run)
    temporary, digest, received = _receive(stream, upload.size, folder)
    try:
        if received != upload.size:
            raise ApiError(f"body ended after {received} of {upload.size} bytes", "body")
        if digest != upload.sha256:
            raise ApiError(f"the body's SHA-256 is {digest}, not the declared {upload.sha256}", "sha256")
        stem = _SAFE_NAME.sub("_", Path(upload.filename).stem)[:60] or "checkpoint"
        suffix = _SAFE_NAME.sub("_", Path(upload.filename).suffix)[:16]
        final = folder / f"{stem}-step{upload.step}-{upload.uid[:16]}{suffix}"
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    try:
        with transaction.atomic():
            checkpoint = Checkpoint.objects.create(
                run=run,
                step=upload.step,
                uid=upload.uid,
                filename=upload.filename,
                sha256=digest,
                size=received,
                metrics=upload.metrics,
                best_metric=upload.best_metric,
                path=str(final.relative_to(artifact_root())),
            )
            checkpoint.metrics = upload.metrics
            if upload.keep_best:
                checkpoints_prune(run=run, metric=upload.best_metric, keep=upload.keep_best)
    except IntegrityError:
        # The same uid raced in from a retry: keep the first.
        final.unlink(missing_ok=True)
        return Checkpoint.objects.get(run=run, uid=upload.uid), False
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return checkpoint, True


def _ranked(run: Run, checkpoints: list[Checkpoint], metric: str) -> list[Checkpoint]:
    """Checkpoints that have ``metric``, best first (newest first among equals)."""
    direction = project_directions(run.project, [metric])[metric]
    sign = -1 if direction == "max" else 1
    with_metric = [c for c in checkpoints if isinstance(c.metrics.get(metric), int | float)]
    return sorted(with_metric, key=lambda c: (sign * c.metrics[metric], -c.step, -c.pk))


def checkpoints_prune(*, run: Run, metric: str, keep: int) -> list[int]:
    """Keep the ``keep`` best checkpoints by ``metric`` (its direction: the project's
    override, else the name's) and the latest one (to resume from); delete the others,
    their files once the transaction commits. Returns the deleted ids."""
    checkpoints = list(Checkpoint.objects.select_for_update().filter(run=run))
    if not checkpoints:
        return []
    kept = {c.pk for c in _ranked(run, checkpoints, metric)[:keep]}
    kept.add(max(checkpoints, key=lambda c: (c.step, c.pk)).pk)
    doomed = [c for c in checkpoints if c.pk not in kept]
    if doomed:
        Checkpoint.objects.filter(pk__in=[c.pk for c in doomed]).delete()
        paths = [checkpoint_path(c) for c in doomed]
        transaction.on_commit(lambda: [p.unlink(missing_ok=True) for p in paths])
    return [c.pk for c in doomed]


def checkpoint_path(checkpoint: Checkpoint) -> Path:
    root = artifact_root().resolve()
    path = (root / checkpoint.path).resolve()
    if root not in path.parents:
        raise NotFound("checkpoint file is outside the artifact store", "checkpoint")
    return path


def checkpoint_select(run: Run, which: str, metric: str | None = None) -> Checkpoint:
    """``latest`` (highest step, newest upload), ``best`` (by ``metric``, default the
    metric the run's keep-best policy used) or a step number."""
    step = None
    if which not in ("latest", "best"):
        if not which.strip().isdigit():
            raise ApiError(f"must be 'best', 'latest' or a step; got {which[:40]!r}", "which")
        step = parse_int(which, "which")
    checkpoints = list(Checkpoint.objects.filter(run=run).order_by("step", "pk"))
    if not checkpoints:
        raise NotFound(f"run {run.pk} has no checkpoints", "which")
    if which == "latest":
        return checkpoints[-1]
    if which == "best":
        metric = metric or next((c.best_metric for c in reversed(checkpoints) if c.best_metric), "")
        if not metric:
            keys = {k for c in checkpoints for k in c.metrics}
            if len(keys) != 1:
                raise ApiError("say which metric ranks the checkpoints (metric=...)", "metric")
            metric = keys.pop()
        ranked = _ranked(run, checkpoints, metric)
        if not ranked:
            raise NotFound(f"no checkpoint of run {run.pk} has the metric {metric!r}", "metric")
        return ranked[0]
    at_step = [c for c in checkpoints if c.step == step]
    if not at_step:
        raise NotFound(f"run {run.pk} has no checkpoint at step {step}", "which")
    return at_step[-1]


def checkpoint_dict(checkpoint: Checkpoint) -> dict:
    return {
        "id": checkpoint.pk,
        "step": checkpoint.step,
        "uid": checkpoint.uid,
        "filename": checkpoint.filename,
        "sha256": checkpoint.sha256,
        "size": checkpoint.size,
        "metrics": checkpoint.metrics,
        "best_metric": checkpoint.best_metric,
        "created_at": checkpoint.created_at,
    }
