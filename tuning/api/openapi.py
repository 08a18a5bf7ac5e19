"""OpenAPI description of the sweeps endpoints, registered into /api/v1/openapi.json."""

_ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
}
_SPACE_PARAM = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": ["float", "int", "categorical"]},
        "low": {"type": "number"},
        "high": {"type": "number"},
        "log": {"type": "boolean"},
        "step": {"type": "number"},
        "choices": {"type": "array"},
    },
}
_SWEEP_CREATE = {
    "type": "object",
    "required": ["project", "entry_point", "space", "objective"],
    "properties": {
        "project": {"type": "string"},
        "name": {"type": "string", "maxLength": 200},
        "entry_point": {"type": "string", "description": "module:function(config, run)"},
        "space": {"type": "object", "additionalProperties": _SPACE_PARAM},
        "objective": {"type": "string", "description": "A metric key the trials log, e.g. val/acc."},
        "direction": {"type": "string", "enum": ["minimize", "maximize"]},
        "n_trials": {"type": "integer", "minimum": 1},
        "parallelism": {"type": "integer", "minimum": 1},
        "sampler": {"type": "string", "enum": ["tpe", "random", "grid", "cmaes"]},
        "sampler_options": {"type": "object"},
        "pruner": {"type": "string", "enum": ["median", "successive_halving", "hyperband", "none"]},
        "pruner_options": {"type": "object"},
        "seed": {"type": ["integer", "null"]},
        "config": {"type": "object", "description": "Fixed config merged under each trial's params."},
        "start": {"type": "boolean", "default": True},
    },
}
_SWEEP = {"type": "object", "properties": {"id": {"type": "integer"}, "status": {"type": "string"}}}
_ID = {"name": "sweep_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    return {str(c): {"description": "Error", **_json(_ERROR)} for c in codes}


PATHS = {
    "/sweeps": {
        "post": {
            "summary": "Create a sweep (and start it unless start is false)",
            "description": "Needs the tuning.run_sweeps permission (403 without it): the entry point "
            "runs on the workers, and only from modules in the server's TUNING_ENTRY_POINT_MODULES.",
            "requestBody": {"required": True, **_json(_SWEEP_CREATE)},
            "responses": {
                "201": {"description": "The sweep", **_json(_SWEEP)},
                **_errors(400, 401, 403, 404, 413, 415),
            },
        }
    },
    "/sweeps/{sweep_id}": {
        "get": {
            "summary": "A sweep with its progress and best trial",
            "parameters": [_ID],
            "responses": {"200": {"description": "The sweep", **_json(_SWEEP)}, **_errors(401, 404)},
        }
    },
    "/sweeps/{sweep_id}/trials": {
        "get": {
            "summary": "The sweep's trials with params, state, value and run",
            "parameters": [_ID],
            "responses": {"200": {"description": "Trials"}, **_errors(401, 404)},
        }
    },
    "/sweeps/{sweep_id}/stop": {
        "post": {
            "summary": "Stop: no new trials; running trials are asked to stop",
            "parameters": [_ID],
            "responses": {"200": {"description": "The sweep", **_json(_SWEEP)}, **_errors(401, 404)},
        }
    },
    "/sweeps/{sweep_id}/start": {
        "post": {
            "summary": "Start or resume (needs the tuning.run_sweeps permission)",
            "parameters": [_ID],
            "responses": {
                "200": {"description": "The sweep", **_json(_SWEEP)},
                **_errors(400, 401, 403, 404, 409, 413, 415),
            },
        }
    },
}
