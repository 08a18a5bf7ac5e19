"""MLflow's proxied artifact endpoints (``/api/2.0/mlflow-artifacts/artifacts/...``:
upload, download, list) over our artifact store (``experiments.media.artifacts``: the
directory our checkpoints live in), one folder per run: ``mlflow/run-<id>/<path>``.

A run's artifact URI is ``mlflow-artifacts:/<experiment>/<run id>/artifacts``; the client
turns it into these URLs with the same credentials as tracking. Uploads stream to a
temporary file beside the final name and replace it only once complete. A model
checkpoint (``.ckpt``, ``.pt``, ``.pth``: Lightning's ``MLFlowLogger(log_model=True)``)
is also recorded as one of the run's checkpoints, so our run page lists it and
``tracker.load_checkpoint`` loads it: one file, two ways to reach it.
"""

import hashlib
import os
import re
from pathlib import Path, PurePosixPath

from django.db import transaction
from django.db.models import Max
from django.http import FileResponse, HttpRequest

from experiments.media.artifacts import _receive, artifact_root, max_checkpoint_bytes
from experiments.models import Checkpoint, Metric, Run
from mlflow_api import access, mapping
from mlflow_api.http import Caller, MlflowError, Params, mlflow_view
from mlflow_api.ids import run_for

CHECKPOINT_SUFFIXES = {".ckpt", ".pt", ".pth"}
_STEP = re.compile(r"step=(\d{1,18})")


def run_folder(run: Run) -> Path:
    return artifact_root() / "mlflow" / f"run-{run.pk}"


def _relative(parts: list[str], where: str) -> PurePosixPath:
    for part in parts:
        if part in ("", ".", "..") or "\x00" in part or "\\" in part:
            raise MlflowError(
                f"Invalid artifact path {'/'.join(parts)[:200]!r} in '{where}': no empty, '.' or '..' parts."
            )
    return PurePosixPath(*parts) if parts else PurePosixPath()


def _locate(caller: Caller, path: str, where: str) -> tuple[Run, PurePosixPath]:
    """The run and the path inside its artifacts that ``<experiment>/<run id>/artifacts[/<path>]`` names."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[2] != "artifacts":
        raise MlflowError(
            f"Invalid artifact path {path[:200]!r} in '{where}': "
            "expected <experiment id>/<run id>/artifacts/<path>.",
            "RESOURCE_DOES_NOT_EXIST",
        )
    run = run_for(caller.user, parts[1])
    return run, _relative(parts[3:], where)


def _on_disk(run: Run, rel: PurePosixPath) -> Path:
    folder = run_folder(run).resolve()
    target = (folder / rel).resolve() if rel.parts else folder
    if target != folder and folder not in target.parents:
        raise MlflowError("Invalid artifact path: it leaves the run's artifacts.")
    return target


def _artifact(request: HttpRequest, caller: Caller, params: Params, path: str):
    if request.method == "PUT":
        return _upload(request, caller, path)
    return _download(request, caller, path)


def _download(request: HttpRequest, caller: Caller, path: str) -> FileResponse:
    run, rel = _locate(caller, path, "path")
    target = _on_disk(run, rel)
    if not target.is_file():
        raise MlflowError(
            f"No artifact {str(rel)[:200]!r} in run {path.split('/')[1][:40]}", "RESOURCE_DOES_NOT_EXIST"
        )
    return FileResponse(target.open("rb"), content_type="application/octet-stream")


def _upload(request: HttpRequest, caller: Caller, path: str) -> dict:
    caller.check_write()
    run, rel = _locate(caller, path, "path")
    if not rel.parts:
        raise MlflowError("Invalid artifact path: name the file to upload.")
    access.require_write(caller.user, run.project)
    with transaction.atomic():
        mapping.check_active(run)
    raw_size = request.headers.get("Content-Length", "")
    if not raw_size.isdigit():
        raise MlflowError("Content-Length is required: the artifact's size in bytes.", status=411)
    size, limit = int(raw_size), max_checkpoint_bytes()
    if size > limit:
        raise MlflowError(
            f"artifact is {size} bytes; the limit is {limit} (TRACKER_MAX_CHECKPOINT_BYTES)", status=413
        )
    target = _on_disk(run, rel)
    if target.is_dir():
        raise MlflowError(
            f"Invalid artifact path {str(rel)[:200]!r}: a directory of artifacts has that name."
        )
    temporary, digest, received = _receive(request, size, target.parent)
    if received != size:
        temporary.unlink(missing_ok=True)
        raise MlflowError(f"body ended after {received} of {size} bytes")
    os.replace(temporary, target)
    if target.suffix in CHECKPOINT_SUFFIXES:
        _record_checkpoint(run, rel, target, digest, size)
    return {}


def _record_checkpoint(run: Run, rel: PurePosixPath, target: Path, digest: str, size: int) -> None:
    """The uploaded model file as one of the run's checkpoints (the same file)."""
    match = _STEP.search(rel.name)
    if match:
        step = int(match.group(1))
    else:
        step = Metric.objects.filter(run=run).aggregate(m=Max("last_step"))["m"] or 0
    uid = "mlflow-" + hashlib.sha256(str(rel).encode()).hexdigest()[:40]
    Checkpoint.objects.update_or_create(
        run=run,
        uid=uid,
        defaults={
            "step": step,
            "filename": rel.name[:255],
            "sha256": digest,
            "size": size,
            "metrics": {},
            "path": str(target.relative_to(artifact_root().resolve())),
        },
    )


@mlflow_view("GET", stream=True)
def artifacts_list(request: HttpRequest, caller: Caller, params: Params) -> dict:
    path = params.text("path", required=True, max_length=2000)
    run, rel = _locate(caller, path, "path")
    folder = _on_disk(run, rel)
    if not folder.is_dir():
        return {"files": []}
    files = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".upload-"):
            continue  # an upload still arriving
        if entry.is_dir():
            files.append({"path": entry.name, "is_dir": True})
        else:
            files.append({"path": entry.name, "is_dir": False, "file_size": entry.stat().st_size})
    return {"files": files}


artifact_get = mlflow_view("GET", stream=True)(_artifact)
artifact_put = mlflow_view("PUT", write=True, stream=True)(_artifact)
