"""The OpenAPI 3.1 description of the v1 API, served at /api/v1/openapi.json so that
clients can be generated and the API fuzzed (e.g. with schemathesis).

A registry: each area describes its own endpoints beside its views (``PATHS`` in
``experiments.api.paths``, ``experiments.compare.openapi``, ``experiments.media.openapi``,
``tuning.api.openapi``, ...) and its app config adds them with ``register_paths``, so
this module imports no area. The pieces every description shares are here.
"""

from django.http import HttpRequest, HttpResponse

from experiments.api.http import json_response

ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
}
# Integers are stored in 64-bit columns: larger ones are refused naming the field.
INT64_MAX = 2**63 - 1
STEP = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}
VALUE = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "A metric value; non-finite values travel as strings.",
}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
WRITE_ERRORS = (400, 401, 404, 405, 413, 415)
_ERROR_TEXT = {
    400: "Invalid input",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Unknown run or project",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Body is not JSON",
}


def json_content(schema: dict) -> dict:
    """A request or response body of JSON described by ``schema``."""
    return {"content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict:
    """Responses for error ``codes``, each in the API's error shape."""
    return {str(c): {"description": _ERROR_TEXT[c], **json_content(ERROR)} for c in codes}


def query(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    """A query parameter."""
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**param, "description": description} if description else param


SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "Experiment tracker API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
    "security": [{"apiKey": []}],
    "paths": {},
}


def register_paths(paths: dict) -> None:
    """Add an area's endpoints to the schema (called from its app config's ``ready``), in
    the order areas register."""
    SCHEMA["paths"].update(paths)


def schema_view(request: HttpRequest) -> HttpResponse:
    return json_response(SCHEMA)
