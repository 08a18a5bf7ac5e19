"""JSON API views: parse, authorise, call one service or query, shape the response."""

import re

from django.http import HttpRequest

from experiments import runops, services
from experiments.api.http import api_view
from experiments.api.serializers import run_dict, series_dict
from experiments.errors import ApiError, NotFound
from experiments.payloads import parse_batch, parse_dropped, parse_int, parse_run_end, parse_run_start
from experiments.queries import metric_history
from experiments.runsearch import runs_page
from experiments.selectors import (
    MEMBER,
    project_named,
    projects_visible_to,
    run_metrics,
    runs_of_project,
    runs_visible_to,
)


@api_view(("POST",))
def runs_create(request: HttpRequest, user, body) -> tuple[dict, int]:
    run, resumed = services.run_start(user=user, start=parse_run_start(body))
    data = run_dict(run, request)
    data["resumed"] = resumed
    return data, 200 if resumed else 201


def _should_stop(run) -> bool:
    return run.stop_requested


@api_view(("POST",))
def run_batches(request: HttpRequest, user, body, run_id: int) -> dict:
    batch = parse_batch(body)
    run = services.run_get_for_user(user, run_id, MEMBER)
    stored = services.batch_ingest(run=run, batch=batch)
    return {"stored": stored or 0, "duplicate": stored is None, "should_stop": _should_stop(run)}


@api_view(("POST",))
def run_heartbeat(request: HttpRequest, user, body, run_id: int) -> dict:
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object")
    quarantined = parse_quarantined(body)
    run = services.run_get_for_user(user, run_id, MEMBER)
    run = services.run_heartbeat(run=run, dropped=parse_dropped(body), quarantined=quarantined)
    return {"status": run.status, "should_stop": _should_stop(run)}


@api_view(("POST",))
def run_finish(request: HttpRequest, user, body, run_id: int) -> dict:
    end = parse_run_end(body)
    quarantined = parse_quarantined(body)
    run = services.run_get_for_user(user, run_id, MEMBER)
    run = services.run_finish(run=run, end=end, quarantined=quarantined)
    return run_dict(run, request, list(run_metrics(run)))


_WRITER = re.compile(r"[0-9A-Za-z_-]{1,64}")


def parse_quarantined(body: dict) -> dict | None:
    """The client's set-aside batches (tracker.quarantine), on heartbeat and finish:
    ``{"quarantined": {writer: {"batches": n, "points": m, "reason": str, "dir": str}}}``,
    the current totals of each writer named (0 batches: none left). None when absent.
    (Belongs with the other schemas in experiments.payloads.)"""
    report = body.get("quarantined")
    if report is None:
        return None
    if type(report) is not dict or len(report) > services.QUARANTINE_MAX_WRITERS:
        raise ApiError(
            f"must be an object of at most {services.QUARANTINE_MAX_WRITERS} "
            "{writer: {batches, points, reason, dir}}",
            "quarantined",
        )
    out = {}
    for writer, item in report.items():
        where = f"quarantined.{writer[:64]}"
        if not _WRITER.fullmatch(writer):
            raise ApiError("a writer id is 1 to 64 letters, digits, '-' or '_'", where)
        if type(item) is not dict:
            raise ApiError("must be an object {batches, points, reason, dir}", where)
        counts = {name: item.get(name) for name in ("batches", "points")}
        for name, value in counts.items():
            if type(value) is not int or not 0 <= value <= 2**53:
                raise ApiError("must be an integer from 0 to 2**53", f"{where}.{name}")
        texts = {}
        for name, limit in (("reason", 500), ("dir", 1000)):
            value = item.get(name) or ""
            if type(value) is not str:
                raise ApiError("must be a string", f"{where}.{name}")
            texts[name] = value[:limit].replace("\x00", "\ufffd")
        out[writer] = {**counts, **texts}
    return out


@api_view(("GET",))
def run_receipts(request: HttpRequest, user, run_id: int) -> dict:
    """Per writer, the batches the run stored: last seq, count and points. Importers,
    whose seqs are source-file offsets, resume each file where its last batch ended."""
    from django.db.models import Count, Max, Sum

    from experiments.models import BatchReceipt

    run = services.run_get_for_user(user, run_id)
    rows = BatchReceipt.objects.filter(run=run).values("writer")
    rows = rows.annotate(last_seq=Max("seq"), batches=Count("id"), points=Sum("points")).order_by()
    return {"writers": {r["writer"]: {k: r[k] for k in ("last_seq", "batches", "points")} for r in rows}}


@api_view(("GET",), allow_session=True)
def projects_list(request: HttpRequest, user) -> dict:
    from django.db.models import Count

    projects = projects_visible_to(user).annotate(n_runs=Count("runs")).order_by("name")
    return {"projects": [{"name": p.name, "runs": p.n_runs, "created_at": p.created_at} for p in projects]}


@api_view(("GET",), allow_session=True)
def project_runs(request: HttpRequest, user, name: str) -> dict:
    project = project_named(user, name)
    if project is None:
        raise NotFound(f"project {name!r} does not exist or is not yours", "project")
    params = request.GET
    page = runs_page(
        project,
        runops.archived_filter(runs_of_project(user, project), params.get("archived")),
        q=params.get("q", "").strip(),
        order=params.get("order", "-created").strip(),
        limit=parse_int(params.get("limit"), "limit", minimum=1, maximum=2**53),
        offset=parse_int(params.get("offset"), "offset", maximum=2**53) or 0,
    )
    return {
        "runs": [run_dict(r, request) for r in page.runs],
        "total": page.total,
        "next_offset": page.next_offset,
    }


@api_view(("GET",), allow_session=True)
def run_detail(request: HttpRequest, user, run_id: int) -> dict:
    run = services.run_get_for_user(user, run_id)
    return run_dict(run, request, list(run_metrics(run)))


@api_view(("PATCH",), csrf_session=True)
def run_edit(request: HttpRequest, user, body, run_id: int) -> dict:
    """Edit a run's name, group, tags, notes; archive or restore it; move it (``project``)."""
    changes = runops.parse_run_changes(body)
    run = runops.run_update(actor=user, run=services.run_get_for_user(user, run_id), changes=changes)
    return run_dict(run, request)


@api_view(("DELETE",), csrf_session=True)
def run_delete(request: HttpRequest, user, run_id: int) -> tuple[dict, int]:
    run = services.run_get_for_user(user, run_id)
    return {"deleted": runops.runs_delete(actor=user, runs=[run])}, 202


@api_view(("POST",), csrf_session=True)
def runs_bulk(request: HttpRequest, user, body) -> tuple[dict, int]:
    """One action on many runs: ``{"action": "delete" | "tag" | "untag" | "archive" |
    "restore", "runs": [ids],
    "tag": "..."}`` (the table's bulk actions). All or nothing: one run that is not
    allowed refuses the whole request."""
    action, ids, tag = runops.parse_bulk(body)
    runs = list(runs_visible_to(user).filter(pk__in=ids).select_related("project"))
    missing = sorted(set(ids) - {r.pk for r in runs})
    if missing:
        raise NotFound(f"run {missing[0]} does not exist or is not yours", "runs")
    if action == "delete":
        return {"deleted": runops.runs_delete(actor=user, runs=runs)}, 202
    if action in ("archive", "restore"):
        return {"changed": runops.runs_archive(actor=user, runs=runs, archived=action == "archive")}, 200
    return {"changed": runops.runs_tag(actor=user, runs=runs, tag=tag, add=action == "tag")}, 200


@api_view(("GET",), allow_session=True)
def run_history(request: HttpRequest, user, run_id: int) -> dict:
    run = services.run_get_for_user(user, run_id)
    keys = request.GET.getlist("key")
    metrics = run_metrics(run)
    if keys:
        metrics = metrics.filter(key__in=keys)
        unknown = set(keys) - {m.key for m in metrics}
        if unknown:
            raise NotFound(f"run {run.pk} has no metric {sorted(unknown)[0]!r}", "key")
    return {"metrics": {m.key: series_dict(metric_history(m)) for m in metrics}}
