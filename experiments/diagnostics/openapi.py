"""OpenAPI paths of diagnostics (``experiments.diagnostics.api``), registered by
``DiagnosticsConfig.ready``."""

from experiments.api.openapi import NAME, RUN_ID, WRITE_ERRORS, errors, json_content, query

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
            "collapsed_class, class_imbalance, no_validation, loss_spike, throughput (plug-ins may add more)",
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
        "caused_by": {
            "type": ["object", "null"],
            "description": "For a consequence of another active finding (dead ReLUs explain vanishing "
            "gradients): that cause (its id, kind, title, why it explains this one) and the root of the "
            "chain, under which the panel folds it; null for a root cause or a finding on its own.",
            "properties": {
                "id": {"type": "integer"},
                "kind": {"type": "string"},
                "title": {"type": "string"},
                "why": {"type": "string"},
                "root": {"type": "integer"},
            },
        },
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
        "total": {
            "type": "integer",
            "description": "Problems not dismissed: a root cause and the findings it explains count once, "
            "at the worst severity among them.",
        },
        "folded": {"type": "integer", "description": "Findings folded under their root cause."},
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
        "findings": {
            "type": "array",
            "items": _FINDING,
            "description": "Most pressing first, each root cause then what it explains; dismissed last.",
        },
    },
}
_FINDING_ID = {"name": "finding_id", "in": "path", "required": True, "schema": {"type": "integer"}}
PATHS = {
    "/runs/{run_id}/findings": {
        "get": {
            "summary": "What the analyzers found wrong with the run, most pressing first",
            "parameters": [RUN_ID],
            "responses": {"200": {"description": "Health", **json_content(_HEALTH)}, **errors(401, 404)},
        }
    },
    "/runs/{run_id}/findings/{finding_id}/dismiss": {
        "post": {
            "summary": "Dismiss a finding (or restore it with dismissed=false); holds for later passes",
            "parameters": [RUN_ID, _FINDING_ID],
            "requestBody": {
                "required": True,
                **json_content(
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
                "200": {"description": "The finding", **json_content(_FINDING)},
                **errors(*WRITE_ERRORS),
            },
        }
    },
    "/projects/{name}/findings": {
        "get": {
            "summary": "Per run with findings not dismissed: counts, worst severity, titles",
            "parameters": [
                NAME,
                query(
                    "run",
                    {"type": "array", "items": {"type": "integer"}},
                    description="Only these runs (repeat the parameter).",
                ),
            ],
            "responses": {
                "200": {
                    "description": "Health by run id",
                    **json_content(
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
                **errors(400, 401, 404),
            },
        }
    },
}
