"""The web dialect of every JSON endpoint, API and page scripts alike: one decorator
family, one error shape, one encoder. Views stay a few lines: parse, authorise, call one
function, render.

- ``api_view``: an API endpoint (``/api/v1/``): method check, API key (or the browser's
  session where allowed), request checks, the JSON body parsed (or, with ``raw=True``,
  left to the view as a stream), ``ApiError`` as a JSON error.
- ``by_method``: one URL, a view per method, each with its own ``api_view``.
- ``page_json``: what a page's script fetches: the browser's session only, the same
  request checks and JSON answers and errors.
- ``checked``: the request checks for server-rendered pages.
- ``json_response`` / ``error_response``: every JSON answer and every error
  (``{"error": ..., "field": ...}``); NaN and ±inf spelled ``"NaN"``, ``"Infinity"``,
  ``"-Infinity"`` (``experiments.jsonvalues``), whatever the endpoint.
"""

import functools
import gzip
import json
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from experiments.errors import ApiError, NotFound
from experiments.jsonvalues import jsonable
from experiments.models import ApiKey
from experiments.payloads import INT64_MAX, NUL_MESSAGE, parse_int, refuse_nul
from teams import audit

JSON = "application/json"
logger = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200) -> HttpResponse:
    """``data`` as a JSON answer: non-finite floats as strings (``jsonable``), datetimes
    in ISO 8601, in one write."""
    data = jsonable(data)
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


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class RateLimited(ApiError):
    """Over the per-key request rate: 429, and when to come back."""

    def __init__(self, limit: int, span: int, retry_after: int) -> None:
        window = "a minute" if span == 60 else f"{span} s"
        super().__init__(
            f"this API key made more than {limit} requests in {window} "
            f"(TRACKER_RATE_LIMIT_PER_MINUTE); retry after {retry_after} s",
            "Authorization",
            status=429,
        )
        self.retry_after = retry_after


def _rate_limit(key: ApiKey) -> None:
    """Count the key's request in the current window (a minute, or
    ``TRACKER_RATE_LIMIT_WINDOW_SECONDS``) in the cache: Redis when ``REDIS_URL`` is set,
    shared by every web process. Off when the limit is 0."""
    limit = settings.TRACKER_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    span = max(1, int(getattr(settings, "TRACKER_RATE_LIMIT_WINDOW_SECONDS", 60)))
    now = time.time()
    window = int(now // span)
    slot = f"ratelimit:{key.pk}:{span}:{window}"
    cache.add(slot, 0, timeout=2 * span)
    try:
        count = cache.incr(slot)
    except ValueError:  # expired between add and incr
        cache.set(slot, 1, timeout=2 * span)
        count = 1
    if count > limit:
        raise RateLimited(limit, span, max(1, math.ceil((window + 1) * span - now)))


def _authenticate(request: HttpRequest, allow_session: bool):
    """The request's user: an API key's (with the key attached as ``tracker_api_key``,
    which ``experiments.selectors`` reads to narrow what it sees) or the session's."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiError("Authorization header must be 'Bearer <api key>'", "Authorization", status=401)
        key = ApiKey.authenticate(raw.strip())
        if key is None:
            raise ApiError("API key is invalid, expired or revoked", "Authorization", status=401)
        _rate_limit(key)
        if key.read_only and request.method not in _SAFE_METHODS:
            raise ApiError(
                f"this API key is read-only: it cannot {request.method} (make a read-write key on /keys/)",
                "Authorization",
                status=403,
            )
        now = timezone.now()
        address = audit.client_address(request)
        # Touch at most once a minute: this runs on every ingest request.
        if (
            key.last_used_at is None
            or (now - key.last_used_at).total_seconds() > 60
            or key.last_used_from != address
        ):
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_from=address)
        user = key.user
        user.tracker_api_key = key
        audit.audit_context(actor=user)
        return user
    if allow_session and request.user.is_authenticated:
        return request.user
    raise ApiError(
        "authentication required: send 'Authorization: Bearer <api key>' "
        "(create one on the keys page, /keys/, or with `python manage.py create_api_key USERNAME`)",
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


def _method_not_allowed(request: HttpRequest, methods: Iterable[str]) -> HttpResponse:
    allowed = ", ".join(methods)
    response = error_response(f"method {request.method} not allowed; use {allowed}", None, 405)
    response["Allow"] = allowed
    return response


_CSRF_FAILED = "CSRF check failed: send the X-CSRFToken header"


def _csrf_refused(request: HttpRequest) -> bool:
    """Whether Django's CSRF check refuses this request (a session write must pass it)."""
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, lambda r: HttpResponse(), (), {}) is not None


def api_view(
    methods: tuple[str, ...],
    allow_session: bool = False,
    *,
    csrf_session: bool = False,
    raw: bool = False,
) -> Callable:
    """Wrap a view ``f(request, user, [body,] **kwargs) -> (data, status) | data | response``.

    Every request needs an API key; ``allow_session`` accepts a logged-in browser too
    (reads: no CSRF check), ``csrf_session`` accepts one that passes Django's CSRF check
    (a page's write, such as dismissing a finding). POST/PUT/PATCH views receive the
    parsed JSON body, unless ``raw``: then the view reads the request as a stream (never
    ``request.body``, which would hold it all in memory and is capped at the JSON limit)
    and may answer with any response (a file). Any ``ApiError`` becomes a JSON error
    response; the view's transaction (if any) has rolled back by then.
    """

    def decorator(view: Callable) -> Callable:
        @csrf_exempt  # API keys need no CSRF token; a session write is checked below
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return _method_not_allowed(request, methods)
            session = allow_session
            if csrf_session and not request.headers.get("Authorization"):
                if _csrf_refused(request):
                    return error_response(_CSRF_FAILED, "X-CSRFToken", 403)
                session = True
            try:
                user = _authenticate(request, session)
                check_request(request, kwargs)
                if not raw and request.method in ("POST", "PUT", "PATCH"):
                    result = view(request, user, _read_body(request), **kwargs)
                else:
                    result = view(request, user, **kwargs)
            except ApiError as exc:
                response = error_response(exc.message, exc.field, exc.status)
                if isinstance(exc, RateLimited):
                    response["Retry-After"] = str(exc.retry_after)
                return response
            if isinstance(result, HttpResponseBase):
                return result
            data, status = result if isinstance(result, tuple) else (result, 200)
            return json_response(data, status)

        return wrapper

    return decorator


def by_method(**views: Callable) -> Callable:
    """One URL, a view per method (``by_method(GET=read, POST=write)``), each wrapped in
    its own ``api_view`` (a read may accept the session, a write only a key). Another
    method is a 405 naming those the URL has."""

    @csrf_exempt  # each view decides: api_view checks a session's CSRF token itself
    def dispatch(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        view = views.get(request.method or "")
        if view is None:
            return _method_not_allowed(request, views)
        return view(request, **kwargs)

    return dispatch


def _checks(request: HttpRequest, kwargs: dict[str, Any]) -> None:
    """The API's request checks for a page: a path value naming nothing is a 404 page."""
    try:
        check_request(request, kwargs)
        if request.method == "POST":
            check_fields(request.POST, "form field")
    except NotFound as exc:
        raise Http404(exc.message) from None


def checked(view: Callable) -> Callable:
    """The API's request checks for server-rendered pages: path ids past 64 bits and names
    or query values holding a NUL name nothing that exists (PostgreSQL cannot even compare
    with a NUL), and a query or form value holding one is refused, so a page answers 404
    or 400 before it reads anything."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        try:
            _checks(request, kwargs)
        except ApiError as exc:
            return HttpResponseBadRequest(f"{exc.field}: {exc.message}", content_type="text/plain")
        return view(request, **kwargs)

    return wrapper


def page_json(view: Callable) -> Callable:
    """Wrap a page script's JSON endpoint ``f(request, **kwargs) -> data | response``:
    the browser's session only (no API key: anonymous is sent to the login page), the
    API's request checks, ``ApiError`` as the API's JSON error, ``data`` as JSON."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        try:
            _checks(request, kwargs)
            result = view(request, **kwargs)
        except ApiError as exc:
            return error_response(exc.message, exc.field, exc.status)
        if isinstance(result, HttpResponseBase):
            return result
        return json_response(result)

    return wrapper
