"""Cross-cutting concerns of the JSON API: method check, authentication, body parsing
and error shaping. Views stay a few lines: parse, authorise, call one function, render.
"""

import functools
import gzip
import json
import logging
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from experiments.errors import ApiError, NotFound
from experiments.models import ApiKey
from experiments.payloads import INT64_MAX, NUL_MESSAGE, parse_int, refuse_nul

JSON = "application/json"
logger = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200) -> HttpResponse:
    try:
        body = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:
        # A row stored before its input was checked (an integer over 64 bits, which is
        # what PostgreSQL made of a float such as 1e20; nesting deeper than orjson's
        # 255 levels) is still answered, by the slower standard encoder.
        logger.warning("JSON answer written by the standard encoder: %s", exc)
        body = json.dumps(data, cls=DjangoJSONEncoder).encode()
    return HttpResponse(body, content_type=JSON, status=status)


def error_response(message: str, field: str | None = None, status: int = 400) -> HttpResponse:
    return json_response({"error": message, "field": field}, status=status)


def _authenticate(request: HttpRequest, allow_session: bool):
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiError("Authorization header must be 'Bearer <api key>'", "Authorization", status=401)
        key = ApiKey.authenticate(raw.strip())
        if key is None:
            raise ApiError("API key is invalid or has been revoked", "Authorization", status=401)
        now = timezone.now()
        # Touch at most once a minute: this runs on every ingest request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user
    if allow_session and request.user.is_authenticated:
        return request.user
    raise ApiError(
        "authentication required: send 'Authorization: Bearer <api key>' "
        "(create one with `python manage.py create_api_key USERNAME`)",
        "Authorization",
        status=401,
    )


def _read_body(request: HttpRequest) -> Any:
    limit = settings.TRACKER_MAX_BODY_BYTES
    content_length = parse_int(request.headers.get("Content-Length"), "Content-Length") or 0
    if content_length > limit:
        raise ApiError(f"request body is {content_length} bytes; the limit is {limit}", "body", status=413)
    content_type = request.content_type or ""
    if content_type != JSON:
        raise ApiError(
            f"Content-Type must be {JSON}, got {content_type or 'none'}", "Content-Type", status=415
        )
    body = request.body
    if len(body) > limit:
        raise ApiError(f"request body is {len(body)} bytes; the limit is {limit}", "body", status=413)
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding == "gzip":
        try:
            # Decompress at most limit+1 bytes: a small bomb must not exhaust memory.
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            body = decoder.decompress(body, limit + 1)
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise ApiError(f"body is not valid gzip: {exc}", "Content-Encoding") from None
        if len(body) > limit:
            raise ApiError(f"decompressed body is over the {limit} byte limit", "body", status=413)
    elif encoding not in ("", "identity"):
        raise ApiError(
            f"unsupported Content-Encoding {encoding!r}; use gzip or none", "Content-Encoding", 415
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(f"body is not valid JSON: {exc}", "body") from None
    refuse_nul(body, data)
    return data


# A path parameter's name -> the field an error names (``run_id`` -> ``run``).
_PATH_FIELDS = {"name": "project"}


def check_request(request: HttpRequest, kwargs: dict[str, Any]) -> None:
    """What every API view may assume of its path and query before any work: ids fit a
    64-bit column (a larger one names nothing that exists: 404) and no value holds a
    NUL (which PostgreSQL cannot even compare with)."""
    for name, value in kwargs.items():
        field = _PATH_FIELDS.get(name, name.removesuffix("_id"))
        if type(value) is int and value > INT64_MAX:
            raise NotFound(f"{field} {value} does not exist", field)
        if type(value) is str and "\x00" in value:
            raise NotFound(f"{field} names nothing that exists: it {NUL_MESSAGE}", field)
    check_fields(request.GET, "query parameter")


def check_fields(fields: QueryDict, what: str) -> None:
    """400 naming the query or form field that holds a NUL."""
    for key, values in fields.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            raise ApiError(f"{what} {NUL_MESSAGE}", key.replace("\x00", "") or what)


def api_view(methods: tuple[str, ...], allow_session: bool = False) -> Callable:
    """Wrap a view ``f(request, user, [body,] **kwargs) -> (data, status) | data``.

    POST/PUT/PATCH views receive the parsed JSON body. Any ``ApiError`` becomes a JSON
    error response; the view's transaction (if any) has rolled back by then.
    """

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    f"method {request.method} not allowed; use {', '.join(methods)}", None, 405
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                user = _authenticate(request, allow_session)
                check_request(request, kwargs)
                if request.method in ("POST", "PUT", "PATCH"):
                    result = view(request, user, _read_body(request), **kwargs)
                else:
                    result = view(request, user, **kwargs)
            except ApiError as exc:
                return error_response(exc.message, exc.field, exc.status)
            if isinstance(result, HttpResponse):
                return result
            data, status = result if isinstance(result, tuple) else (result, 200)
            return json_response(data, status)

        return wrapper

    return decorator
