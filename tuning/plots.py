"""Optuna's Plotly figures, drawn from the trial rows rather than from the study storage:
the web process then needs no connection to Optuna's tables, and the figures show
exactly what the pages and the API show.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
import zlib
from collections.abc import Callable
from typing import Any

import optuna
from django.core.cache import cache
from django.db.models import Count, Max
from optuna.trial import TrialState as OptunaState

from tuning.models import Sweep, Trial, TrialState
from tuning.space import parse_space

logger = logging.getLogger(__name__)

_STATES = {
    TrialState.COMPLETE: OptunaState.COMPLETE,
    TrialState.PRUNED: OptunaState.PRUNED,
    TrialState.FAILED: OptunaState.FAIL,
}
_MAX_SLICE_PARAMS = 8


def study_from_trials(sweep: Sweep, trials: list[Trial]) -> optuna.Study:
    """An in-memory study holding the sweep's ended trials. A trial whose parameters no
    longer fit the space (edited after it ran) is left out rather than failing the page."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=sweep.direction)
    distributions = parse_space(sweep.space)
    frozen = []
    for trial in trials:
        state = _STATES.get(trial.state)
        if state is None or trial.number is None:
            continue
        value = trial.value if state != OptunaState.FAIL else None
        if state == OptunaState.COMPLETE and (value is None or not math.isfinite(value)):
            continue
        intermediate = {i: v for i, (_, v) in enumerate(trial.intermediate or []) if v is not None}
        try:
            frozen.append(
                optuna.trial.create_trial(
                    state=state,
                    value=value,
                    params=trial.params,
                    distributions={k: distributions[k] for k in trial.params},
                    intermediate_values=intermediate,
                )
            )
        except (KeyError, ValueError) as exc:
            logger.info("trial %s of sweep %s left out of the plots: %s", trial.number, sweep.pk, exc)
    study.add_trials(frozen)
    return study


def _important_params(study: optuna.Study, limit: int) -> list[str] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "too few trials": the ranking is still usable
            importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):
        return None
    return list(importances)[:limit]


def _figures(study: optuna.Study) -> dict[str, Callable[[], Any]]:
    vis = optuna.visualization
    ranked = _important_params(study, _MAX_SLICE_PARAMS)
    return {
        "history": lambda: vis.plot_optimization_history(study),
        "intermediate": lambda: vis.plot_intermediate_values(study),
        "importances": lambda: vis.plot_param_importances(study),
        "parallel": lambda: vis.plot_parallel_coordinate(study, params=ranked),
        # Every pair of many parameters is unreadable: the two that matter most.
        "contour": lambda: vis.plot_contour(study, params=ranked[:2] if ranked else None),
        "slice": lambda: vis.plot_slice(study, params=ranked),
    }


TITLES = {
    "history": "Optimization history",
    "intermediate": "Intermediate values",
    "importances": "Parameter importances",
    "parallel": "Parallel coordinates",
    "contour": "Contour",
    "slice": "Slice",
}


def figures(sweep: Sweep) -> dict[str, dict]:
    """``{name: {"figure": plotly JSON} or {"message": why not}}`` for the sweep page."""
    trials = list(sweep.trials.exclude(state=TrialState.RUNNING).order_by("number"))
    study = study_from_trials(sweep, trials)
    complete = sum(1 for t in study.trials if t.state == OptunaState.COMPLETE)
    result: dict[str, dict] = {}
    for name, make in _figures(study).items():
        if complete == 0 and name != "intermediate":
            result[name] = {"message": "Appears when a trial completes."}
            continue
        if name == "contour" and len(sweep.space) < 2:
            result[name] = {"message": "Needs two or more parameters."}
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figure = make()
            figure.update_layout(title=None, margin={"l": 60, "r": 20, "t": 20, "b": 50})
            data = json.loads(figure.to_json())
            # Plotly.js's own defaults look like the run page's charts; the embedded
            # template is most of the bytes and of the time to build them.
            data["layout"].pop("template", None)
            result[name] = {"figure": data}
        except Exception as exc:  # a figure that needs more trials or parameters
            result[name] = {"message": str(exc) or type(exc).__name__}
    return result


def figures_cached(sweep: Sweep) -> dict[str, dict]:
    """``figures``, recomputed only when a trial has ended since (importances fit a
    random forest: too slow to redo on every refresh of a page left open)."""
    state = sweep.trials.exclude(state=TrialState.RUNNING).aggregate(n=Count("id"), last=Max("finished_at"))
    space = zlib.crc32(json.dumps(sweep.space, sort_keys=True).encode())
    last = state["last"].timestamp() if state["last"] else 0  # no spaces: a valid memcached key
    key = f"tuning:figures:{sweep.pk}:{state['n']}:{last}:{space}"
    cached = cache.get(key)
    if cached is None:
        cached = figures(sweep)
        cache.set(key, cached, 3600)
    return cached
