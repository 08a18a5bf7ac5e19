"""Projects list and a project's runs table."""

import dataclasses
import json
import math
from typing import NamedTuple
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe

from dashboard.views.saved_views import saved_views
from experiments import export
from experiments.api.http import checked, page_json
from experiments.directions import project_overrides
from experiments.errors import ApiError
from experiments.filters import FilterError, filter_runs
from experiments.formatting import fmt_datetime, fmt_duration, fmt_number, is_bad
from experiments.group_curves import MAX_GROUPS, group_lines
from experiments.grouping import GroupRow, filter_literal, group_members, runs_groups
from experiments.models import Run
from experiments.payloads import is_routable_project_name, parse_int
from experiments.selectors import can_admin, can_write, project_named_or_404, runs_of_project
from experiments.tables import (
    DEFAULT_CONFIG_COLUMNS,
    DEFAULT_METRIC_COLUMNS,
    DEFAULT_SUMMARIES,
    INTERNAL_GROUPS,
    SUMMARIES,
    MetricCell,
    RunRow,
    RunsTable,
    projects_overview,
    row_sort_value,
    runs_table,
    runs_table_rows,
    valid_sort,
    valid_summaries,
)

# Runs one rows.json request may ask for; the page asks in slices of this size.
MAX_ROWS_PER_REQUEST = 200


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = list(projects_overview(request.user))
    for project in projects:
        # A name stored before names were checked (one with a '/') has no pages: listed, unlinked.
        project.url = reverse("project", args=[project.ref]) if is_routable_project_name(project.name) else ""
    return render(request, "projects/list.html", {"projects": projects})


def _column_choice(params: QueryDict) -> tuple[list[str] | None, list[str] | None]:
    """Chosen columns from the query string; None (the default) until the column menu
    has been submitted once, which sets ``cols``, so that "no columns" stays expressible."""
    if "cols" not in params:
        return None, None
    return [k for k in params.getlist("c") if k], [k for k in params.getlist("m") if k]


def _archived(request: HttpRequest) -> bool:
    """Whether the page lists the archived runs (``archived=1``) instead of the others."""
    return request.GET.get("archived", "") in ("1", "true")


def _filtered_runs(
    request: HttpRequest, project, visible: QuerySet[Run] | None = None
) -> tuple[QuerySet[Run], str, FilterError | None]:
    """The user's runs of ``project`` (``visible`` when the caller has them) that pass the
    page's filter (``q``), the filter, and its error (then no runs). Archived runs only
    with ``archived=1``, and then only they."""
    query = request.GET.get("q", "").strip()
    if visible is None:
        visible = runs_of_project(request.user, project)
    runs = visible.filter(archived_at__isnull=not _archived(request))
    try:
        return (filter_runs(runs, query, project_overrides(project)) if query else runs), query, None
    except FilterError as error:
        return runs.none(), query, error


@login_required
@checked
def project_detail(request: HttpRequest, name: str) -> HttpResponse:
    project = project_named_or_404(request.user, name)
    if name != project.ref:  # a team's project by its bare name (its URL before teams)
        query = request.META.get("QUERY_STRING", "")
        return HttpResponseRedirect(reverse("project", args=[project.ref]) + (f"?{query}" if query else ""))
    config_keys, metric_keys = _column_choice(request.GET)
    visible = runs_of_project(request.user, project)
    runs, query, filter_error = _filtered_runs(request, project, visible)
    table = runs_table(
        project=project,
        runs=runs,
        config_keys=config_keys,
        metric_keys=metric_keys,
        sort=request.GET.get("sort", "-created"),
        offset=parse_int(request.GET.get("offset"), "offset", maximum=2**53) or 0,
        summaries=request.GET.getlist("s"),
    )
    group_by = request.GET.get("group_by", "").strip()
    table = dataclasses.replace(table, query=query, group_by=group_by)
    groups = None
    if group_by and filter_error is None:
        try:
            groups = _group_views(group_by, runs_groups(runs, group_by, table.metric_keys), table, query)
        except FilterError as error:
            filter_error = error
    page_data = {
        "project": project.ref,
        "wsPath": f"/ws/projects/{project.pk}/",
        "rowsUrl": reverse("project-rows", args=[project.ref]),
        "sort": table.sort,
        "chosen": config_keys is not None,
        "configKeys": table.config_keys,
        "metricKeys": table.metric_keys,
        "summaries": table.summaries,
        "allConfigKeys": table.all_config_keys,
        "allMetricKeys": table.all_metric_keys,
        "defaultColumns": {"config": DEFAULT_CONFIG_COLUMNS, "metric": DEFAULT_METRIC_COLUMNS},
        # Where the column menu files keys that arrive live (the rest go to "other").
        "internalGroups": [[group, list(prefixes)] for group, _label, prefixes in INTERNAL_GROUPS],
        "maxRowsPerRequest": MAX_ROWS_PER_REQUEST,
        "query": query,
        "paged": table.offset > 0 or table.total > len(table.rows),
        "groupBy": group_by,
        "groupCurvesUrl": reverse("project-group-curves", args=[project.ref]),
        "archived": _archived(request),
    }
    admin = can_admin(request.user, project)
    rows_html = _rows_html(table.rows, table.config_keys, table.metric_keys, table.sort, table.summaries)
    context = {
        "project": project,
        "table": table,
        "columns": _header(table),
        "rows_html": mark_safe("\n".join(rows_html)),  # every value went through the fragment's autoescape
        "n_columns": 5 + len(table.config_keys) + len(table.summaries) * len(table.metric_keys),
        "summary_choices": [(summary, summary in table.summaries) for summary in SUMMARIES],
        "custom_summaries": table.summaries != list(DEFAULT_SUMMARIES),
        "page_data": page_data,
        "query": query,
        "filter_error": filter_error,
        "filter_caret": " " * (filter_error.column - 1) + "^" if filter_error else "",
        "pager": _pager(request, table),
        "can_admin": admin,
        "group_by": group_by,
        "groups": groups,
        "export_query": _without(request.GET, "offset"),
        "saved_views": saved_views(request.user, project, admin=admin),
        "can_write": admin or can_write(request.user, project),
        "archived": _archived(request),
        "n_archived": visible.exclude(archived_at=None).count(),
        "archived_url": _archived_toggle(request),
        "group_choices": ["group", "status", *(f"config.{k}" for k in table.all_config_keys[:50])],
    }
    return render(request, "projects/detail.html", context, status=400 if filter_error else 200)


@login_required
@checked
def project_export(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    """The runs table as a file: every run passing the filter (not one page), in the
    table's order, with its columns (``q``, ``sort``, ``cols``/``c``/``m`` as the page)."""
    project = project_named_or_404(request.user, name)
    config_keys, metric_keys = _column_choice(request.GET)
    runs, _query, filter_error = _filtered_runs(request, project)
    if filter_error is not None:
        message = f"q: {filter_error.message} at column {filter_error.column}"
        return HttpResponseBadRequest(message, content_type="text/plain")
    table = runs_table(
        project=project,
        runs=runs,
        config_keys=config_keys,
        metric_keys=metric_keys,
        sort=request.GET.get("sort", "-created"),
        limit=0,
        summaries=request.GET.getlist("s"),
    )
    filename = f"{project.name}-runs.{fmt}"
    if fmt == "parquet":
        try:
            data = export.parquet_bytes(table, runs)
        except ApiError as error:
            return HttpResponseBadRequest(f"{error.field}: {error.message}", content_type="text/plain")
        response = HttpResponse(data, content_type="application/vnd.apache.parquet")
    else:
        lines = export.csv_lines(table, runs)
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _group_views(by: str, groups: list[GroupRow], table: RunsTable, query: str) -> list[dict]:
    """Each group's row: its value, count, and mean ± std (min–max) per metric column,
    with a link to the table filtered to its runs."""
    views = []
    for group in groups:
        condition = f"{by} = {filter_literal(group.value)}" if group.value is not None else ""
        members = f"({query}) and {condition}" if query and condition else (condition or query)
        cells = []
        for key in table.metric_keys:
            stats = group.metrics.get(key)
            if stats is None:
                cells.append(None)
                continue
            spread = f" ± {fmt_number(stats.std)}" if stats.std is not None else ""
            cells.append(
                {
                    "mean": f"{fmt_number(stats.mean)}{spread}",
                    "range": f"{fmt_number(stats.min)} – {fmt_number(stats.max)}, n={stats.n}",
                }
            )
        views.append(
            {
                "value": "(not set)" if group.value is None else str(group.value),
                "count": group.count,
                "cells": cells,
                "url": "?" + urlencode({"q": members}) if condition else "",
            }
        )
    return views


@page_json
def project_group_curves(request: HttpRequest, name: str) -> dict:
    """The group-by's charts: per group (the largest MAX_GROUPS), the mean curve of
    ``key`` with its bands and its members' curves; ``q`` and ``archived`` as the table."""
    project = project_named_or_404(request.user, name)
    runs, _query, filter_error = _filtered_runs(request, project)
    if filter_error is not None:
        raise ApiError(f"{filter_error.message} at column {filter_error.column}", "q")
    by = request.GET.get("group_by", "").strip()
    key = request.GET.get("key", "")
    if not by:
        raise ApiError("give group_by: config.KEY, group or status", "group_by")
    if not key:
        raise ApiError("give the metric to chart", "key")
    try:
        groups = runs_groups(runs, by, [])[:MAX_GROUPS]
        members = [(g.value, g.count, group_members(runs, by, g.value)) for g in groups]
    except FilterError as error:
        raise ApiError(str(error), "group_by") from None
    labelled = [("(not set)" if v is None else str(v), n, qs) for v, n, qs in members]
    return {"key": key, "group_by": by, "groups": group_lines(labelled, key)}


def _without(params: QueryDict, *names: str) -> str:
    """``params`` as a query string without ``names`` (e.g. the page offset)."""
    params = params.copy()
    for name in names:
        params.pop(name, None)
    return params.urlencode()


def _archived_toggle(request: HttpRequest) -> str:
    """The page's URL listing the archived runs instead of the others, or back."""
    params = request.GET.copy()
    for name in ("offset", "archived"):
        params.pop(name, None)
    if not _archived(request):
        params["archived"] = "1"
    return "?" + params.urlencode()


def _pager(request: HttpRequest, table: RunsTable) -> dict | None:
    """Links to the previous and next page of the table, keeping the rest of the URL;
    None when every run fits on one page."""
    if table.offset == 0 and table.total <= table.limit:
        return None

    def url(offset: int) -> str:
        params = request.GET.copy()
        params.pop("offset", None)
        if offset:
            params["offset"] = str(offset)
        return "?" + params.urlencode()

    last = table.offset + len(table.rows)
    more = last < table.total
    return {
        "first": table.offset + 1 if table.rows else 0,
        "last": last,
        "total": table.total,
        "prev": url(max(0, table.offset - table.limit)) if table.offset else "",
        "next": url(table.offset + table.limit) if more else "",
    }


def _run_ids(params: QueryDict) -> list[int]:
    """The ``run`` ids asked for. Raises ApiError naming the field."""
    raw = params.getlist("run")
    if not raw:
        raise ApiError("give at least one run id", "run")
    if len(raw) > MAX_ROWS_PER_REQUEST:
        raise ApiError(f"at most {MAX_ROWS_PER_REQUEST} runs per request, got {len(raw)}", "run")
    ids = [parse_int(value, "run", minimum=1) for value in raw]
    if None in ids:
        raise ApiError("run ids must be integers", "run")
    return ids


@page_json
def project_rows(request: HttpRequest, name: str) -> dict:
    """Fresh rows of some runs of the table on screen, as HTML rendered exactly like the
    page's, for its live updates. The page sends its columns (``c``, ``m``) and ``sort``."""
    project = project_named_or_404(request.user, name)
    run_ids = _run_ids(request.GET)
    config_keys, metric_keys = _column_choice(request.GET)
    config_keys, metric_keys = config_keys or [], metric_keys or []
    sort = valid_sort(request.GET.get("sort", "-created"))
    runs = runs_of_project(request.user, project).filter(pk__in=run_ids)
    try:  # runs that no longer match the page's filter come back in "gone"
        runs = filter_runs(runs, request.GET.get("q", "").strip(), project_overrides(project))
    except FilterError as error:
        raise ApiError(str(error), "q") from None
    update = runs_table_rows(
        runs=runs,
        config_keys=config_keys,
        metric_keys=metric_keys,
        sort=sort,
    )
    html = _rows_html(update.rows, config_keys, metric_keys, sort, valid_summaries(request.GET.getlist("s")))
    rows = [
        {"run": row.run.pk, "status": row.run.status, "html": row_html}
        for row, row_html in zip(update.rows, html, strict=True)
    ]
    gone = sorted(set(run_ids) - {row["run"] for row in rows})
    return {"rows": rows, "gone": gone, "config_keys": update.config_keys, "metric_keys": update.metric_keys}


def _sort_url(table: RunsTable, key: str, first: str) -> str:
    """The table's URL sorted by ``key``: a second click on the active column flips it."""
    if table.sort == key:
        sort = "-" + key
    elif table.sort == "-" + key:
        sort = key
    else:
        sort = first
    params = [("cols", "1"), *(("c", k) for k in table.config_keys), *(("m", k) for k in table.metric_keys)]
    if table.summaries != list(DEFAULT_SUMMARIES):
        params.extend(("s", summary) for summary in table.summaries)
    if table.query:
        params.append(("q", table.query))
    if table.group_by:
        params.append(("group_by", table.group_by))
    return "?" + urlencode([*params, ("sort", sort)])


def _column(table: RunsTable, label: str, key: str, descending_first: bool = False, **extra) -> dict:
    active = table.sort.lstrip("-") == key
    return {
        "label": label,
        "url": _sort_url(table, key, ("-" if descending_first else "") + key),
        "arrow": ("▼" if table.sort.startswith("-") else "▲") if active else "",
        "active": active,
        **extra,
    }


def _header(table: RunsTable) -> dict:
    run_columns = [
        _column(table, "Status", "status"),
        _column(table, "Name", "name"),
        _column(table, "Group", "group"),
    ]
    time_columns = [
        _column(table, "Created", "created", descending_first=True),
        _column(table, "Duration", "duration", descending_first=True, cls="num"),
    ]
    config_columns = [_column(table, key, f"config:{key}", cls="num") for key in table.config_keys]
    metric_columns = []
    for key in table.metric_keys:
        maximise = table.directions.get(key) == "max"
        # A click sorts the better runs first: by the metric's direction for last and best.
        first = {"last": maximise, "best": maximise, "min": False, "max": True}
        metric_columns.append(
            {
                "key": key,
                "direction": table.directions.get(key, "max"),
                "columns": [
                    _column(table, summary, f"{summary}:{key}", descending_first=first[summary], cls="num")
                    for summary in table.summaries
                ],
            }
        )
    return {"run": run_columns, "time": time_columns, "config": config_columns, "metrics": metric_columns}


class CellView(NamedTuple):
    """One cell of a metric column (a run's last, best, min or max), formatted."""

    text: str
    cls: str  # "num", "num bad" (NaN or inf, shown in red), "num best", "num missing"
    title: str  # "at step N": the step of a best, min or max


class RowView(NamedTuple):
    """One run's row of the runs table, formatted for templates/projects/_row.html."""

    id: int
    status: str
    url: str
    name: str
    tags: list[str]
    search: str  # what the filter box matches, lower case
    sort: str  # the value the row is ordered by, as JSON (see _sort_json)
    group: str
    created: str
    created_iso: str
    duration: str
    config: list[str | None]  # per chosen config key; None where the run lacks it
    metrics: list[list[CellView]]  # per chosen metric, a cell per chosen summary


def _sort_json(value: tuple) -> str:
    """A sort value as JSON for ``data-sort``; ±inf as strings, which JSON lacks (the
    page reads them back with Number())."""
    rank, number, text = value
    if math.isinf(number):
        number = '"Infinity"' if number > 0 else '"-Infinity"'
    text = json.dumps(text) if text else '""'
    return f"[{rank},{number},{text}]"


def _metric_cells(cell: MetricCell | None, summaries: list[str]) -> list[CellView]:
    """The cells of one metric column for one run: a cell per chosen summary."""
    if cell is None:
        return [_MISSING_CELL] * len(summaries)
    views = []
    for summary in summaries:
        value = getattr(cell, summary)
        step = cell.step_of(summary)
        cls = {"best": "num best", "last": "num bad" if is_bad(value) else "num"}.get(summary, "num")
        views.append(CellView(fmt_number(value), cls, f"at step {step}" if step is not None else ""))
    return views


_MISSING_CELL = CellView("", "num missing", "")


def _row_views(
    rows: list[RunRow], config_keys: list[str], metric_keys: list[str], sort: str, summaries: list[str]
) -> list[RowView]:
    """What each row shows: every run's row carries its id, status and sort value, so the
    live page can replace and place rows it fetches later."""
    run_url = reverse("run", args=[999_999_999]).replace("999999999", "{}")
    tz = timezone.get_current_timezone()
    views = []
    for row in rows:
        run = row.run
        # The one date format ("2026-11-23 00:52"); fmt.js shows it in the reader's zone.
        created = run.created_at.astimezone(tz)
        when = fmt_datetime(created)
        metrics = [_metric_cells(row.metrics.get(key), summaries) for key in metric_keys]
        views.append(
            RowView(
                id=run.pk,
                status=run.status,
                url=run_url.format(run.pk),
                name=run.name,
                tags=[t for t in run.tags if isinstance(t, str)],
                search=" ".join([run.name, run.group, *(str(t) for t in run.tags), run.status]).lower(),
                sort=_sort_json(row_sort_value(row, sort)),
                group=run.group,
                created=when,
                created_iso=created.isoformat(),
                duration=fmt_duration(run.duration_seconds),
                config=[fmt_number(row.config[key]) if key in row.config else None for key in config_keys],
                metrics=metrics,
            )
        )
    return views


def _rows_html(
    rows: list[RunRow], config_keys: list[str], metric_keys: list[str], sort: str, summaries: list[str]
) -> list[str]:
    """Each row as ``<tr>`` HTML, from templates/projects/_row.html: the page's first
    render and its live updates (rows.json) share that one fragment. Rendered by the
    "rows" engine (Jinja2, see settings.TEMPLATES): at 1,000 rows of ~20 cells Django's
    engine takes ~5x longer, which would double the page's time."""
    template = engines["rows"].get_template("projects/_row.html")
    views = _row_views(rows, config_keys, metric_keys, sort, summaries)
    return [template.render({"row": view}).strip() for view in views]
