"""One declarative check of a sweep's definition, shared by the API and the admin form.

``parse_sweep`` turns an API body into model field values; ``check_sweep`` validates
field values however they arrived. Both raise ``SpecError`` naming the field.
"""

import re
from typing import Any

from experiments.directions import metric_direction
from experiments.errors import ApiError
from experiments.payloads import check_project_ref
from tuning import conf
from tuning.entrypoints import refusal
from tuning.errors import SpecError
from tuning.models import Direction
from tuning.samplers import build_pruner, build_sampler, get_sampler
from tuning.space import parse_space

_ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
MAX_TRIALS = 100_000
MAX_PARALLELISM = 1000


def check_entry_point(value: Any) -> str:
    """``module:function``, whose module the operator allows sweeps to run
    (``TUNING_ENTRY_POINT_MODULES``, an allowlist: empty allows nothing), and never the
    standard library or the server's own code. Workers check again before running it."""
    if type(value) is not str or not _ENTRY_POINT.match(value.strip()):
        raise SpecError("must be 'module:function', e.g. 'examples.train_digits:train'", "entry_point")
    value = value.strip()
    refused = refusal(value, conf.entry_point_modules())
    if refused:
        raise SpecError(refused, "entry_point")
    return value


def _int(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise SpecError(f"must be an integer from {low} to {high}, got {value!r}", field)
    return value


def check_sweep(fields: dict[str, Any]) -> None:
    """Validate a sweep's definition: the space, that the sampler and pruner can be built
    with their options for it, and the scalar fields."""
    distributions = parse_space(fields["space"])
    build_sampler(fields["sampler"], distributions, fields.get("seed"), fields.get("sampler_options") or {})
    build_pruner(fields["pruner"], fields.get("pruner_options") or {})
    check_entry_point(fields["entry_point"])
    objective = fields["objective"]
    if type(objective) is not str or not objective.strip() or len(objective) > 200:
        raise SpecError("must be the key of a metric the trials log, e.g. 'val/acc'", "objective")
    if fields["direction"] not in Direction.values:
        raise SpecError(f"must be one of {', '.join(Direction.values)}", "direction")
    _int(fields["n_trials"], "n_trials", 1, MAX_TRIALS)
    most, n_trials = get_sampler(fields["sampler"]).max_trials(distributions), fields["n_trials"]
    if most is not None and n_trials > most:
        message = f"the {fields['sampler']} sampler has {most} points to try; n_trials ({n_trials}) is larger"
        raise SpecError(message, "n_trials")
    _int(fields["parallelism"], "parallelism", 1, MAX_PARALLELISM)
    if fields.get("seed") is not None:
        _int(fields["seed"], "seed", 0, 2**32 - 1)
    if type(fields.get("config", {})) is not dict:
        raise SpecError("must be a JSON object", "config")
    overlap = set(fields.get("config") or {}) & set(fields["space"])
    if overlap:
        raise SpecError(f"{sorted(overlap)[0]!r} is both fixed and searched; keep it in one place", "config")


_FIELDS = {
    "project": str,
    "name": str,
    "entry_point": str,
    "space": dict,
    "objective": str,
    "direction": str,
    "n_trials": int,
    "parallelism": int,
    "sampler": str,
    "sampler_options": dict,
    "pruner": str,
    "pruner_options": dict,
    "seed": int,
    "config": dict,
    "start": bool,
}
_REQUIRED = ("project", "entry_point", "space", "objective")
_KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "a JSON object"}


def parse_sweep(body: Any) -> dict[str, Any]:
    """An API body as sweep field values (plus ``project`` name and ``start`` flag).

    Defaults: direction from the objective's name (a loss is minimised), 20 trials,
    parallelism 1, TPE, median pruning, no seed, empty config, started at once.
    """
    if type(body) is not dict:
        raise SpecError("request body must be a JSON object")
    unknown = set(body) - set(_FIELDS)
    if unknown:
        raise SpecError(f"unknown field {sorted(unknown)[0]!r}", sorted(unknown)[0])
    for field in _REQUIRED:
        if body.get(field) in (None, ""):
            raise SpecError("is required", field)
    for field, kind in _FIELDS.items():
        value = body.get(field)
        if value is not None and type(value) is not kind:
            raise SpecError(f"must be {_KIND_NAMES[kind]}, got {value!r}", field)
    try:  # the rule every project name follows (routable in URLs)
        project = check_project_ref(body["project"])
    except ApiError as exc:
        raise SpecError(exc.message, "project") from None
    objective = body["objective"]
    fields = {
        "name": (body.get("name") or "").strip()[:200],
        "entry_point": body["entry_point"],
        "space": body["space"],
        "objective": objective,
        "direction": body.get("direction")
        or (Direction.MINIMIZE if metric_direction(objective) == "min" else Direction.MAXIMIZE),
        "n_trials": body.get("n_trials", 20),
        "parallelism": body.get("parallelism", 1),
        "sampler": body.get("sampler") or "tpe",
        "sampler_options": body.get("sampler_options") or {},
        "pruner": body.get("pruner") or "median",
        "pruner_options": body.get("pruner_options") or {},
        "seed": body.get("seed"),
        "config": body.get("config") or {},
    }
    check_sweep(fields)
    fields["entry_point"] = fields["entry_point"].strip()
    return {"project": project, "start": body.get("start", True), **fields}
