"""API views for media (confusion matrices, curves, histograms, model summary) and
checkpoints. Same shape as ``views``: parse, authorise, call one function, respond."""

import functools
from collections.abc import Callable
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from experiments import artifacts, media, services
from experiments.api.decorators import _authenticate, api_view, check_request, error_response, json_response
from experiments.errors import ApiError, NotFound
from experiments.models import Checkpoint, Media, MediaKind
from experiments.payloads import parse_int

MAX_LISTED = 10_000


@api_view(("POST",))
def run_media_create(request: HttpRequest, user, body, run_id: int) -> dict:
    items = media.parse_media(body)
    run = services.run_get_for_user(user, run_id)
    stored = media.media_store(run=run, items=items)
    return {"stored": stored, "duplicates": len(items) - stored}


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
    items = list(rows.order_by("kind", "name", "step", "pk")[: MAX_LISTED + 1])
    return {"media": [media.media_dict(i) for i in items[:MAX_LISTED]], "truncated": len(items) > MAX_LISTED}


def raw_view(method: str, allow_session: bool = False) -> Callable:
    """Like ``api_view`` for a body or an answer that is a file, not JSON: the view gets
    the request and reads the body as a stream (never ``request.body``, which would hold
    it all in memory and is capped at the JSON limit), and may return any response."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            if request.method != method:
                response = error_response(f"method {request.method} not allowed; use {method}", None, 405)
                response["Allow"] = method
                return response
            try:
                user = _authenticate(request, allow_session=allow_session)
                check_request(request, kwargs)
                result = view(request, user, **kwargs)
            except ApiError as exc:
                return error_response(exc.message, exc.field, exc.status)
            if isinstance(result, HttpResponseBase):
                return result
            data, status = result
            return json_response(data, status)

        return wrapper

    return decorator


@raw_view("POST")
def run_checkpoints_create(request: HttpRequest, user, run_id: int) -> tuple[dict, int]:
    upload = artifacts.parse_checkpoint_upload(request.GET, request.headers.get("Content-Length"))
    run = services.run_get_for_user(user, run_id)
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


@raw_view("GET", allow_session=True)
def run_checkpoint_file(request: HttpRequest, user, run_id: int, checkpoint_id: int) -> HttpResponseBase:
    run = services.run_get_for_user(user, run_id)
    checkpoint = Checkpoint.objects.filter(run=run, pk=checkpoint_id).first()
    if checkpoint is None:
        raise NotFound(f"run {run.pk} has no checkpoint {checkpoint_id}", "checkpoint")
    return checkpoint_file_response(checkpoint)


def _by_method(post: Callable, get: Callable) -> Callable:
    """One URL, two views: POST writes, GET (and any other method, which the view refuses) reads."""

    @csrf_exempt
    def dispatch(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return (post if request.method == "POST" else get)(request, **kwargs)

    return dispatch


run_media = _by_method(run_media_create, run_media_list)
run_checkpoints = _by_method(run_checkpoints_create, run_checkpoints_list)
