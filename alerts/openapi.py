"""OpenAPI paths of alerts and data checks, registered by ``AlertsConfig.ready``."""

from experiments.api.openapi import RUN_ID, WRITE_ERRORS, errors, json_content

_ALERT_BODY = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "text": {"type": "string", "maxLength": 10000},
        "level": {"type": "string", "enum": ["info", "warning", "critical"]},
        "step": {"type": ["integer", "null"], "minimum": 0},
    },
}
_ALERT_ANSWER = {
    "type": "object",
    "properties": {
        "deliveries": {"type": "integer", "description": "Messages queued (0: no rule matched)."},
        "rules": {"type": "array", "items": {"type": "string"}},
    },
}
_DATASET_BODY = {
    "type": "object",
    "required": ["name", "split", "profile"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "split": {"type": "string", "minLength": 1, "maxLength": 64},
        "profile": {"type": "object"},
        "hashes": {"type": "array", "items": {"type": "string"}},
    },
}

PATHS = {
    "/api/v1/runs/{run_id}/alerts": {
        "post": {
            "summary": "Send an alert from training code (tracker.alert) through the project's alert rules",
            "parameters": [RUN_ID],
            "requestBody": {"required": True, **json_content(_ALERT_BODY)},
            "responses": {
                "201": {"description": "Queued", **json_content(_ALERT_ANSWER)},
                **errors(*WRITE_ERRORS),
            },
        }
    },
    "/api/v1/runs/{run_id}/datasets": {
        "post": {
            "summary": "Store a data set profile (tracker.log_dataset): statistics and row hashes, not rows",
            "parameters": [RUN_ID],
            "requestBody": {"required": True, **json_content(_DATASET_BODY)},
            "responses": {"201": {"description": "Stored"}, **errors(*WRITE_ERRORS)},
        },
        "get": {
            "summary": "The run's data set profiles (without row hashes)",
            "parameters": [RUN_ID],
            "responses": {"200": {"description": "Profiles"}, **errors(401, 404)},
        },
    },
}
