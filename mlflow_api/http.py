"""The MLflow dialect of our API: its error shape, its auth, one view decorator.

Every answer is JSON; every error is ``{"error_code": ..., "message": ...}`` with the
status MLflow gives that code, because the client branches on both (``get_experiment_by_name``
returns None on ``RESOURCE_DOES_NOT_EXIST``). Our own ``ApiError`` (raised by the shared
services: size limits, not found) is translated, its field named in the message.

Auth: ``MLFLOW_TRACKING_TOKEN`` arrives as ``Authorization: Bearer <key>``;
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` as HTTP Basic, the password
being the API key (the key says who the caller is; the username is not checked).
"""

import base64
import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from experiments.api.http import RateLimited, json_response
from experiments.api.http import _rate_limit as rate_limit
from experiments.errors import ApiError
from experiments.models import ApiKey
from experiments.payloads import INT64_MAX, INT64_MIN, refuse_nul

# MLflow's error codes and the HTTP status its server answers each with (mlflow.exceptions).
STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
}
_CODE_FOR_STATUS = {
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    429: "REQUEST_LIMIT_EXCEEDED",
}


class MlflowError(Exception):
    """A client mistake in MLflow's terms: ``code`` is one of ``STATUS``."""

    def __init__(
        self, message: str, code: str = "INVALID_PARAMETER_VALUE", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status or STATUS[code]


def error_response(message: str, code: str, status: int | None = None) -> HttpResponse:
    return json_response({"error_code": code, "message": message}, status=status or STATUS[code])


def _from_api_error(exc: ApiError) -> HttpResponse:
    code = _CODE_FOR_STATUS.get(exc.status, "INVALID_PARAMETER_VALUE")
    message = exc.message if exc.field is None or exc.status == 404 else f"{exc.field}: {exc.message}"
    return error_response(message, code, exc.status)


@dataclass
class Caller:
    """Who is calling, by which key (its scope decides whether it may write)."""

    user: Any
    key: ApiKey

    def check_write(self) -> None:
        if getattr(self.key, "read_only", False):
            raise MlflowError("this API key is read-only; use a read-write key to log", "PERMISSION_DENIED")


_HOW = (
    "send your API key as MLFLOW_TRACKING_TOKEN (Authorization: Bearer <key>), or as "
    "MLFLOW_TRACKING_PASSWORD with any MLFLOW_TRACKING_USERNAME (HTTP Basic)"
)


def _raw_key(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise MlflowError(f"authentication required: {_HOW}", "UNAUTHENTICATED")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise MlflowError("the Basic credentials are not valid base64", "UNAUTHENTICATED") from None
        return decoded.partition(":")[2]
    raise MlflowError(f"unsupported Authorization header: {_HOW}", "UNAUTHENTICATED")


def authenticate(request: HttpRequest) -> Caller:
    """The caller of a request, by its API key (Bearer, or Basic's password)."""
    key = ApiKey.authenticate(_raw_key(request))
    if key is None:
        raise MlflowError("API key is invalid, expired or has been revoked", "UNAUTHENTICATED")
    rate_limit(key)  # the native API's per-key limit (TRACKER_RATE_LIMIT_PER_MINUTE), one count
    now = timezone.now()
    # Touch at most once a minute, as our own API does: this runs on every logging call.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    # The selectors narrow what the user may see and change by the request's key (its
    # scope, its projects), read from here as our own API attaches it.
    key.user.tracker_api_key = key
    return Caller(key.user, key)


class Params:
    """A request's fields, from the JSON body (POST) or the query string (GET), read the
    way MLflow's protobuf parsing reads them; every error names the field."""

    def __init__(self, data: dict | QueryDict, where: str = "") -> None:
        self.data = data
        self.query = isinstance(data, QueryDict)
        self.where = where  # the path of a nested object (``metrics[3]``), for messages

    def raw(self, name: str) -> Any:
        value = self.data.get(name)
        return None if value == "" and self.query else value

    def text(self, name: str, *, required: bool = False, max_length: int = 10_000, default: str = "") -> str:
        value = self.raw(name)
        if value is None:
            if required:
                raise MlflowError(f"Missing value for required parameter '{self.where}{name}'.")
            return default
        if type(value) is not str:
            raise MlflowError(
                f"Invalid value {value!r:.60} for parameter '{self.where}{name}': must be a string."
            )
        if len(value) > max_length:
            raise MlflowError(
                f"Invalid value for parameter '{self.where}{name}': at most {max_length} characters, "
                f"got {len(value)}."
            )
        if "\x00" in value:
            raise MlflowError(
                f"Invalid value for parameter '{self.where}{name}': must not contain NUL characters."
            )
        return value

    def integer(self, name: str, *, default: int | None = None, minimum: int = INT64_MIN) -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        if type(value) is str:  # int64 fields travel as strings in proto JSON and queries
            try:
                value = int(value)
            except ValueError:
                raise MlflowError(
                    f"Invalid value {value!r:.60} for parameter '{self.where}{name}': must be an integer."
                ) from None
        if type(value) is not int or not minimum <= value <= INT64_MAX:
            raise MlflowError(
                f"Invalid value {value!r:.60} for parameter '{self.where}{name}': must be an integer "
                f"from {minimum} to 2**63 - 1."
            )
        return value

    def items(self, name: str) -> list:
        if self.query:
            return self.data.getlist(name)
        value = self.data.get(name)
        if value is None:
            return []
        if type(value) is not list:
            raise MlflowError(f"Invalid value for parameter '{name}': must be a list.")
        return value

    def run_id(self) -> str:
        """The run, as ``run_id`` or its older name ``run_uuid`` (the client sends both)."""
        value = self.text("run_id", max_length=64) or self.text("run_uuid", max_length=64)
        if not value:
            raise MlflowError("Missing value for required parameter 'run_id'.")
        return value


def _read_json(request: HttpRequest) -> dict:
    limit = settings.TRACKER_MAX_BODY_BYTES
    body = request.body
    if len(body) > limit:
        raise MlflowError(f"request body is {len(body)} bytes; the limit is {limit}", status=413)
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MlflowError(f"request body is not valid JSON: {exc}", "BAD_REQUEST") from None
    if type(data) is not dict:
        raise MlflowError("request body must be a JSON object", "BAD_REQUEST")
    try:
        refuse_nul(body, data)
    except ApiError as exc:
        raise MlflowError(f"Invalid value for parameter '{exc.field}': {exc.message}") from None
    return data


def mlflow_view(method: str, *, write: bool = False, stream: bool = False) -> Callable:
    """Wrap ``f(request, caller, params) -> dict | response``: the method, the caller's
    key (and, with ``write``, its right to write), the fields parsed, the view run in one
    transaction (all-or-nothing), any error in MLflow's shape. With ``stream`` the body
    is left to the view (a file) and the view runs outside a transaction (an upload must
    not hold the database's write lock while its bytes arrive)."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            if request.method != method:
                response = error_response(
                    f"{request.path} accepts {method} only, not {request.method}", "ENDPOINT_NOT_FOUND", 405
                )
                response["Allow"] = method
                return response
            try:
                caller = authenticate(request)
                if write:
                    caller.check_write()
                body_free = stream or method == "GET"
                params = Params(request.GET if body_free else _read_json(request))
                if stream:
                    result = view(request, caller, params, **kwargs)
                else:
                    with transaction.atomic():
                        result = view(request, caller, params, **kwargs)
            except MlflowError as exc:
                return error_response(exc.message, exc.code, exc.status)
            except ApiError as exc:
                response = _from_api_error(exc)
                if isinstance(exc, RateLimited):
                    response["Retry-After"] = str(exc.retry_after)  # MLflow's client backs off by it
                return response
            if isinstance(result, HttpResponseBase):
                return result
            return json_response(result)

        return wrapper

    return decorator


@csrf_exempt
def endpoint_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """What the client gets for an MLflow endpoint we do not serve (model registry,
    traces, logged models, ...): MLflow's own ``ENDPOINT_NOT_FOUND``."""
    return error_response(
        f"{request.method} {request.path} is not served by this tracker: it serves MLflow's "
        "experiment, run, metric and artifact endpoints (not the model registry, traces or "
        "logged models)",
        "ENDPOINT_NOT_FOUND",
    )
