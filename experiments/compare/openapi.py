"""OpenAPI paths of baselines, metric directions and comparisons
(``experiments.compare.api``). Registered by ``experiments.apps``."""

from experiments.api.openapi import NAME, RUN_ID, WRITE_ERRORS, errors, json_content

_BASELINE = {
    "type": ["object", "null"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": ["run", "group"]},
        "run": {"type": ["integer", "null"]},
        "group": {"type": ["string", "null"]},
        "label": {"type": "string"},
        "note": {"type": "string"},
        "set_at": {"type": "string"},
        "replaced_at": {"type": ["string", "null"]},
        "active": {"type": "boolean"},
    },
}
_BASELINE_STATE = {
    "type": "object",
    "properties": {
        "project": {"type": "string"},
        "baseline": _BASELINE,
        "history": {"type": "array", "items": _BASELINE},
    },
}
_DIRECTIONS = {
    "type": "object",
    "properties": {
        "project": {"type": "string"},
        "directions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "direction": {"type": "string", "enum": ["min", "max"]},
                    "source": {"type": "string", "enum": ["name", "override"]},
                    "inferred": {"type": "string", "enum": ["min", "max"]},
                },
            },
        },
    },
}
_SIDE_TOKEN = {
    "type": "string",
    "description": "A run id, or group:NAME (runs of the project sharing `group`).",
}
_COMPARE_QUERY = [
    {
        "name": "against",
        "in": "query",
        "required": False,
        "schema": {**_SIDE_TOKEN, "default": "baseline"},
        "description": "`baseline` (the project's), a run id, or group:NAME.",
    },
    {
        "name": "metric",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
        "description": (
            "Metrics to compare, all of them judged (default: every metric all sides logged, "
            "judged on the main ones: validation figures, losses, a sweep's objective)."
        ),
    },
    {"name": "by", "in": "query", "required": False, "schema": {"type": "string", "enum": ["final", "best"]}},
    {
        "name": "tolerance",
        "in": "query",
        "required": False,
        "schema": {"type": "number", "minimum": 0},
        "description": "Allowed shortfall as a fraction of the reference value (0.01 = 1%).",
    },
    {"name": "abs_tolerance", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0}},
    {"name": "curves", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}},
]
_COMPARISON = {
    "type": "object",
    "properties": {
        "reference": {"type": "object"},
        "sides": {"type": "array", "items": {"type": "object"}},
        "by": {"type": "string"},
        "main": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The metrics the comparison is judged on; each metric row says `main`.",
        },
        "tolerance": {"type": "object"},
        "metrics": {"type": "array", "items": {"type": "object"}},
        "missing": {"type": "object"},
        "config": {"type": "array"},
        "environment": {"type": "array"},
        "resources": {"type": "array"},
        "classes": {"type": ["array", "null"]},
        "worse": {"type": "boolean", "description": "Some main metric is worse beyond the tolerance."},
        "curves": {"type": "array"},
    },
}
PATHS = {
    "/projects/{name}/baseline": {
        "get": {
            "summary": "The project's active baseline and its history",
            "parameters": [NAME],
            "responses": {
                "200": {"description": "Baseline", **json_content(_BASELINE_STATE)},
                **errors(401, 404),
            },
        },
        "post": {
            "summary": "Make a run or a group the baseline (the previous one stays in the history)",
            "parameters": [NAME],
            "requestBody": {
                "required": True,
                **json_content(
                    {
                        "type": "object",
                        "properties": {
                            "run": {"type": "integer", "minimum": 1},
                            "group": {"type": "string", "minLength": 1, "maxLength": 200},
                            "note": {"type": "string", "maxLength": 2000},
                        },
                    }
                ),
            },
            "responses": {
                "200": {"description": "Baseline", **json_content(_BASELINE_STATE)},
                **errors(*WRITE_ERRORS),
            },
        },
        "delete": {
            "summary": "Retire the active baseline (kept in the history)",
            "parameters": [NAME],
            "responses": {
                "200": {"description": "Baseline", **json_content(_BASELINE_STATE)},
                **errors(401, 404),
            },
        },
    },
    "/projects/{name}/directions": {
        "get": {
            "summary": "Which way is better for each metric, and whether the project overrides the name",
            "parameters": [NAME],
            "responses": {
                "200": {"description": "Directions", **json_content(_DIRECTIONS)},
                **errors(401, 404),
            },
        },
        "post": {
            "summary": "Override a metric's direction in the project (null: back to the name's)",
            "parameters": [NAME],
            "requestBody": {
                "required": True,
                **json_content(
                    {
                        "type": "object",
                        "required": ["key"],
                        "properties": {
                            "key": {"type": "string", "minLength": 1, "maxLength": 200},
                            "direction": {"type": ["string", "null"], "enum": ["min", "max", None]},
                        },
                    }
                ),
            },
            "responses": {
                "200": {"description": "Directions", **json_content(_DIRECTIONS)},
                **errors(*WRITE_ERRORS),
            },
        },
    },
    "/runs/{run_id}/compare": {
        "get": {
            "summary": "A run against the project's baseline, another run or a group",
            "parameters": [RUN_ID, *_COMPARE_QUERY],
            "responses": {
                "200": {"description": "Comparison", **json_content(_COMPARISON)},
                **errors(400, 401, 404),
            },
        }
    },
    "/projects/{name}/compare": {
        "get": {
            "summary": "Runs and groups (side=...) against the baseline, a run or a group",
            "parameters": [
                NAME,
                {
                    "name": "side",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "array", "items": _SIDE_TOKEN},
                    "style": "form",
                    "explode": True,
                },
                *_COMPARE_QUERY,
            ],
            "responses": {
                "200": {"description": "Comparison", **json_content(_COMPARISON)},
                **errors(400, 401, 404),
            },
        }
    },
    "/groups": {
        "get": {
            "summary": "The projects that have runs in group `name`",
            "parameters": [{"name": "name", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Groups"}, **errors(400, 401)},
        }
    },
}
