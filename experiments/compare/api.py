"""JSON API of baselines, metric directions and comparisons (under ``/api/v1/``; their
OpenAPI paths are in ``experiments.compare.openapi``).

Reads accept an API key or a browser session; writes need an API key (the browser sets
a baseline through the page's CSRF-protected form instead), so a session cannot be used
for a cross-site write.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, QueryDict

from experiments import services
from experiments.api.http import api_view, by_method
from experiments.compare.baselines import (
    baseline_active,
    baseline_clear,
    baseline_dict,
    baseline_history,
    baseline_set,
    project_get_for_user,
)
from experiments.compare.comparison import BY_CHOICES, compare, comparison_dict
from experiments.compare.curves import comparison_curves
from experiments.compare.sides import parse_side, reference_side, side_of_run
from experiments.directions import direction_override_set, project_direction_table
from experiments.errors import ApiError
from experiments.models import Metric
from experiments.payloads import check_str, parse_float
from experiments.selectors import MEMBER, require_role, runs_visible_to


def _baseline_state(project) -> dict:
    return {
        "project": project.name,
        "baseline": baseline_dict(baseline_active(project)),
        "history": [baseline_dict(b) for b in baseline_history(project)],
    }


@api_view(("GET",), allow_session=True)
def _baseline_read(request: HttpRequest, user, name: str) -> dict:
    return _baseline_state(project_get_for_user(user, name))


def _note(body: dict) -> str:
    note = body.get("note", "")
    if type(note) is not str or len(note) > 2000:
        raise ApiError("must be a string of at most 2000 characters", "note")
    return note


@api_view(("POST", "DELETE"))
def _baseline_write(request: HttpRequest, user, body=None, *, name: str) -> dict:
    project = project_get_for_user(user, name)
    require_role(user, project, MEMBER)
    if request.method == "DELETE":
        baseline_clear(project=project)
        return _baseline_state(project)
    if type(body) is not dict:
        raise ApiError('request body must be a JSON object: {"run": 12} or {"group": "seeds"}')
    run_id, group = body.get("run"), body.get("group")
    if (run_id is None) == (group is None):
        raise ApiError('give exactly one of "run" (a run id) and "group" (a group name)', "run")
    run = None
    if run_id is not None:
        if type(run_id) is not int or run_id < 1:
            raise ApiError("must be a positive integer run id", "run")
        run = services.run_get_for_user(user, run_id)
    elif type(group) is not str or not group.strip() or len(group) > 200:
        raise ApiError("must be a non-empty string of at most 200 characters", "group")
    baseline_set(user=user, project=project, run=run, group=(group or "").strip(), note=_note(body))
    return _baseline_state(project)


# GET the active baseline and its history; POST ``{"run": id}`` or ``{"group": "g"}`` to
# set it; DELETE to retire it (it stays in the history). Writes need an API key (no
# session), so no cross-site form can use them.
project_baseline = by_method(GET=_baseline_read, POST=_baseline_write, DELETE=_baseline_write)


def _project_keys(project) -> list[str]:
    return list(Metric.objects.filter(run__project=project).values_list("key", flat=True).distinct())


@api_view(("GET",), allow_session=True)
def _directions_read(request: HttpRequest, user, name: str) -> dict:
    project = project_get_for_user(user, name)
    return {"project": project.name, "directions": project_direction_table(project, _project_keys(project))}


@api_view(("POST",))
def _directions_write(request: HttpRequest, user, body, name: str) -> dict:
    project = project_get_for_user(user, name)
    require_role(user, project, MEMBER)
    if type(body) is not dict:
        raise ApiError('request body must be a JSON object: {"key": "val/margin", "direction": "min"}')
    key, direction = body.get("key"), body.get("direction")
    if type(key) is not str or not key.strip() or len(key) > 200:
        raise ApiError("must be a metric key (1 to 200 characters)", "key")
    if direction not in ("min", "max", None):
        raise ApiError('must be "min" (lower is better), "max" (higher is better) or null', "direction")
    direction_override_set(project=project, key=key.strip(), direction=direction)
    return {"project": project.name, "directions": project_direction_table(project, _project_keys(project))}


# GET every metric key's direction and its source; POST ``{"key", "direction"}`` to
# override one (``null`` goes back to the name's).
project_directions = by_method(GET=_directions_read, POST=_directions_write)


@dataclass
class CompareQuery:
    keys: list[str]
    by: str
    tolerance: float
    abs_tolerance: float
    curves: bool


def parse_compare_query(query: QueryDict) -> CompareQuery:
    """Every parameter of a comparison, checked before any run is read: a bad one is
    refused at once, not after the work it would have steered."""
    by = query.get("by", "final")
    if by not in BY_CHOICES:
        raise ApiError(f"must be one of {', '.join(BY_CHOICES)}, got {by[:40]!r}", "by")
    keys = [k for k in query.getlist("metric") if k]
    for key in keys:
        check_str(key, "metric", settings.TRACKER_MAX_KEY_LENGTH)
    return CompareQuery(
        keys=keys,
        by=by,
        tolerance=parse_float(query.get("tolerance"), "tolerance", 0.0, minimum=0),
        abs_tolerance=parse_float(query.get("abs_tolerance"), "abs_tolerance", 0.0, minimum=0),
        curves=query.get("curves") in ("1", "true"),
    )


def _comparison_response(q: CompareQuery, reference, sides) -> dict:
    result = compare(reference, sides, keys=q.keys or None, by=q.by)
    data = comparison_dict(result, tolerance=q.tolerance, abs_tolerance=q.abs_tolerance)
    if q.curves:
        data["curves"] = comparison_curves(reference, sides, result.keys, settings.TRACKER_CHART_POINTS)
    return data


@api_view(("GET",), allow_session=True)
def run_compare(request: HttpRequest, user, run_id: int) -> dict:
    """One run against ``against``: ``baseline`` (default), a run id or ``group:NAME``."""
    q = parse_compare_query(request.GET)
    run = services.run_get_for_user(user, run_id)
    reference = reference_side(user, run.project, request.GET.get("against", "baseline"))
    return _comparison_response(q, reference, [side_of_run(run)])


@api_view(("GET",), allow_session=True)
def project_compare(request: HttpRequest, user, name: str) -> dict:
    """Any runs and groups (``side=12&side=group:seeds``) against ``against``."""
    q = parse_compare_query(request.GET)
    project = project_get_for_user(user, name)
    tokens = [t for t in request.GET.getlist("side") if t.strip()]
    if not tokens:
        raise ApiError("give at least one side: a run id or group:NAME", "side")
    sides = [parse_side(user, project, token, "side") for token in tokens]
    reference = reference_side(user, project, request.GET.get("against", "baseline"))
    return _comparison_response(q, reference, sides)


@api_view(("GET",), allow_session=True)
def groups_find(request: HttpRequest, user) -> dict:
    """The projects holding runs of group ``name`` (the CLI uses it to find a group's
    project when none is given)."""
    name = request.GET.get("name", "").strip()
    if not name:
        raise ApiError("give the group's name", "name")
    rows = (
        runs_visible_to(user)
        .filter(group=name)
        .values("project__name")
        .annotate(n=Count("id"))
        .order_by("project__name")
    )
    return {"groups": [{"project": r["project__name"], "group": name, "runs": r["n"]} for r in rows]}
