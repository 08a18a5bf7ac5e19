"""The runs table's order in SQL, so a page of 100,000 runs is read, not sorted in
Python. It matches ``tables.row_sort_value`` (which the live page places rows by):
missing values last in both directions, numbers (booleans as 0/1) before NaN before
text, text case-insensitive; ties newest first."""

from __future__ import annotations

from django.db.models import (
    Case,
    DurationField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower, Now

from experiments.directions import metric_direction
from experiments.filters import AGGREGATES, JSONAs
from experiments.models import Run, RunStatus

MISSING = 3


def _config(key: str) -> tuple:
    parts = key.split(".")
    paths = [parts] if len(parts) == 1 else [parts, [key]]
    number = (
        Coalesce(*(JSONAs("config", p, "sortable") for p in paths))
        if len(paths) > 1
        else JSONAs("config", parts, "sortable")
    )
    text = (
        Coalesce(*(JSONAs("config", p, "text") for p in paths))
        if len(paths) > 1
        else JSONAs("config", parts, "text")
    )
    rank = Case(
        When(Q(_n__isnull=False), then=Value(0)),
        When(Q(_t__isnull=False) & ~Q(_t=""), then=Value(2)),
        default=Value(MISSING),
        output_field=IntegerField(),
    )
    return {"_n": number, "_t": Lower(text)}, rank


def _metric(kind: str, key: str, directions: dict[str, str]) -> tuple:
    """``kind``: ``last``, ``best`` (the min or the max by the key's direction), ``min``,
    ``max`` or ``count``."""
    column = AGGREGATES.get(kind, "last_value")
    if kind == "best":
        column = "min_value" if directions.get(key, metric_direction(key)) == "min" else "max_value"
    # One LEFT JOIN on (run, key) (the metric_key_summary index), not a subquery per run.
    joined = {"_m": FilteredRelation("metrics", condition=Q(metrics__key=key))}
    annotations = {**joined, "_n": F(f"_m__{column}"), "_c": F("_m__count")}
    whens = [When(Q(_n__isnull=False), then=Value(0))]
    if kind == "last":  # NaN is stored as NULL with points counted
        whens.append(When(Q(_c__gt=0), then=Value(1)))
    return annotations, Case(*whens, default=Value(MISSING), output_field=IntegerField())


def _run_field(name: str) -> tuple:
    if name == "duration":
        end = Case(
            When(finished_at__isnull=False, then=F("finished_at")),
            When(status=RunStatus.RUNNING, then=Now()),
            default=F("heartbeat_at"),
        )
        return {"_n": ExpressionWrapper(end - F("started_at"), output_field=DurationField())}, Value(0)
    if name == "created":
        return {"_n": F("created_at")}, Value(0)
    if name == "status":
        return {"_t": F("status")}, Value(2)
    column = Lower(name)  # name, group: an empty one is missing
    return {"_t": column}, Case(When(**{name: ""}, then=Value(MISSING)), default=Value(2))


def order_runs(runs: QuerySet[Run], sort: str, directions: dict[str, str]) -> QuerySet[Run]:
    """``runs`` ordered by ``sort`` (``-created``, ``name``, ``config:lr``, ``last:val/loss``,
    ``best:val/acc``, and for the API ``min:``/``max:``/``count:`` a metric; a valid
    sort, see ``tables.valid_sort`` and ``runsearch``)."""
    descending = sort.startswith("-")
    kind, _, name = sort.lstrip("-").partition(":")
    if kind == "config":
        annotations, rank = _config(name)
    elif kind in ("best", *AGGREGATES):
        annotations, rank = _metric(kind, name, directions)
    else:
        annotations, rank = _run_field(kind)
    if kind in ("created", "id"):  # a plain column: the (project, created) index serves the page
        return runs.order_by("-created_at" if descending else "created_at", "-pk")
    runs = runs.annotate(**annotations, _rank=rank)
    values = [F(alias) for alias in ("_n", "_t") if alias in annotations]
    if descending:
        missing_last = Case(When(_rank=MISSING, then=Value(1)), default=Value(0), output_field=IntegerField())
        order = [missing_last, F("_rank").desc(), *(v.desc(nulls_last=True) for v in values)]
    else:
        order = [F("_rank").asc(), *(v.asc(nulls_last=True) for v in values)]
    return runs.order_by(*order, "-pk")
