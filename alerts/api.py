"""API endpoints of alerts and data checks (their OpenAPI paths: ``alerts.openapi``)."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from alerts import datachecks, services
from alerts.models import Level
from experiments import services as run_services
from experiments.api.http import api_view
from experiments.errors import ApiError

MAX_TITLE = 200
MAX_TEXT = 10_000


def _string(body: dict, name: str, limit: int, *, required: bool = False, default: str = "") -> str:
    value = body.get(name, None if required else default)
    if value is None and required:
        raise ApiError(f"{name} is required", name)
    if type(value) is not str or len(value) > limit or (required and not value.strip()):
        raise ApiError(
            f"must be a non-empty string of at most {limit} characters"
            if required
            else f"must be a string of at most {limit} characters",
            name,
        )
    return value


@api_view(("POST",))
def run_alert(request: HttpRequest, user, body: Any, run_id: int) -> tuple[dict, int]:
    """``POST {"title", "text", "level", "step"}`` (``tracker.alert``)."""
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object", "body")
    title = _string(body, "title", MAX_TITLE, required=True)
    text = _string(body, "text", MAX_TEXT)
    level = body.get("level", "info")
    if level not in Level.values:
        raise ApiError(f"must be one of {', '.join(Level.values)}, got {level!r:.40}", "level")
    step = body.get("step")
    if step is not None and (type(step) is not int or not 0 <= step < 2**63):
        raise ApiError(f"must be a non-negative integer or null, got {step!r:.40}", "step")
    run = run_services.run_get_for_user(user, run_id)
    rules = services.alert_send(run=run, title=title, text=text, level=level, step=step)
    return {
        "rules": [r.name for r in rules],
        "deliveries": sum(r.destinations.filter(enabled=True).count() for r in rules),
    }, 201


_SPLIT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@api_view(("GET", "POST"))
def run_datasets(request: HttpRequest, user, body: Any = None, run_id: int = 0) -> Any:
    """``POST {"name", "split", "profile", "hashes"}`` stores a profile; GET lists them."""
    run = run_services.run_get_for_user(user, run_id)
    if request.method == "GET":
        return {"run": run.pk, "datasets": datachecks.profiles_of(run)}
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object", "body")
    name = _string(body, "name", 200, required=True)
    split = body.get("split")
    if type(split) is not str or not _SPLIT.fullmatch(split):
        raise ApiError("must be 1 to 64 letters, digits, '_', '.' or '-' (train, val, test...)", "split")
    stored = datachecks.profile_store(
        run=run, name=name, split=split, profile=body.get("profile"), hashes=body.get("hashes", [])
    )
    return {"id": stored.pk, "name": stored.name, "split": stored.split}, 201
