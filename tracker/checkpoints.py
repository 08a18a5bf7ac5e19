"""Checkpoints: ``save_checkpoint`` captures the state now and uploads it in the
background; ``load_checkpoint`` downloads one (SHA-256 checked) and returns the state.

    tracker.save_checkpoint(model, step=step, metrics={"val/acc": acc}, keep_best=3, metric="val/acc")
    state = tracker.load_checkpoint(run_id, which="best")   # or "latest", or a step
    model.load_state_dict(state)

The file is written with ``torch.save`` into the run's spool directory (``uploads/``)
on the calling thread, then uploaded by the run's uploader thread and deleted once the
server has verified it. Offline runs keep it there for ``python -m tracker.uploader``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tracker import _current
from tracker._current import PluginRun
from tracker._env import client_from_env
from tracker.transport import HttpClient, TrackerError, run_path
from tracker.uploads import new_uid, raw_request, sha256_of
from tracker.values import check_key, check_step, coerce_value


def _metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    import math

    out = {}
    for key, value in (metrics or {}).items():
        number = coerce_value(check_key(key), value)
        if isinstance(number, str) or not math.isfinite(number):
            raise ValueError(f"tracker.save_checkpoint: metric {key!r} must be finite, got {value!r}")
        out[key] = number
    return out


def save_checkpoint(
    obj: Any,
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    *,
    keep_best: int | None = None,
    metric: str | None = None,
    filename: str | None = None,
    wait: bool = False,
    run: PluginRun | None = None,
) -> dict[str, Any] | None:
    """Store a checkpoint of the current run: a module (its ``state_dict()``), a dict
    (a state dict, or anything ``torch.save`` takes), or the path of a file to upload
    as it is. ``step`` defaults to the step of the last ``log()``.

    ``keep_best=k, metric="val/acc"``: the server keeps the ``k`` best checkpoints of
    the run by that metric (its direction: higher is better unless the name reads like
    a loss, or the project says otherwise) plus the latest, and deletes the rest.
    ``wait=True`` blocks until it is uploaded. Returns ``{step, sha256, size, uid}``
    (None when the run is disabled).
    """
    run = run if run is not None else _current.require()
    step = max(run.step - 1, 0) if step is None else check_step(step)
    values = _metrics(metrics)
    if keep_best is not None:
        if type(keep_best) is not int or keep_best < 1:
            raise ValueError(f"tracker.save_checkpoint: keep_best must be a positive int, got {keep_best!r}")
        if metric is None and len(values) == 1:
            metric = next(iter(values))
        if metric not in values:
            raise ValueError("tracker.save_checkpoint: keep_best needs metric=<one of the metrics given>")
    if run.mode == "disabled":
        return None
    uploader = run.uploader
    if isinstance(obj, str | os.PathLike):
        source = Path(obj)
        if not source.is_file():
            raise FileNotFoundError(f"tracker.save_checkpoint: no file {source}")
        path = uploader.checkpoint_path(source.suffix or ".pt")
        shutil.copyfile(source, path)  # a copy: the script may overwrite its file meanwhile
        name = filename or source.name
    else:
        import torch

        state = obj.state_dict() if hasattr(obj, "state_dict") and callable(obj.state_dict) else obj
        path = uploader.checkpoint_path(".pt")
        torch.save(state, path)
        name = filename or f"checkpoint-step{step}.pt"
    uid = new_uid()
    digest = sha256_of(path)
    query: dict[str, Any] = {"step": step, "sha256": digest, "uid": uid, "filename": name, "metrics": values}
    if keep_best is not None:
        query.update(keep_best=keep_best, best_metric=metric)
    elif metric is not None:
        query["best_metric"] = metric
    size = path.stat().st_size
    uploader.add_checkpoint(path, query)
    if wait:
        uploader.flush(run.settings.finish_timeout)
    return {"step": step, "sha256": digest, "size": size, "uid": uid}


def _client(server: str | None, api_key: str | None) -> HttpClient:
    """The current run's server and key unless given (a connection of its own)."""
    run = _current.get()
    if server is None and api_key is None and run is not None:
        client = run.new_client()
        if client is not None:
            return client
    return client_from_env(server, api_key, who="tracker.load_checkpoint", timeout=60.0)


def checkpoint_info(
    run_id: int, which: str | int = "best", *, metric: str | None = None, client: HttpClient
) -> dict[str, Any]:
    """The server's record of the chosen checkpoint (id, step, sha256, size, metrics)."""
    query = {"which": str(which)}
    if metric:
        query["metric"] = metric
    answer = client.request("GET", run_path(run_id, "checkpoints") + "?" + urlencode(query))
    return answer["checkpoints"][0]


def download_checkpoint(
    run_id: int | None = None,
    which: str | int = "best",
    destination: str | os.PathLike[str] | None = None,
    *,
    metric: str | None = None,
    server: str | None = None,
    api_key: str | None = None,
) -> Path:
    """Download a checkpoint file (SHA-256 verified) and return its path."""
    run = _current.get()
    if run_id is None:
        if run is None or run.id is None:
            raise TrackerError("tracker.load_checkpoint: give the run id (no online run is current)")
        run_id = run.id
    if run is not None and run.id == run_id:
        run.uploader.flush(run.settings.finish_timeout)  # our own uploads first
    client = _client(server, api_key)
    try:
        info = checkpoint_info(int(run_id), which, metric=metric, client=client)
        folder = (
            Path(destination) if destination is not None else Path(tempfile.mkdtemp(prefix="tracker-ckpt-"))
        )
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"run{run_id}-step{info['step']}-{info['id']}.pt"
        partial = target.with_suffix(".part")
        path = run_path(int(run_id), "checkpoints") + f"/{int(info['id'])}/file"
        with partial.open("wb") as sink:
            raw_request(client, "GET", quote(path), sink=sink)
        digest = sha256_of(partial)
        if digest != info["sha256"]:
            partial.unlink(missing_ok=True)
            raise TrackerError(
                f"checkpoint {info['id']} arrived corrupted (SHA-256 {digest}, expected {info['sha256']})"
            )
        os.replace(partial, target)
        return target
    finally:
        client.close()


def load_checkpoint(
    run_id: int | None = None,
    which: str | int = "best",
    *,
    metric: str | None = None,
    map_location: Any = "cpu",
    weights_only: bool = True,
    server: str | None = None,
    api_key: str | None = None,
) -> Any:
    """The state stored by ``save_checkpoint``: ``which`` is "best" (by ``metric``,
    default the one its keep-best policy used), "latest" or a step. ``run_id``
    defaults to the current run. Loaded with ``torch.load(map_location=...,
    weights_only=...)``; the downloaded file is removed afterwards."""
    import torch

    path = download_checkpoint(run_id, which, metric=metric, server=server, api_key=api_key)
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
