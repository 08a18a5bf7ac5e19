"""OpenAPI paths of media and checkpoints (``experiments.media.api``). Registered by
``experiments.apps``."""

from experiments.api.openapi import RUN_ID, STEP, WRITE_ERRORS, errors, json_content, query

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
            "enum": [
                "confusion_matrix",
                "roc_curve",
                "pr_curve",
                "histogram",
                "model_summary",
                "text",
                "image",
            ],
        },
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "step": STEP,
        "data": {
            "type": "object",
            "description": "confusion_matrix: {labels, matrix}; roc_curve/pr_curve: {curves: [{label, x, y, "
            "thresholds, auc, positives}], average}; histogram: {edges, counts, nonfinite}; "
            "model_summary: {model, rows: [{name, type, depth, params, trainable, bytes, shapes}], "
            "total_params, trainable_params, bytes}; text: {value} (a string of at most "
            "TRACKER_MAX_TEXT_LENGTH characters, no NUL; name is the key logged); image: {png (base64 of a "
            "PNG of at most 4 MiB), width, height (as in the PNG's header), caption}",
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

PATHS = {
    "/runs/{run_id}/media": {
        "post": {
            "summary": "Store media items (all-or-nothing; an item whose uid is stored is skipped)",
            "parameters": [RUN_ID],
            "requestBody": {
                "required": True,
                **json_content(
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
                    **json_content(
                        {
                            "type": "object",
                            "properties": {
                                "stored": {"type": "integer"},
                                "duplicates": {"type": "integer"},
                            },
                        }
                    ),
                },
                **errors(*WRITE_ERRORS),
            },
        },
        "get": {
            "summary": "The run's media, filtered by kind, name and step",
            "parameters": [
                RUN_ID,
                query("kind", _MEDIA_ITEM["properties"]["kind"]),
                query("name", {"type": "string"}),
                query("step", {"type": "integer"}),
            ],
            "responses": {
                "200": {
                    "description": "Media",
                    **json_content(
                        {
                            "type": "object",
                            "properties": {
                                "media": {"type": "array", "items": _MEDIA_ITEM},
                                "truncated": {"type": "boolean"},
                            },
                        }
                    ),
                },
                **errors(400, 401, 404),
            },
        },
    },
    "/runs/{run_id}/checkpoints": {
        "post": {
            "summary": "Upload a checkpoint file (the body); SHA-256 and size are verified",
            "parameters": [
                RUN_ID,
                query("step", STEP, required=True),
                query("sha256", {"type": "string", "pattern": "^[0-9a-f]{64}$"}, required=True),
                query("uid", {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}, required=True),
                query("filename", {"type": "string", "maxLength": 255}),
                query("metrics", {"type": "string"}, description="JSON object {metric: number}"),
                query("keep_best", {"type": "integer", "minimum": 1}, description="keep the k best"),
                query("best_metric", {"type": "string"}, description="the metric that ranks them"),
            ],
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "201": {"description": "Stored", **json_content(_CHECKPOINT)},
                "200": {"description": "Already stored (same uid)", **json_content(_CHECKPOINT)},
                **errors(400, 401, 404, 405, 413),
            },
        },
        "get": {
            "summary": "The run's checkpoints, or the one `which` picks",
            "parameters": [
                RUN_ID,
                query("which", {"type": "string"}, description="best, latest or a step"),
                query("metric", {"type": "string"}, description="ranks `best` (default: the keep-best one)"),
            ],
            "responses": {
                "200": {
                    "description": "Checkpoints",
                    **json_content(
                        {
                            "type": "object",
                            "properties": {"checkpoints": {"type": "array", "items": _CHECKPOINT}},
                        }
                    ),
                },
                **errors(400, 401, 404),
            },
        },
    },
    "/runs/{run_id}/checkpoints/{checkpoint_id}/file": {
        "get": {
            "summary": "Download a checkpoint (X-Checkpoint-Sha256 header)",
            "parameters": [
                RUN_ID,
                {"name": "checkpoint_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {
                    "description": "The file",
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                **errors(401, 404),
            },
        }
    },
}
