"""Group a project's runs by a config key, the run group or the status: per group the
number of runs and, for each chosen metric, the mean, standard deviation, min and max of
its last values — one SQL aggregation per few metrics, whatever the number of runs
(issue #16)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from django.db.models import Avg, Count, F, FilteredRelation, Max, Min, Q, QuerySet

from experiments.filters import FilterError, JSONAs, filter_runs, parse_field, tokenize
from experiments.models import Run

MAX_GROUPS = 500
# Metrics aggregated per query: each is a join, and PostgreSQL plans up to 8 joins in the
# best order (join_collapse_limit).
KEYS_PER_QUERY = 6
GROUPABLE = ("group", "status")


@dataclass
class MetricStats:
    n: int
    mean: float | None
    std: float | None  # sample standard deviation; None for one run
    min: float | None
    max: float | None

    @property
    def sem(self) -> float | None:
        """Standard error of the mean."""
        return None if self.std is None or self.n < 2 else self.std / math.sqrt(self.n)


@dataclass
class GroupRow:
    value: str | float | None  # None: runs without the key
    count: int
    metrics: dict[str, MetricStats] = field(default_factory=dict)


def _sample_std(n: int, mean: float, mean_square: float) -> float | None:
    """The sample standard deviation from n, the mean and the mean of squares (SQLite's
    STDDEV fails on one value; this reads the same on both databases)."""
    if n < 2:
        return None
    variance = max(0.0, mean_square - mean * mean) * n / (n - 1)
    return math.sqrt(variance)


def _expression(by: str):
    """The SQL value runs are grouped by; raises FilterError for what cannot group."""
    if by in GROUPABLE:
        return F(by)
    tokens = tokenize(by)
    if len(tokens) != 2:
        raise FilterError("group by one field: config.KEY, group or status", 1, by)
    target = parse_field(tokens[0], by)
    if target.kind != "config":
        raise FilterError(f"cannot group by {by!r}: use config.KEY, group or status", 1, by)
    return JSONAs("config", target.name.split("."), "raw")


def runs_groups(runs: QuerySet[Run], by: str, metric_keys: list[str]) -> list[GroupRow]:
    """Groups of ``runs`` by ``by`` (``config.optimizer``, ``group``, ``status``), the
    largest first, at most MAX_GROUPS.

    One query per KEYS_PER_QUERY metrics, each a pass over the runs with one LEFT JOIN
    per metric (``metrics`` filtered to the key, read from the ``metric_key_summary``
    index alone): a row per run, aggregated by group. Joining every chosen metric row
    and aggregating by (group, key) instead took ~250 ms at 100,000 runs x 4 metrics on
    PostgreSQL (JIT off; 540 ms with it), this ~170 ms (``benchmarks/runs_scale.py``)."""
    value = _expression(by)
    chunks = [metric_keys[i : i + KEYS_PER_QUERY] for i in range(0, len(metric_keys), KEYS_PER_QUERY)]
    groups: dict[object, GroupRow] = {}
    for index, keys in enumerate(chunks or [[]]):
        joins = {
            f"_m{i}": FilteredRelation("metrics", condition=Q(metrics__key=key)) for i, key in enumerate(keys)
        }
        aggregates = {"n": Count("pk")}
        for i in range(len(keys)):
            last = F(f"_m{i}__last_value")
            aggregates |= {
                f"n{i}": Count(last),
                f"mean{i}": Avg(last),
                f"square{i}": Avg(last * last),
                f"lo{i}": Min(last),
                f"hi{i}": Max(last),
            }
        rows = runs.order_by().annotate(_g=value, **joins).values("_g").annotate(**aggregates)
        if index == 0:  # the groups: the largest first
            rows = rows.order_by("-n", F("_g").asc(nulls_last=True))[:MAX_GROUPS]
            groups = {row["_g"]: GroupRow(row["_g"], row["n"]) for row in rows}
        for row in rows:
            group = groups.get(row["_g"])
            if group is None:
                continue
            for i, key in enumerate(keys):
                n = row[f"n{i}"]
                if n:
                    std = _sample_std(n, row[f"mean{i}"], row[f"square{i}"])
                    group.metrics[key] = MetricStats(n, row[f"mean{i}"], std, row[f"lo{i}"], row[f"hi{i}"])
    return list(groups.values())


def filter_literal(value: object) -> str:
    """``value`` (a group's value) as the filter language writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def group_members(runs: QuerySet[Run], by: str, value: object) -> QuerySet[Run]:
    """The runs of ``runs`` in the group ``value`` of ``by`` (None: runs without it), by
    the same filter the group's link in the table uses."""
    if value is None:
        return runs.annotate(_g=_expression(by)).filter(_g__isnull=True)
    return filter_runs(runs, f"{by} = {filter_literal(value)}", {})
