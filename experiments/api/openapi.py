"""The OpenAPI 3.1 description of the v1 API, served at /api/v1/openapi.json so that
clients can be generated and the API fuzzed (e.g. with schemathesis)."""

from django.http import HttpRequest, HttpResponse

from experiments.api.decorators import json_response

_ERROR = {
    "type": "object",
    "required": ["error", "field"],
    "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]}},
}
# Integers are stored in 64-bit columns: larger ones are refused naming the field.
_INT64_MAX = 2**63 - 1
_STEP = {"type": "integer", "minimum": 0, "maximum": _INT64_MAX}
_VALUE = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "A metric value; non-finite values travel as strings.",
}
_JSON_LIMITS = "Nested at most TRACKER_MAX_JSON_DEPTH deep, at most {what} as JSON; no NUL in any string."
_RUN_START = {
    "type": "object",
    "required": ["project"],
    "properties": {
        "project": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "description": "Printable, no '/', not '.' or '..': it is part of the project's URLs.",
        },
        "name": {"type": "string", "maxLength": 200},
        "group": {"type": "string", "maxLength": 200},
        "tags": {
            "type": "array",
            "maxItems": 100,
            "items": {"type": "string", "maxLength": 100},
            "description": "At most TRACKER_MAX_TAGS tags of TRACKER_MAX_TAG_LENGTH characters.",
        },
        "config": {"type": "object", "description": _JSON_LIMITS.format(what="TRACKER_MAX_CONFIG_BYTES")},
        "id": {
            "type": "integer",
            "minimum": 1,
            "maximum": _INT64_MAX,
            "description": "Resume this run instead of creating one.",
        },
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
        "seq": _STEP,
        "rank": {"type": "integer", "minimum": 0, "maximum": 32767},
        "rows": {
            "type": "array",
            "items": {
                "type": "array",
                "description": "At most TRACKER_MAX_BATCH_KEYS distinct metric keys in a batch, and "
                "TRACKER_MAX_METRIC_KEYS in a run.",
                "prefixItems": [
                    _STEP,
                    {"type": "number"},
                    {"type": "object", "additionalProperties": _VALUE},
                ],
                "minItems": 3,
                "maxItems": 3,
            },
        },
        "summary": {"type": "object", "description": _JSON_LIMITS.format(what="TRACKER_MAX_SUMMARY_BYTES")},
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


_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
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
                    **_json({"type": "object", "properties": {"dropped": _STEP}}),
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
                                "dropped": _STEP,
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


# --- Baselines, metric directions and comparisons (experiments.api.compare_views) ---

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
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
        "description": "Metrics to compare (default: every metric all sides logged).",
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
        "tolerance": {"type": "object"},
        "metrics": {"type": "array", "items": {"type": "object"}},
        "missing": {"type": "object"},
        "config": {"type": "array"},
        "environment": {"type": "array"},
        "resources": {"type": "array"},
        "classes": {"type": ["array", "null"]},
        "worse": {"type": "boolean", "description": "Some metric is worse beyond the tolerance."},
        "curves": {"type": "array"},
    },
}
SCHEMA["paths"].update(
    {
        "/projects/{name}/baseline": {
            "get": {
                "summary": "The project's active baseline and its history",
                "parameters": [_NAME],
                "responses": {
                    "200": {"description": "Baseline", **_json(_BASELINE_STATE)},
                    **_errors(401, 404),
                },
            },
            "post": {
                "summary": "Make a run or a group the baseline (the previous one stays in the history)",
                "parameters": [_NAME],
                "requestBody": {
                    "required": True,
                    **_json(
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
                    "200": {"description": "Baseline", **_json(_BASELINE_STATE)},
                    **_errors(*_WRITE_ERRORS),
                },
            },
            "delete": {
                "summary": "Retire the active baseline (kept in the history)",
                "parameters": [_NAME],
                "responses": {
                    "200": {"description": "Baseline", **_json(_BASELINE_STATE)},
                    **_errors(401, 404),
                },
            },
        },
        "/projects/{name}/directions": {
            "get": {
                "summary": "Which way is better for each metric, and whether the project overrides the name",
                "parameters": [_NAME],
                "responses": {
                    "200": {"description": "Directions", **_json(_DIRECTIONS)},
                    **_errors(401, 404),
                },
            },
            "post": {
                "summary": "Override a metric's direction in the project (null: back to the name's)",
                "parameters": [_NAME],
                "requestBody": {
                    "required": True,
                    **_json(
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
                    "200": {"description": "Directions", **_json(_DIRECTIONS)},
                    **_errors(*_WRITE_ERRORS),
                },
            },
        },
        "/runs/{run_id}/compare": {
            "get": {
                "summary": "A run against the project's baseline, another run or a group",
                "parameters": [_RUN_ID, *_COMPARE_QUERY],
                "responses": {
                    "200": {"description": "Comparison", **_json(_COMPARISON)},
                    **_errors(400, 401, 404),
                },
            }
        },
        "/projects/{name}/compare": {
            "get": {
                "summary": "Runs and groups (side=...) against the baseline, a run or a group",
                "parameters": [
                    _NAME,
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
                    "200": {"description": "Comparison", **_json(_COMPARISON)},
                    **_errors(400, 401, 404),
                },
            }
        },
        "/groups": {
            "get": {
                "summary": "The projects that have runs in group `name`",
                "parameters": [
                    {"name": "name", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "Groups"}, **_errors(400, 401)},
            }
        },
    }
)


# --- Media and checkpoints (experiments.api.media_views) ---------------------------

_MEDIA_ITEM = {
    "type": "object",
    "required": ["uid", "kind", "name", "step", "data"],
    "properties": {
        "uid": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_.:-]{1,64}$",
            "description": "Stored once per run.",
        },
        "kind": {
            "type": "string",
            "enum": ["confusion_matrix", "roc_curve", "pr_curve", "histogram", "model_summary"],
        },
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "step": _STEP,
        "data": {
            "type": "object",
            "description": "confusion_matrix: {labels, matrix}; roc_curve/pr_curve: {curves: [{label, x, y, "
            "thresholds, auc, positives}], average}; histogram: {edges, counts, nonfinite}; "
            "model_summary: {model, rows: [{name, type, depth, params, trainable, bytes, shapes}], "
            "total_params, trainable_params, bytes}",
        },
    },
}
_CHECKPOINT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "step": {"type": "integer"},
        "uid": {"type": "string"},
        "filename": {"type": "string"},
        "sha256": {"type": "string"},
        "size": {"type": "integer"},
        "metrics": {"type": "object", "additionalProperties": {"type": "number"}},
        "best_metric": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}


def _query(name: str, schema: dict, required: bool = False, description: str = "") -> dict:
    param = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**param, "description": description} if description else param


SCHEMA["paths"].update(
    {
        "/runs/{run_id}/media": {
            "post": {
                "summary": "Store media items (all-or-nothing; an item whose uid is stored is skipped)",
                "parameters": [_RUN_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 1000,
                                    "items": _MEDIA_ITEM,
                                }
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "Stored",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "stored": {"type": "integer"},
                                    "duplicates": {"type": "integer"},
                                },
                            }
                        ),
                    },
                    **_errors(*_WRITE_ERRORS),
                },
            },
            "get": {
                "summary": "The run's media, filtered by kind, name and step",
                "parameters": [
                    _RUN_ID,
                    _query("kind", _MEDIA_ITEM["properties"]["kind"]),
                    _query("name", {"type": "string"}),
                    _query("step", {"type": "integer"}),
                ],
                "responses": {
                    "200": {
                        "description": "Media",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "media": {"type": "array", "items": _MEDIA_ITEM},
                                    "truncated": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 404),
                },
            },
        },
        "/runs/{run_id}/checkpoints": {
            "post": {
                "summary": "Upload a checkpoint file (the body); SHA-256 and size are verified",
                "parameters": [
                    _RUN_ID,
                    _query("step", _STEP, required=True),
                    _query("sha256", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, required=True),
                    _query("uid", {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}, required=True),
                    _query("filename", {"type": "string", "maxLength": 255}),
                    _query("metrics", {"type": "string"}, description="JSON object {metric: number}"),
                    _query("keep_best", {"type": "integer", "minimum": 1}, description="keep the k best"),
                    _query("best_metric", {"type": "string"}, description="the metric that ranks them"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "responses": {
                    "201": {"description": "Stored", **_json(_CHECKPOINT)},
                    "200": {"description": "Already stored (same uid)", **_json(_CHECKPOINT)},
                    **_errors(400, 401, 404, 405, 413),
                },
            },
            "get": {
                "summary": "The run's checkpoints, or the one `which` picks",
                "parameters": [
                    _RUN_ID,
                    _query("which", {"type": "string"}, description="best, latest or a step"),
                    _query(
                        "metric", {"type": "string"}, description="ranks `best` (default: the keep-best one)"
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Checkpoints",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"checkpoints": {"type": "array", "items": _CHECKPOINT}},
                            }
                        ),
                    },
                    **_errors(400, 401, 404),
                },
            },
        },
        "/runs/{run_id}/checkpoints/{checkpoint_id}/file": {
            "get": {
                "summary": "Download a checkpoint (X-Checkpoint-Sha256 header)",
                "parameters": [
                    _RUN_ID,
                    {"name": "checkpoint_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **_errors(401, 404),
                },
            }
        },
    }
)


# --- Diagnostics (experiments.api.diagnostics_views) ----------------------------------

_SEVERITY = {"type": "string", "enum": ["critical", "warning", "info"]}
_COUNTS = {
    "type": "object",
    "properties": {
        "critical": {"type": "integer"},
        "warning": {"type": "integer"},
        "info": {"type": "integer"},
    },
}
_FINDING = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "analyzer": {"type": "string"},
        "kind": {
            "type": "string",
            "description": "overfitting, underfitting, not_converged, divergence, lr_too_high, lr_too_low, "
            "exploding_gradients, vanishing_gradients, dead_relu, gpu_memory_pressure, gpu_underused, "
            "collapsed_class, class_imbalance, no_validation (plug-ins may add more)",
        },
        "subject": {"type": "string", "description": "A layer, a GPU, a split, or empty."},
        "severity": _SEVERITY,
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "explanation": {"type": "string"},
        "remedies": {"type": "array", "items": {"type": "string"}, "description": "Best first."},
        "evidence": {
            "type": "object",
            "description": "Numbers by name; names ending in _step, _pct, _bytes say their unit.",
        },
        "keys": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Metrics the evidence lies on.",
        },
        "marks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"step": {"type": "integer"}, "label": {"type": "string"}},
            },
        },
        "step_start": {"type": ["integer", "null"]},
        "step_end": {"type": ["integer", "null"]},
        "score": {"type": "number"},
        "first_seen_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "dismissed": {"type": "boolean"},
        "dismissed_at": {"type": ["string", "null"], "format": "date-time"},
        "dismissed_by": {"type": ["string", "null"]},
        "dismiss_note": {"type": "string"},
    },
}
_HEALTH = {
    "type": "object",
    "properties": {
        "run": {"type": "integer"},
        "status": {"type": "string"},
        "diagnosed_at": {"type": ["string", "null"], "format": "date-time"},
        "diagnosed_step": {"type": ["integer", "null"]},
        "analyzer_errors": {"type": "object", "additionalProperties": {"type": "string"}},
        "counts": _COUNTS,
        "total": {"type": "integer", "description": "Findings not dismissed."},
        "dismissed": {"type": "integer"},
        "next": {
            "type": "array",
            "description": "What to try next: the first remedy of the most pressing findings.",
            "items": {
                "type": "object",
                "properties": {
                    "finding": {"type": "integer"},
                    "severity": _SEVERITY,
                    "title": {"type": "string"},
                    "action": {"type": "string"},
                },
            },
        },
        "findings": {"type": "array", "items": _FINDING},
    },
}
_FINDING_ID = {"name": "finding_id", "in": "path", "required": True, "schema": {"type": "integer"}}
SCHEMA["paths"].update(
    {
        "/runs/{run_id}/findings": {
            "get": {
                "summary": "What the analyzers found wrong with the run, most pressing first",
                "parameters": [_RUN_ID],
                "responses": {"200": {"description": "Health", **_json(_HEALTH)}, **_errors(401, 404)},
            }
        },
        "/runs/{run_id}/findings/{finding_id}/dismiss": {
            "post": {
                "summary": "Dismiss a finding (or restore it with dismissed=false); holds for later passes",
                "parameters": [_RUN_ID, _FINDING_ID],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "dismissed": {"type": "boolean", "default": True},
                                "note": {"type": "string", "maxLength": 2000},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "The finding", **_json(_FINDING)},
                    **_errors(*_WRITE_ERRORS),
                },
            }
        },
        "/projects/{name}/findings": {
            "get": {
                "summary": "Per run with findings not dismissed: counts, worst severity, titles",
                "parameters": [
                    _NAME,
                    _query(
                        "run",
                        {"type": "array", "items": {"type": "integer"}},
                        description="Only these runs (repeat the parameter).",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Health by run id",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "project": {"type": "string"},
                                    "runs": {
                                        "type": "object",
                                        "additionalProperties": {
                                            "type": "object",
                                            "properties": {
                                                "counts": _COUNTS,
                                                "worst": _SEVERITY,
                                                "titles": {"type": "array", "items": {"type": "string"}},
                                            },
                                        },
                                    },
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 404),
                },
            }
        },
    }
)


def register_paths(paths: dict) -> None:
    """Add another app's endpoints to the schema (called from its AppConfig.ready), so
    the schema describes every endpoint without this module importing other apps."""
    SCHEMA["paths"].update(paths)


def schema_view(request: HttpRequest) -> HttpResponse:
    return json_response(SCHEMA)
