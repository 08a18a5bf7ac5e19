"""The OpenAPI 3.1 description of the v1 API, served at /api/v1/openapi.json so that
clients can be generated and the API fuzzed (e.g. with schemathesis)."""

from django.http import HttpRequest, HttpResponse

from experiments.api.decorators import json_response

_ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
}
_VALUE = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "A metric value; non-finite values travel as strings.",
}
_RUN_START = {
    "type": "object",
    "required": ["project"],
    "properties": {
        "project": {"type": "string", "minLength": 1, "maxLength": 100},
        "name": {"type": "string", "maxLength": 200},
        "group": {"type": "string", "maxLength": 200},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 100}},
        "config": {"type": "object"},
        "id": {"type": "integer", "minimum": 1, "description": "Resume this run instead of creating one."},
        "host": {"type": "string", "maxLength": 255},
        "git_commit": {"type": "string", "maxLength": 64},
        "python_version": {"type": "string", "maxLength": 64},
        "torch_version": {"type": "string", "maxLength": 64},
        "cuda_version": {"type": "string", "maxLength": 64},
    },
}
_BATCH = {
    "type": "object",
    "required": ["writer", "seq", "rows"],
    "properties": {
        "writer": {"type": "string", "minLength": 1, "maxLength": 64},
        "seq": {"type": "integer", "minimum": 0},
        "rank": {"type": "integer", "minimum": 0, "maximum": 32767},
        "rows": {
            "type": "array",
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "minimum": 0},
                    {"type": "number"},
                    {"type": "object", "additionalProperties": _VALUE},
                ],
                "minItems": 3,
                "maxItems": 3,
            },
        },
        "summary": {"type": "object"},
    },
}
_RUN = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "project": {"type": "string"},
        "name": {"type": "string"},
        "group": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "enum": ["running", "finished", "failed", "crashed"]},
        "config": {"type": "object"},
        "summary": {"type": "object"},
        "metrics": {"type": "object"},
        "dropped_points": {"type": "integer"},
        "points_count": {"type": "integer"},
    },
}
_SERIES = {
    "type": "object",
    "properties": {
        "step": {"type": "array", "items": {"type": "integer"}},
        "value": {"type": "array", "items": _VALUE},
        "wall_time": {"type": "array", "items": {"type": "number"}},
        "rank": {"type": "array", "items": {"type": "integer"}},
    },
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    text = {
        400: "Invalid input",
        401: "Missing or invalid API key",
        404: "Unknown run or project",
        405: "Method not allowed",
        413: "Payload too large",
        415: "Body is not JSON",
    }
    return {str(c): {"description": text[c], **_json(_ERROR)} for c in codes}


_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_WRITE_ERRORS = (400, 401, 404, 405, 413, 415)

SCHEMA = {
    "openapi": "3.1.0",
    "info": {"title": "Experiment tracker API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
    "security": [{"apiKey": []}],
    "paths": {
        "/runs": {
            "post": {
                "summary": "Create a run, or resume one with `id`",
                "requestBody": {"required": True, **_json(_RUN_START)},
                "responses": {
                    "201": {"description": "Created", **_json(_RUN)},
                    "200": {"description": "Resumed", **_json(_RUN)},
                    **_errors(*_WRITE_ERRORS),
                },
            }
        },
        "/runs/{run_id}": {
            "get": {
                "summary": "A run with its metric summaries",
                "parameters": [_RUN_ID],
                "responses": {"200": {"description": "The run", **_json(_RUN)}, **_errors(401, 404)},
            }
        },
        "/runs/{run_id}/batches": {
            "post": {
                "summary": "Append a batch of points (all-or-nothing, idempotent by writer and seq)",
                "parameters": [_RUN_ID],
                "requestBody": {"required": True, **_json(_BATCH)},
                "responses": {
                    "200": {
                        "description": "Stored, or acknowledged as a duplicate",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "stored": {"type": "integer"},
                                    "duplicate": {"type": "boolean"},
                                    "should_stop": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **_errors(*_WRITE_ERRORS),
                },
            }
        },
        "/runs/{run_id}/heartbeat": {
            "post": {
                "summary": "Tell the server the client is alive",
                "parameters": [_RUN_ID],
                "requestBody": {
                    "required": True,
                    **_json({"type": "object", "properties": {"dropped": {"type": "integer", "minimum": 0}}}),
                },
                "responses": {
                    "200": {
                        "description": "Status",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string"},
                                    "should_stop": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **_errors(*_WRITE_ERRORS),
                },
            }
        },
        "/runs/{run_id}/finish": {
            "post": {
                "summary": "Mark a run finished or failed",
                "parameters": [_RUN_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string", "enum": ["finished", "failed"]},
                                "exit_code": {"type": ["integer", "null"]},
                                "error": {"type": "string"},
                                "summary": {"type": "object"},
                                "dropped": {"type": "integer", "minimum": 0},
                            },
                        }
                    ),
                },
                "responses": {"200": {"description": "The run", **_json(_RUN)}, **_errors(*_WRITE_ERRORS)},
            }
        },
        "/runs/{run_id}/history": {
            "get": {
                "summary": "Every stored point of the run's metrics",
                "parameters": [
                    _RUN_ID,
                    {
                        "name": "key",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "style": "form",
                        "explode": True,
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Series by metric key",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "metrics": {"type": "object", "additionalProperties": _SERIES}
                                },
                            }
                        ),
                    },
                    **_errors(401, 404),
                },
            }
        },
        "/projects": {
            "get": {
                "summary": "Projects you can see",
                "responses": {"200": {"description": "Projects"}, **_errors(401)},
            }
        },
        "/projects/{name}/runs": {
            "get": {
                "summary": "A project's runs, newest first",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "Runs",
                        **_json({"type": "object", "properties": {"runs": {"type": "array", "items": _RUN}}}),
                    },
                    **_errors(401, 404),
                },
            }
        },
    },
}


def schema_view(request: HttpRequest) -> HttpResponse:
    return json_response(SCHEMA)
