"""Read models of the browser's tables: the projects overview and a project's runs table.

The runs table must stay fast at thousands of runs and never touch the points table:
it reads ``Run`` rows once and the chosen ``Metric`` rows once (last/min/max are kept
current there by ingestion), and sorts in Python.
"""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Q, QuerySet

from experiments.directions import metric_direction
from experiments.models import Metric, Project, Run, RunStatus
from experiments.selectors import projects_visible_to

DEFAULT_CONFIG_COLUMNS = 4
DEFAULT_METRIC_COLUMNS = 4


def projects_overview(user: AbstractBaseUser) -> QuerySet[Project]:
    """The user's projects with ``n_runs``, ``n_running`` and ``last_activity`` (the
    newest heartbeat of any run), most recently active first; one query."""
    return (
        projects_visible_to(user)
        .annotate(
            n_runs=Count("runs"),
            n_running=Count("runs", filter=Q(runs__status=RunStatus.RUNNING)),
            last_activity=Max("runs__heartbeat_at"),
        )
        .order_by("-last_activity", "name")
    )


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: ``{"opt": {"lr": 1}}`` -> ``{"opt.lr": 1}``."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


@dataclass
class MetricCell:
    """A run's figures for one metric column. ``last`` is NaN when the newest point was
    NaN; ``best`` ignores NaN (it comes from min/max)."""

    last: float | None
    best: float | None
    best_step: int | None
    count: int


@dataclass
class RunRow:
    run: Run
    config: dict[str, Any]
    metrics: dict[str, MetricCell]


@dataclass
class RunsTable:
    rows: list[RunRow]
    config_keys: list[str]
    metric_keys: list[str]
    all_config_keys: list[str]
    all_metric_keys: list[str]
    directions: dict[str, str]
    sort: str
    status_counts: dict[str, int] = field(default_factory=dict)


def _metric_cell(metric: Metric) -> MetricCell:
    if metric_direction(metric.key) == "min":
        best, best_step = metric.min_value, metric.min_step
    else:
        best, best_step = metric.max_value, metric.max_step
    last = metric.last_value
    if last is None and metric.count:
        last = math.nan  # the points table stores NaN as NULL, and so does last_value
    return MetricCell(last=last, best=best, best_step=best_step, count=metric.count)


def _rank_config_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys by how many runs have them; among equals, keys whose value differs
    between runs first (a constant column tells nothing)."""
    counts: Counter[str] = Counter()
    values: dict[str, set[str]] = defaultdict(set)
    for config in configs:
        for key, value in config.items():
            counts[key] += 1
            values[key].add(repr(value))
    return sorted(counts, key=lambda k: (-counts[k], -(len(values[k]) > 1), k))


def _sort_value(value: Any) -> tuple:
    """Missing values last, numbers before text, NaN after numbers."""
    if value is None or value == "":
        return (3, 0, "")
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (1, 0.0, "") if value != value else (0, float(value), "")
    return (2, 0, str(value).lower())


_RUN_FIELDS = {
    "name": lambda r: r.run.name.lower(),
    "status": lambda r: r.run.status,
    "group": lambda r: r.run.group.lower(),
    "created": lambda r: r.run.created_at.timestamp(),
    "duration": lambda r: r.run.duration_seconds,
}


def _sort_key(sort: str):
    """A key function for ``sort`` (``created``, ``config:lr``, ``last:val/loss``,
    ``best:val/acc``), or None when it names no column."""
    kind, _, name = sort.partition(":")
    if kind in _RUN_FIELDS and not name:
        field_of = _RUN_FIELDS[kind]
        return lambda row: _sort_value(field_of(row))
    if kind == "config" and name:
        return lambda row: _sort_value(row.config.get(name))
    if kind in ("last", "best") and name:

        def metric_value(row: RunRow) -> tuple:
            cell = row.metrics.get(name)
            return _sort_value(None if cell is None else getattr(cell, kind))

        return metric_value
    return None


def _sorted_rows(rows: list[RunRow], sort: str) -> tuple[list[RunRow], str]:
    descending = sort.startswith("-")
    key = _sort_key(sort.lstrip("-"))
    if key is None:
        return sorted(rows, key=lambda r: r.run.created_at, reverse=True), "-created"
    if not descending:
        return sorted(rows, key=key), sort
    # Descending, but runs missing the value stay at the bottom.
    present = [r for r in rows if key(r)[0] < 3]
    missing = [r for r in rows if key(r)[0] >= 3]
    return sorted(present, key=key, reverse=True) + missing, sort


def runs_table(
    *,
    project: Project,
    runs: QuerySet[Run],
    config_keys: list[str] | None = None,
    metric_keys: list[str] | None = None,
    sort: str = "-created",
) -> RunsTable:
    """The runs of ``runs`` (already restricted to what the user may see) as table rows.

    ``None`` for a column list means the default: the keys most runs have. Three queries
    whatever the number of runs: runs, the project's metric keys, the chosen metrics.
    """
    run_list = list(runs.only(*_RUN_COLUMNS))
    configs = {run.pk: flatten(run.config) for run in run_list}
    all_config_keys = _rank_config_keys(list(configs.values()))
    key_counts = (
        Metric.objects.filter(run__project=project)
        .values("key")
        .annotate(n=Count("id"))
        .order_by("-n", "key")
        .values_list("key", flat=True)
    )
    all_metric_keys = list(key_counts)
    if config_keys is None:
        config_keys = all_config_keys[:DEFAULT_CONFIG_COLUMNS]
    if metric_keys is None:
        metric_keys = all_metric_keys[:DEFAULT_METRIC_COLUMNS]
    metrics: dict[int, dict[str, MetricCell]] = defaultdict(dict)
    if metric_keys and run_list:
        chosen = Metric.objects.filter(run__in=runs, key__in=metric_keys).only(*_METRIC_COLUMNS)
        for metric in chosen:
            metrics[metric.run_id][metric.key] = _metric_cell(metric)
    rows = [RunRow(run=run, config=configs[run.pk], metrics=metrics.get(run.pk, {})) for run in run_list]
    rows, sort = _sorted_rows(rows, sort)
    return RunsTable(
        rows=rows,
        config_keys=config_keys,
        metric_keys=metric_keys,
        all_config_keys=sorted(set(all_config_keys)),
        all_metric_keys=sorted(all_metric_keys),
        directions={k: metric_direction(k) for k in all_metric_keys},
        sort=sort,
        status_counts=dict(Counter(run.status for run in run_list)),
    )


_RUN_COLUMNS = (
    "id",
    "project",
    "name",
    "group",
    "tags",
    "status",
    "config",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
)
_METRIC_COLUMNS = (
    "id",
    "run_id",
    "key",
    "count",
    "last_value",
    "min_value",
    "min_step",
    "max_value",
    "max_step",
)
