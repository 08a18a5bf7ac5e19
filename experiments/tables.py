"""Read models of the browser's tables: the projects overview and a project's runs table.

The runs table must stay fast at 100,000 runs and never touch the points table: it
orders and pages ``Run`` rows in SQL (``table_order``) and reads the chosen ``Metric``
rows of the page once (last/min/max are kept current there by ingestion). Live updates
of a few rows are sorted in Python by the same rule (``row_sort_value``).
"""

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, Q, QuerySet

from experiments.directions import metric_direction, project_directions
from experiments.models import Metric, Project, Run, RunStatus
from experiments.selectors import projects_visible_to
from experiments.table_order import order_runs

DEFAULT_CONFIG_COLUMNS = 4
# Rows per page of the runs table: its HTML is ~0.8 KiB a row.
TABLE_PAGE = 200
# The newest runs whose config and metric keys fill the column menus.
KEY_SAMPLE = 2_000
DEFAULT_METRIC_COLUMNS = 4
# The figures a metric column can show, in the table's order: the newest value, the best
# by the metric's direction (min or max), the lowest and the highest. Chosen for all
# metric columns at once (the column menu's "Show", ``s`` in the URL).
SUMMARIES = ("last", "best", "min", "max")
DEFAULT_SUMMARIES = ("last", "best")

# Namespaces the SDK fills on its own: ``tracker.watch`` (tracker/hooks.py: layer
# statistics and the optimizer's learning rates) and the system sampler (tracker/system.py).
# They are grouped in the column menu, collapsed, and never chosen as default columns.
INTERNAL_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("layers", "Layer statistics (watch)", ("grad/", "param/", "act/", "update/")),
    ("lr", "Learning rates", ("lr/",)),
    ("system", "System", ("sys/", "system/")),
)
# val/acc, valid_loss, eval/f1, test/acc, acc_val: a held-out split's figure.
_VALIDATION = re.compile(r"(?:^|[/_.\-])(?:val|valid|validation|eval|evaluation|test)(?:$|[/_.\-])", re.I)
# Within the main metrics, the figures people read first.
_HEADLINE = re.compile(r"acc|loss|f1|auc|top1|error|score", re.I)


def projects_overview(user: AbstractBaseUser) -> QuerySet[Project]:
    """The user's projects with ``n_runs``, ``n_running`` and ``last_activity`` (the
    newest heartbeat of any run), most recently active first; one query."""
    return (
        projects_visible_to(user)
        .select_related("team")  # a team's project is linked as entity/name
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


def internal_group(key: str) -> str | None:
    """The id of the internal namespace ``key`` belongs to, or None for a user's metric."""
    for group, _label, prefixes in INTERNAL_GROUPS:
        if key.startswith(prefixes):
            return group
    return None


def is_main_metric(key: str, objectives: frozenset[str] | set[str] = frozenset()) -> bool:
    """A validation or test figure, a loss, or a sweep's objective (internal keys never)."""
    if internal_group(key) is not None:
        return False
    return key in objectives or bool(_VALIDATION.search(key)) or "loss" in key.lower()


def sweep_objectives(project: Project) -> list[str]:
    """The objectives of the project's 20 newest sweeps, newest first, each once: a main
    metric wherever one is chosen (runs table, compare). One query."""
    # Sweeps (tuning.Sweep) reach here by their reverse relation: no import of tuning.
    newest = project.sweeps.order_by("-created_at").values_list("objective", flat=True)[:20]
    return list(dict.fromkeys(newest))


def main_metric_keys(keys: list[str], objectives: list[str]) -> list[str]:
    """Every main metric among ``keys`` (``is_main_metric``), in their order; when none
    is, ``default_metric_keys``' pick, so a comparison always judges something."""
    goals = set(objectives)
    main = [key for key in keys if is_main_metric(key, goals)]
    return main or default_metric_keys(keys, objectives)


def default_metric_keys(keys: list[str], objectives: list[str], n: int = DEFAULT_METRIC_COLUMNS) -> list[str]:
    """The project's main metrics, at most ``n``: validation/test figures (up to two),
    losses (up to two), a sweep's objective, then more of those, then other metrics of the
    user's. ``keys`` come most logged first. Internal namespaces only when nothing else is."""
    present = set(keys)
    public = [k for k in keys if internal_group(k) is None]
    validation = sorted((k for k in public if _VALIDATION.search(k)), key=lambda k: not _HEADLINE.search(k))
    losses = [k for k in public if "loss" in k.lower() and k not in validation]
    goals = [k for k in dict.fromkeys(objectives) if k in present]
    chosen: list[str] = []

    def take(candidates: list[str], most: int) -> None:
        for key in candidates:
            if most <= 0 or len(chosen) >= n:
                return
            if key not in chosen:
                chosen.append(key)
                most -= 1

    take(validation, 2)
    take(losses, 1 if goals and not set(goals) & set(chosen) else 2)
    take(goals, 1)
    take(validation, n)
    take(losses, n)
    take(public, n)
    if not public:
        take(keys, n)
    return chosen


@dataclass
class MenuGroup:
    """A section of the column menu's metrics: ``main``, ``other`` or an internal group."""

    id: str
    label: str
    keys: list[str]
    internal: bool
    open: bool


def metric_menu(keys: list[str], chosen: list[str], objectives: list[str]) -> list[MenuGroup]:
    """The column menu's metric sections, each sorted: the main metrics, the user's other
    metrics, then each internal namespace, collapsed unless one of its keys is shown."""
    goals = set(objectives)
    by_group: dict[str, list[str]] = defaultdict(list)
    for key in sorted(keys):
        group = internal_group(key)
        by_group[group or ("main" if is_main_metric(key, goals) else "other")].append(key)
    shown = set(chosen)
    sections = [("main", "Main metrics", False), ("other", "Other metrics", False)]
    sections += [(group, label, True) for group, label, _ in INTERNAL_GROUPS]
    return [
        MenuGroup(
            id=group,
            label=label,
            keys=by_group[group],
            internal=internal,
            open=not internal or any(k in shown for k in by_group[group]),
        )
        for group, label, internal in sections
        if by_group[group]
    ]


@dataclass
class MetricCell:
    """A run's figures for one metric column. ``last`` is NaN when the newest point was
    NaN; ``best`` ignores NaN (it comes from min/max)."""

    last: float | None
    best: float | None
    best_step: int | None
    count: int
    min: float | None = None
    min_step: int | None = None
    max: float | None = None
    max_step: int | None = None

    def step_of(self, summary: str) -> int | None:
        """The step of the ``best``, ``min`` or ``max`` value (None for ``last``)."""
        return {"best": self.best_step, "min": self.min_step, "max": self.max_step}.get(summary)


@dataclass
class RunRow:
    run: Run
    config: dict[str, Any]
    metrics: dict[str, MetricCell]


@dataclass
class RowsUpdate:
    """Fresh rows of some runs of a table already on screen, and every config and metric
    key those runs have (a live page adds new keys to its column menu)."""

    rows: list[RunRow]
    config_keys: list[str]
    metric_keys: list[str]


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
    metric_menu: list[MenuGroup] = field(default_factory=list)
    query: str = ""  # the filter the rows passed (experiments.filters), kept in sort links
    group_by: str = ""  # the page's grouping (experiments.grouping), kept in sort links
    total: int = 0  # runs that passed it; rows holds one page of them
    offset: int = 0
    limit: int = 0
    summaries: list[str] = field(default_factory=lambda: list(DEFAULT_SUMMARIES))


def valid_summaries(values: list[str]) -> list[str]:
    """The known summaries among ``values`` in the table's order; the default for none."""
    chosen = [summary for summary in SUMMARIES if summary in values]
    return chosen or list(DEFAULT_SUMMARIES)


def _rank_config_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Config keys by how many runs have them; among equals, keys whose value differs
    between runs first (a constant column tells nothing). Compares each value with the
    key's first one (type and value; NaN equals NaN): 2,000 configs in ~3 ms, where a
    set of reprs per key took ~13 ms of every runs table at 100,000 runs."""
    counts: Counter[str] = Counter()
    first: dict[str, Any] = {}
    varied: set[str] = set()
    for config in configs:
        for key, value in config.items():
            counts[key] += 1
            if key in varied:
                continue
            if key not in first:
                first[key] = value
            elif not _same(value, first[key]):
                varied.add(key)
    return sorted(counts, key=lambda k: (-counts[k], k not in varied, k))


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


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
    ``best:val/acc``, ``min:``/``max:`` a metric), or None when it names no column."""
    kind, _, name = sort.partition(":")
    if kind in _RUN_FIELDS and not name:
        field_of = _RUN_FIELDS[kind]
        return lambda row: _sort_value(field_of(row))
    if kind == "config" and name:
        return lambda row: _sort_value(row.config.get(name))
    if kind in SUMMARIES and name:

        def metric_value(row: RunRow) -> tuple:
            cell = row.metrics.get(name)
            return _sort_value(None if cell is None else getattr(cell, kind))

        return metric_value
    return None


def valid_sort(sort: str) -> str:
    """``sort`` when it names a column, else the default (newest first)."""
    return sort if _sort_key(sort.lstrip("-")) is not None else "-created"


def row_sort_value(row: RunRow, sort: str) -> tuple:
    """The value ``row`` is ordered by under ``sort``: (rank, number, text),
    compared as a tuple; rank 3 means missing, which stays last in both directions. The
    live table places rows it receives by this, exactly as the server sorted them."""
    key = _sort_key(valid_sort(sort).lstrip("-"))
    assert key is not None  # valid_sort names a column
    return key(row)


def _sorted_rows(rows: list[RunRow], sort: str) -> tuple[list[RunRow], str]:
    sort = valid_sort(sort)
    descending = sort.startswith("-")
    key = _sort_key(sort.lstrip("-"))
    assert key is not None  # valid_sort names a column
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
    offset: int = 0,
    limit: int = TABLE_PAGE,
    summaries: list[str] | None = None,
) -> RunsTable:
    """One page of the runs of ``runs`` (already restricted to what the user may see and
    to the page's filter) as table rows, ordered in SQL (``table_order``).

    ``None`` for a column list means the default: the config keys most runs have and the
    project's main metrics (``default_metric_keys``). Column menus come from the project's
    newest KEY_SAMPLE runs, so their cost does not grow with the project. A bounded number
    of queries whatever the number of runs: status counts, the sample's configs and metric
    keys, sweeps' objectives, overrides, the page, its chosen metrics.
    """
    sort = valid_sort(sort)
    # Read down the (project, created) index; an ``id IN (newest ids)`` subquery made
    # PostgreSQL scan every run of the project (27 ms at 100,000 runs, this 3 ms).
    newest = Run.objects.filter(project=project).order_by("-created_at").values_list("pk", "config")
    sample = list(newest[:KEY_SAMPLE])
    all_config_keys = _rank_config_keys([flatten(config) for _pk, config in sample])
    key_counts = (
        Metric.objects.filter(run__in=[pk for pk, _config in sample])
        .values("key")
        .annotate(n=Count("id"))
        .order_by("-n", "key")
        .values_list("key", flat=True)
    )
    all_metric_keys = list(key_counts)
    if config_keys is None:
        config_keys = all_config_keys[:DEFAULT_CONFIG_COLUMNS]
    objectives = sweep_objectives(project)
    if metric_keys is None:
        metric_keys = default_metric_keys(all_metric_keys, objectives)
    directions = project_directions(project, all_metric_keys)  # a project's overrides win
    status_counts = _status_counts(runs)
    page = order_runs(runs.select_related(None), sort, directions).only(*_RUN_COLUMNS)
    run_list = list(page[offset : offset + limit])
    configs = {run.pk: flatten(run.config) for run in run_list}
    ids = [run.pk for run in run_list]
    metrics = metric_cells(ids, metric_keys, directions) if run_list else {}
    rows = [RunRow(run=run, config=configs[run.pk], metrics=metrics.get(run.pk, {})) for run in run_list]
    return RunsTable(
        rows=rows,
        config_keys=config_keys,
        metric_keys=metric_keys,
        all_config_keys=sorted(set(all_config_keys)),
        all_metric_keys=sorted(all_metric_keys),
        directions=directions,
        sort=sort,
        status_counts=status_counts,
        metric_menu=metric_menu(all_metric_keys, metric_keys, objectives),
        total=sum(status_counts.values()),
        offset=offset,
        limit=limit,
        summaries=valid_summaries(summaries or []),
    )


def runs_table_rows(
    *, runs: QuerySet[Run], config_keys: list[str], metric_keys: list[str], sort: str = "-created"
) -> RowsUpdate:
    """Rows of ``runs`` (a few runs of a table on screen, already restricted to what the
    user may see) for the page's chosen columns, sorted by ``sort``: the reads of
    ``runs_table`` without the project-wide ones. Three queries: the runs, their chosen
    metrics, their metric keys. Never reads points."""
    run_list = list(runs.select_related(None).only(*_RUN_COLUMNS))
    if not run_list:
        return RowsUpdate(rows=[], config_keys=[], metric_keys=[])
    configs = {run.pk: flatten(run.config) for run in run_list}
    metrics = metric_cells(runs, metric_keys, project_directions(run_list[0].project_id, metric_keys))
    rows = [RunRow(run=run, config=configs[run.pk], metrics=metrics.get(run.pk, {})) for run in run_list]
    rows, _ = _sorted_rows(rows, sort)
    keys = Metric.objects.filter(run__in=runs).values_list("key", flat=True).distinct()
    return RowsUpdate(
        rows=rows,
        config_keys=sorted({key for config in configs.values() for key in config}),
        metric_keys=sorted(set(keys)),
    )


def metric_cells(
    runs: QuerySet[Run] | list[int], metric_keys: list[str], directions: dict[str, str] | None = None
) -> dict[int, dict[str, MetricCell]]:
    """{run id: {key: cell}} for the chosen keys: one query on ``Metric``, read as tuples
    (at 1,000 runs x 4 columns, building model instances cost more than the query).
    ``best`` is the min or the max by the key's direction; ``last`` is NaN when the
    newest point was (``last_value`` stores NaN as NULL)."""
    cells: dict[int, dict[str, MetricCell]] = defaultdict(dict)
    if not metric_keys:
        return cells
    directions = directions or {}
    minimised = {key for key in metric_keys if directions.get(key, metric_direction(key)) == "min"}
    chosen = Metric.objects.filter(run__in=runs, key__in=metric_keys).values_list(*_METRIC_COLUMNS)
    for run_id, key, count, last, min_value, min_step, max_value, max_step in chosen:
        best, best_step = (min_value, min_step) if key in minimised else (max_value, max_step)
        if last is None and count:
            last = math.nan
        cells[run_id][key] = MetricCell(
            last=last,
            best=best,
            best_step=best_step,
            count=count,
            min=min_value,
            min_step=min_step,
            max=max_value,
            max_step=max_step,
        )
    return cells


def _status_counts(runs: QuerySet[Run]) -> dict[str, int]:
    """Runs per status (one query), in a fixed order (the live page recounts in the same one)."""
    # COUNT(*), not COUNT(id): the run_project_status index answers it alone.
    counts = Counter(dict(runs.order_by().values_list("status").annotate(n=Count("*"))))
    order = [*RunStatus.values, *sorted(set(counts) - set(RunStatus.values))]
    return {status: counts[status] for status in order if counts[status]}


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
    "run_id",
    "key",
    "count",
    "last_value",
    "min_value",
    "min_step",
    "max_value",
    "max_step",
)
