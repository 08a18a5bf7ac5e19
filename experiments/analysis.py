"""Hyperparameter analysis over any set of runs (a filter, a group, a sweep): which config
keys mattered for a metric, and which way.

For the runs given (already what the user may see, narrowed by a filter), one metric and
one aggregate (``last``, ``min``, ``max``, ``best``), ``analyse`` answers:

- the parameter table: every config key (flattened: ``optim.lr``), numeric or categorical,
  log-scaled when its values span two decades or more;
- each parameter's importance, from Optuna's importance evaluators over an in-memory study
  whose trials are the runs (``optuna.trial.create_trial``): mean decrease in impurity of a
  random forest by default, fANOVA on request;
- each numeric parameter's Spearman and Pearson correlation with the metric and its 95%
  confidence interval (Fisher's z);
- the rows themselves, column by column, for parallel coordinates and scatter plots.

It reads a bounded number of queries whatever the number of runs: the runs' ids, names and
configs (the newest ``MAX_RUNS``), the metric keys they logged, and the chosen metric's
summary row of each (``Metric``: never the points).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Count, QuerySet

from experiments.directions import metric_direction
from experiments.errors import ApiError
from experiments.filters import FilterError, filter_runs
from experiments.models import Metric, Run
from experiments.tables import default_metric_keys, flatten

AGGS = ("last", "min", "max", "best")
_COLUMNS = {"last": "last_value", "min": "min_value", "max": "max_value"}
# The newest runs analysed at most; a larger set is cut (and the answer says so).
MAX_RUNS = 20_000
# A random forest over more trials than this says nothing new and costs seconds: the
# importance is estimated on a seeded sample of this many runs (correlations use all).
MAX_IMPORTANCE_RUNS = {"mdi": 1_000, "fanova": 300}
EVALUATORS = ("mdi", "fanova")
# A categorical key with more values than this (a run name, a path) is not a knob.
MAX_CATEGORIES = 30
# A key set in fewer than this share of the runs is shown but not ranked.
MIN_PRESENCE = 0.5
# Values spanning this ratio (and all positive) are drawn and correlated on a log scale.
LOG_RATIO = 100.0
Z95 = 1.959963984540054


class QueryError(ApiError):
    """The filter ``q`` did not compile; ``column`` (1-based) is where, for the page."""

    def __init__(self, error: FilterError) -> None:
        super().__init__(str(error), "q")
        self.column = error.column
        self.reason = error.message

    def as_dict(self) -> dict:
        return {"error": self.message, "field": "q", "column": self.column, "reason": self.reason}


@dataclass
class Param:
    """One flattened config key over the analysed runs."""

    key: str
    kind: str  # "numeric" or "categorical"
    log: bool = False
    integer: bool = False
    present: int = 0
    distinct: int = 0
    low: float | None = None
    high: float | None = None
    choices: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)  # one per row; None where unset
    note: str = ""  # why it is not ranked, when it is not
    importance: float | None = None
    spearman: dict | None = None
    pearson: dict | None = None

    @property
    def ranked(self) -> bool:
        return not self.note

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "log": self.log,
            "integer": self.integer,
            "present": self.present,
            "distinct": self.distinct,
            "low": self.low,
            "high": self.high,
            "choices": self.choices,
            "note": self.note,
            "importance": self.importance,
            "spearman": self.spearman,
            "pearson": self.pearson,
        }


def _category(value: Any) -> str:
    """A categorical value as the text a user reads: strings as they are, the rest as JSON
    (``true``, ``null``, ``[1, 2]``)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    """A finite number that fits a float (an integer of 400 digits is read as a category)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _log_scaled(values: list[float]) -> bool:
    """Whether values read better on a log scale: all positive, spanning two decades or
    more, and spread more evenly (less skewed) as logarithms than as they are, which is
    what a log-uniform search (learning rates, weight decay) gives and a uniform one
    (dropout from 0.001 to 0.5) does not."""
    low, high = min(values), max(values)
    if low <= 0 or high / low < LOG_RATIO:
        return False
    from scipy import stats

    distinct = np.unique(np.asarray(values, dtype=float))
    if len(distinct) < 3:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(abs(stats.skew(np.log10(distinct))) <= abs(stats.skew(distinct)))


def param_table(configs: list[dict], min_presence: float = MIN_PRESENCE) -> list[Param]:
    """The parameters of ``configs`` (one flattened config per row): a key whose set values
    are all finite numbers is numeric (log-scaled when that spreads them evenly: ``_log_scaled``),
    any other is categorical. Keys that cannot be ranked say why in ``note``."""
    rows = [flatten(c if isinstance(c, dict) else {}) for c in configs]
    keys = list(dict.fromkeys(k for row in rows for k in row))
    n = len(rows)
    params = []
    for key in keys:
        raw = [row.get(key) for row in rows]
        set_values = [v for v in raw if v is not None]
        numeric = bool(set_values) and all(_is_number(v) for v in set_values)
        if numeric:
            param = Param(key, "numeric", values=[float(v) if v is not None else None for v in raw])
            param.integer = all(isinstance(v, int) for v in set_values)
            param.low, param.high = float(min(set_values)), float(max(set_values))
            param.log = _log_scaled(set_values)
            param.distinct = len(set(set_values))
        else:
            values = [_category(v) if v is not None else None for v in raw]
            param = Param(key, "categorical", values=values)
            param.choices = sorted({v for v in values if v is not None})
            param.distinct = len(param.choices)
        param.present = len(set_values)
        if param.distinct < 2:
            param.note = "the same in every run" if param.present else "never set"
        elif param.kind == "categorical" and param.distinct > MAX_CATEGORIES:
            param.note = f"{param.distinct} distinct values: too many to rank (at most {MAX_CATEGORIES})"
        elif param.present < min_presence * n:
            param.note = f"set in only {param.present} of {n} runs"
        params.append(param)
    return params


def _distribution(param: Param):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.kind == "categorical":
        return CategoricalDistribution(param.choices)
    if param.integer:
        return IntDistribution(int(param.low), int(param.high), log=param.log)
    return FloatDistribution(param.low, param.high, log=param.log)


def importances(params: list[Param], target: list[float], evaluator: str = "mdi", seed: int = 0) -> dict:
    """Rank the ranked ``params`` by their importance for ``target`` (one value per row)
    with Optuna's evaluator over an in-memory study whose trials are the rows that set
    every ranked parameter. Fills ``param.importance`` (summing to 1) and returns how it
    was computed: evaluator, runs used, whether they were a sample, and why not when not."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, MeanDecreaseImpurityImportanceEvaluator
    from optuna.trial import create_trial

    if evaluator not in EVALUATORS:
        raise ApiError(f"importance must be one of {', '.join(EVALUATORS)}, got {evaluator!r}", "importance")
    ranked = [p for p in params if p.ranked]
    rows = [i for i in range(len(target)) if all(p.values[i] is not None for p in ranked)]
    info: dict[str, Any] = {"evaluator": evaluator, "runs": 0, "sampled": False, "note": ""}
    if not ranked:
        info["note"] = "no parameter varies across these runs"
        return info
    if len(rows) < 4:
        info["note"] = f"{len(rows)} runs set every varying parameter: at least 4 are needed"
        return info
    if len({target[i] for i in rows}) < 2:
        info["note"] = "the metric is the same in every run"
        return info
    cap = MAX_IMPORTANCE_RUNS[evaluator]
    if len(rows) > cap:
        rows = sorted(np.random.default_rng(seed).choice(rows, size=cap, replace=False).tolist())
        info["sampled"] = True
    distributions = {p.key: _distribution(p) for p in ranked}
    trials = [
        create_trial(
            params={p.key: int(p.values[i]) if p.integer else p.values[i] for p in ranked},
            distributions=distributions,
            value=target[i],
        )
        for i in rows
    ]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    study.add_trials(trials)
    if evaluator == "fanova":
        engine = FanovaImportanceEvaluator(seed=seed)
    else:
        # Half Optuna's default forest (64 trees, depth 64): the same ranking on a sweep's
        # few knobs, in half the time.
        engine = MeanDecreaseImpurityImportanceEvaluator(n_trees=32, max_depth=16, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = optuna.importance.get_param_importances(study, evaluator=engine, normalize=True)
    for param in ranked:
        value = float(scores.get(param.key, 0.0))
        param.importance = value if math.isfinite(value) else 0.0
    info["runs"] = len(rows)
    return info


def _interval(r: float, n: int, variance: float = 1.0) -> dict:
    """``r`` with its 95% interval by Fisher's z: atanh(r) ± z·sqrt(variance / (n - 3))."""
    if abs(r) >= 1:
        return {"r": r, "low": r, "high": r, "n": n}
    z, half = math.atanh(r), Z95 * math.sqrt(variance / (n - 3))
    return {"r": r, "low": math.tanh(z - half), "high": math.tanh(z + half), "n": n}


def correlations(params: list[Param], target: list[float]) -> None:
    """Spearman's and Pearson's r of each numeric parameter with ``target`` over the rows
    that set it, with 95% intervals (Fisher's z; Spearman's with Fieller, Hartley and
    Pearson's variance 1.06 / (n - 3)). Pearson's reads log-scaled parameters as log10."""
    from scipy import stats

    y_all = np.asarray(target, dtype=float)
    for param in params:
        if param.kind != "numeric" or param.distinct < 2:
            continue
        rows = [i for i, v in enumerate(param.values) if v is not None]
        if len(rows) < 4:
            continue
        x = np.asarray([param.values[i] for i in rows], dtype=float)
        y = y_all[rows]
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        if param.log:
            x = np.log10(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(stats.spearmanr(x, y).statistic)
            pearson = stats.pearsonr(x, y)
            ci = pearson.confidence_interval(0.95)
        if math.isfinite(rho):
            param.spearman = _interval(rho, len(rows), 1.06)
        r = float(pearson.statistic)
        if math.isfinite(r):
            param.pearson = {"r": r, "low": float(ci.low), "high": float(ci.high), "n": len(rows)}


def metric_column(agg: str, direction: str) -> str:
    """The ``Metric`` column that holds ``agg`` (``best`` is min or max by direction)."""
    if agg not in AGGS:
        raise ApiError(f"agg must be one of {', '.join(AGGS)}, got {agg!r}", "agg")
    if agg == "best":
        agg = "min" if direction == "min" else "max"
    return _COLUMNS[agg]


def _metric_keys(run_ids: QuerySet) -> list[str]:
    """The keys the runs logged, the most logged first (one grouped query)."""
    rows = (
        Metric.objects.filter(run__in=run_ids)
        .values("key")
        .annotate(n=Count("id"))
        .order_by("-n", "key")
        .values_list("key", flat=True)
    )
    return list(rows)


def analyse(
    runs: QuerySet[Run],
    *,
    q: str = "",
    metric: str = "",
    agg: str = "best",
    directions: dict[str, str] | None = None,
    objectives: list[str] | None = None,
    importance: str = "mdi",
) -> dict:
    """The analysis of ``runs`` (already what the user may see) narrowed by the filter
    ``q``, for ``metric`` (default: a sweep's objective, else the main metric) by ``agg``.
    Raises ApiError naming the parameter that is wrong (``q`` with its column)."""
    directions = directions or {}
    try:
        runs = filter_runs(runs, q, directions)
    except FilterError as error:
        raise QueryError(error) from None
    if agg not in AGGS:
        raise ApiError(f"agg must be one of {', '.join(AGGS)}, got {agg!r}", "agg")
    if importance not in EVALUATORS:
        raise ApiError(f"importance must be one of {', '.join(EVALUATORS)}, got {importance!r}", "importance")
    rows = list(runs.order_by("-created_at", "-pk").values_list("pk", "name", "config")[: MAX_RUNS + 1])
    truncated = len(rows) > MAX_RUNS
    rows = rows[:MAX_RUNS]
    total = runs.count() if truncated else len(rows)
    ids = [r[0] for r in rows]
    scope = runs.order_by("-created_at", "-pk").values("pk")[:MAX_RUNS] if truncated else runs.values("pk")
    keys = _metric_keys(scope) if rows else []
    if not metric:
        goals = [k for k in objectives or [] if k in keys]
        metric = goals[0] if goals else next(iter(default_metric_keys(keys, objectives or [], n=1)), "")
    elif keys and metric not in keys:
        shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
        raise ApiError(f"no run here logged {metric!r}; these runs logged: {shown}", "metric")
    direction = (directions.get(metric) or metric_direction(metric)) if metric else "max"
    column = metric_column(agg, direction)
    values: dict[int, float] = {}
    if metric and rows:
        found = Metric.objects.filter(run__in=scope, key=metric).values_list("run_id", column)
        values = {run_id: v for run_id, v in found if v is not None and math.isfinite(v)}
    kept = [r for r in rows if r[0] in values]
    kept.reverse()  # oldest first: the order the runs were made
    target = [values[r[0]] for r in kept]
    params = param_table([r[2] for r in kept])
    if kept:
        info = importances(params, target, importance)
    else:
        note = (
            f"no run here has a finite {agg} value of {metric!r}" if metric else "these runs logged no metric"
        )
        info = {"evaluator": importance, "runs": 0, "sampled": False, "note": note}
    correlations(params, target)
    params.sort(key=lambda p: (p.importance is None, -(p.importance or 0.0), not p.ranked, p.key))
    return {
        "q": q,
        "metric": metric,
        "agg": agg,
        "direction": direction,
        "column": column,
        "metrics": keys,
        "runs": {
            "matching": total,
            "read": len(ids),
            "truncated": truncated,
            "analysed": len(kept),
            "without_metric": len(ids) - len(kept),
        },
        "importance": info,
        "params": [p.as_dict() for p in params],
        "rows": {
            "id": [r[0] for r in kept],
            "name": [r[1] for r in kept],
            "metric": target,
            "values": {p.key: p.values for p in params},
        },
    }


def project_analysis(user, project, params) -> dict:
    """``analyse`` of ``project``'s runs that ``user`` may see, from request parameters
    ``params`` (``q``, ``metric``, ``agg``, ``importance``): the one call behind the API
    and the page, so both answer the same."""
    from experiments.directions import project_overrides
    from experiments.selectors import runs_of_project
    from experiments.tables import sweep_objectives

    def text(name: str, default: str = "", limit: int = 10_000) -> str:
        value = params.get(name, default).strip()
        if len(value) > limit:
            raise ApiError(f"{name} is {len(value)} characters; the limit is {limit}", name)
        return value or default

    result = analyse(
        runs_of_project(user, project),
        q=text("q"),
        metric=text("metric", limit=200),
        agg=text("agg", "best", 10),
        directions=project_overrides(project),
        objectives=sweep_objectives(project),
        importance=text("importance", "mdi", 10),
    )
    return {"project": project.name, **result}
