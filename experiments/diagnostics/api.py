"""API views of diagnostics (under ``/api/v1/``; their OpenAPI paths are in
``experiments.diagnostics.openapi``): a run's findings (the Health panel reads the same),
the project's per-run summary (the runs table's badges), and dismissing a finding."""

from typing import Any

from django.http import HttpRequest

from experiments import services
from experiments.api.http import api_view
from experiments.diagnostics import store
from experiments.errors import ApiError, NotFound
from experiments.payloads import parse_int
from experiments.selectors import MEMBER, project_named

MAX_NOTE = 2000


@api_view(("GET",), allow_session=True)
def run_findings(request: HttpRequest, user, run_id: int) -> dict:
    run = services.run_get_for_user(user, run_id)
    return store.run_health(run)


@api_view(("GET",), allow_session=True)
def project_findings(request: HttpRequest, user, name: str) -> dict:
    project = project_named(user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    raw = request.GET.getlist("run")
    run_ids = [parse_int(value, "run", minimum=1) for value in raw if value.strip()] if raw else None
    health = store.project_health(project, run_ids)
    return {"project": project.name, "runs": {str(run_id): item for run_id, item in health.items()}}


def _parse_dismiss(body: Any) -> tuple[bool, str]:
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object", "body")
    dismissed = body.get("dismissed", True)
    if type(dismissed) is not bool:
        raise ApiError(f"must be true or false, got {dismissed!r:.40}", "dismissed")
    note = body.get("note", "")
    if type(note) is not str or len(note) > MAX_NOTE:
        raise ApiError(f"must be a string of at most {MAX_NOTE} characters", "note")
    return dismissed, note


@api_view(("POST",), csrf_session=True)
def finding_dismiss(request: HttpRequest, user, body, run_id: int, finding_id: int) -> dict:
    """``POST {"dismissed": true|false, "note": ""}``: with an API key like every write,
    or from the run page with the browser's session and its CSRF token."""
    dismissed, note = _parse_dismiss(body)
    run = services.run_get_for_user(user, run_id, MEMBER)
    return store.finding_dismiss(run=run, finding_id=finding_id, user=user, dismissed=dismissed, note=note)
