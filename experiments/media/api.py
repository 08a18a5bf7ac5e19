"""API views for media (confusion matrices, curves, histograms, model summary) and
checkpoints, under ``/api/v1/`` (their OpenAPI paths: ``experiments.media.openapi``).
Same shape as every view: parse, authorise, call one function, respond."""

from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase

from experiments import services
from experiments.api.http import api_view, by_method
from experiments.errors import ApiError, NotFound
from experiments.media import artifacts, items, reads
from experiments.models import Checkpoint, Media, MediaKind
from experiments.payloads import parse_int
from experiments.selectors import MEMBER

MAX_LISTED = 10_000


@api_view(("POST",))
def run_media_create(request: HttpRequest, user, body, run_id: int) -> dict:
    media = items.parse_media(body)
    run = services.run_get_for_user(user, run_id, MEMBER)
    stored = items.media_store(run=run, items=media)
    return {"stored": stored, "duplicates": len(media) - stored}


@api_view(("GET",), allow_session=True)
def run_media_list(request: HttpRequest, user, run_id: int) -> dict:
    run = services.run_get_for_user(user, run_id)
    rows = Media.objects.filter(run=run)
    kind = request.GET.get("kind")
    if kind:
        if kind not in MediaKind.values:
            raise ApiError(f"must be one of {', '.join(MediaKind.values)}", "kind")
        rows = rows.filter(kind=kind)
    if request.GET.get("name"):
        rows = rows.filter(name=request.GET["name"])
    step = parse_int(request.GET.get("step"), "step")
    if step is not None:
        rows = rows.filter(step=step)
    found = list(rows.order_by("kind", "name", "step", "pk")[: MAX_LISTED + 1])
    return {"media": [reads.media_dict(i) for i in found[:MAX_LISTED]], "truncated": len(found) > MAX_LISTED}


@api_view(("POST",), raw=True)
def run_checkpoints_create(request: HttpRequest, user, run_id: int) -> tuple[dict, int]:
    upload = artifacts.parse_checkpoint_upload(request.GET, request.headers.get("Content-Length"))
    run = services.run_get_for_user(user, run_id, MEMBER)
    checkpoint, created = artifacts.checkpoint_store(run=run, upload=upload, stream=request)
    return {**artifacts.checkpoint_dict(checkpoint), "duplicate": not created}, 201 if created else 200


@api_view(("GET",), allow_session=True)
def run_checkpoints_list(request: HttpRequest, user, run_id: int) -> dict:
    run = services.run_get_for_user(user, run_id)
    which = request.GET.get("which")
    if which:
        chosen = artifacts.checkpoint_select(run, which, request.GET.get("metric") or None)
        return {"checkpoints": [artifacts.checkpoint_dict(chosen)]}
    rows = Checkpoint.objects.filter(run=run).order_by("step", "pk")
    return {"checkpoints": [artifacts.checkpoint_dict(c) for c in rows]}


def checkpoint_file_response(checkpoint: Checkpoint) -> FileResponse:
    """The checkpoint's bytes, streamed, with its size and SHA-256 in the headers."""
    path = artifacts.checkpoint_path(checkpoint)
    try:
        handle = path.open("rb")
    except OSError:
        raise NotFound(f"checkpoint {checkpoint.pk}'s file is missing from the store", "checkpoint") from None
    response = FileResponse(handle, as_attachment=True, filename=checkpoint.filename or path.name)
    response["Content-Type"] = "application/octet-stream"
    response["X-Checkpoint-Sha256"] = checkpoint.sha256
    response["X-Checkpoint-Step"] = str(checkpoint.step)
    return response


@api_view(("GET",), allow_session=True, raw=True)
def run_checkpoint_file(request: HttpRequest, user, run_id: int, checkpoint_id: int) -> HttpResponseBase:
    run = services.run_get_for_user(user, run_id)
    checkpoint = Checkpoint.objects.filter(run=run, pk=checkpoint_id).first()
    if checkpoint is None:
        raise NotFound(f"run {run.pk} has no checkpoint {checkpoint_id}", "checkpoint")
    return checkpoint_file_response(checkpoint)


# One URL each: POST writes (an API key only), GET reads (a browser session too).
run_media = by_method(POST=run_media_create, GET=run_media_list)
run_checkpoints = by_method(POST=run_checkpoints_create, GET=run_checkpoints_list)
