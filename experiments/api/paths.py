"""OpenAPI paths of the core endpoints (``experiments.api.views``): runs, batches,
heartbeats, history and projects. Registered by ``experiments.apps``."""

from experiments.api.openapi import INT64_MAX, RUN_ID, STEP, VALUE, WRITE_ERRORS, errors, json_content

_JSON_LIMITS = "Nested at most TRACKER_MAX_JSON_DEPTH deep, at most {what} as JSON; no NUL in any string."
_UNIX = {"type": "number", "minimum": 0, "maximum": 253402300799}
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
            "maximum": INT64_MAX,
            "description": "Resume this run instead of creating one.",
        },
        "host": {"type": "string", "maxLength": 255},
        "git_commit": {"type": "string", "maxLength": 64},
        "python_version": {"type": "string", "maxLength": 64},
        "torch_version": {"type": "string", "maxLength": 64},
        "cuda_version": {"type": "string", "maxLength": 64},
        "join_key": {
            "type": "string",
            "maxLength": 200,
            "description": "Distributed training: every rank of one job sends the same key (the SDK "
            "derives it from the launcher's job id). The first rank creates the run; the others join it "
            "(200, resumed). A run that ended more than two minutes ago gives its key up to a new run.",
        },
        "world_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000000,
            "description": "The number of ranks of the job (shown on the run page).",
        },
        "started_at": {**_UNIX, "description": "When the run started (importers); default now."},
    },
}
_BATCH = {
    "type": "object",
    "required": ["writer", "seq", "rows"],
    "properties": {
        "writer": {"type": "string", "minLength": 1, "maxLength": 64},
        "seq": STEP,
        "rank": {"type": "integer", "minimum": 0, "maximum": 32767},
        "rows": {
            "type": "array",
            "items": {
                "type": "array",
                "description": "At most TRACKER_MAX_BATCH_KEYS distinct metric keys in a batch, and "
                "TRACKER_MAX_METRIC_KEYS in a run.",
                "prefixItems": [
                    STEP,
                    {"type": "number"},
                    {"type": "object", "additionalProperties": VALUE},
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
        "world_size": {"type": "integer"},
    },
}
_SERIES = {
    "type": "object",
    "properties": {
        "step": {"type": "array", "items": {"type": "integer"}},
        "value": {"type": "array", "items": VALUE},
        "wall_time": {"type": "array", "items": {"type": "number"}},
        "rank": {"type": "array", "items": {"type": "integer"}},
    },
}


PATHS = {
    "/runs": {
        "post": {
            "summary": "Create a run, resume one with `id`, or join one with `join_key`",
            "requestBody": {"required": True, **json_content(_RUN_START)},
            "responses": {
                "201": {"description": "Created", **json_content(_RUN)},
                "200": {"description": "Resumed or joined", **json_content(_RUN)},
                **errors(*WRITE_ERRORS),
            },
        }
    },
    "/runs/{run_id}": {
        "get": {
            "summary": "A run with its metric summaries",
            "parameters": [RUN_ID],
            "responses": {"200": {"description": "The run", **json_content(_RUN)}, **errors(401, 404)},
        }
    },
    "/runs/{run_id}/batches": {
        "post": {
            "summary": "Append a batch of points (all-or-nothing, idempotent by writer and seq)",
            "parameters": [RUN_ID],
            "requestBody": {"required": True, **json_content(_BATCH)},
            "responses": {
                "200": {
                    "description": "Stored, or acknowledged as a duplicate",
                    **json_content(
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
                **errors(*WRITE_ERRORS),
            },
        }
    },
    "/runs/{run_id}/heartbeat": {
        "post": {
            "summary": "Tell the server the client is alive",
            "parameters": [RUN_ID],
            "requestBody": {
                "required": True,
                **json_content({"type": "object", "properties": {"dropped": STEP}}),
            },
            "responses": {
                "200": {
                    "description": "Status",
                    **json_content(
                        {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string"},
                                "should_stop": {"type": "boolean"},
                            },
                        }
                    ),
                },
                **errors(*WRITE_ERRORS),
            },
        }
    },
    "/runs/{run_id}/finish": {
        "post": {
            "summary": "Mark a run finished or failed",
            "parameters": [RUN_ID],
            "requestBody": {
                "required": True,
                **json_content(
                    {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string", "enum": ["finished", "failed"]},
                            "exit_code": {"type": ["integer", "null"]},
                            "error": {"type": "string"},
                            "summary": {"type": "object"},
                            "dropped": STEP,
                            "finished_at": {**_UNIX, "description": "When it ended (importers); default now"},
                        },
                    }
                ),
            },
            "responses": {"200": {"description": "The run", **json_content(_RUN)}, **errors(*WRITE_ERRORS)},
        }
    },
    "/runs/{run_id}/history": {
        "get": {
            "summary": "Every stored point of the run's metrics",
            "parameters": [
                RUN_ID,
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
                    **json_content(
                        {
                            "type": "object",
                            "properties": {"metrics": {"type": "object", "additionalProperties": _SERIES}},
                        }
                    ),
                },
                **errors(401, 404),
            },
        }
    },
    "/runs/{run_id}/receipts": {
        "get": {
            "summary": "Per writer: the last seq, batches and points stored (importers resume from it)",
            "parameters": [RUN_ID],
            "responses": {"200": {"description": "Receipts by writer"}, **errors(401, 404)},
        }
    },
    "/projects": {
        "get": {
            "summary": "Projects you can see",
            "responses": {"200": {"description": "Projects"}, **errors(401)},
        }
    },
    "/projects/{name}/runs": {
        "get": {
            "summary": "A project's runs matching a query, one page (newest first by default)",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "q",
                    "in": "query",
                    "description": "The filter language: config.lr > 1e-3 and val/acc.max >= 0.95 ...",
                    "schema": {"type": "string"},
                },
                {
                    "name": "order",
                    "in": "query",
                    "description": "a run field (created, name, id) or a metric (-val/acc.max)",
                    "schema": {"type": "string", "default": "-created"},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            ],
            "responses": {
                "200": {
                    "description": "Runs",
                    **json_content(
                        {
                            "type": "object",
                            "properties": {
                                "runs": {"type": "array", "items": _RUN},
                                "total": {"type": "integer"},
                                "next_offset": {"type": ["integer", "null"]},
                            },
                        }
                    ),
                },
                **errors(400, 401, 404),
            },
        }
    },
}
