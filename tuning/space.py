"""The search space: JSON in, Optuna distributions out, with errors that name the parameter.

    {"lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": true},
     "width": {"type": "int", "low": 16, "high": 128, "step": 16},
     "opt": {"type": "categorical", "choices": ["adam", "sgd"]}}

One validator for every way in (API, admin form, SDK), so a space that is accepted can
always be turned into distributions by the workers.
"""

import math
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuning.errors import SpecError

TYPES = ("float", "int", "categorical")
_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
MAX_PARAMS = 100
MAX_CHOICES = 1000


class SpaceError(SpecError):
    """A search space that cannot be used. ``param`` names the bad parameter (None when
    the space as a whole is wrong); the message starts with it and ``field`` is
    ``space.<param>``."""

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(f"{param}: {message}" if param else message, f"space.{param}" if param else "space")


def _number(spec: dict, key: str, name: str, *, integer: bool) -> int | float:
    if key not in spec:
        raise SpaceError(f"'{key}' is required for a {spec['type']} parameter", name)
    value = spec[key]
    if integer:
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise SpaceError(f"'{key}' must be an integer, got {value!r}", name)
        return value
    if type(value) not in (int, float) or not math.isfinite(value):
        raise SpaceError(f"'{key}' must be a finite number, got {value!r}", name)
    return float(value)


def _flag(spec: dict, key: str, name: str) -> bool:
    value = spec.get(key, False)
    if type(value) is not bool:
        raise SpaceError(f"'{key}' must be true or false, got {value!r}", name)
    return value


def _range(spec: dict, name: str) -> BaseDistribution:
    integer = spec["type"] == "int"
    low = _number(spec, "low", name, integer=integer)
    high = _number(spec, "high", name, integer=integer)
    if low > high:
        raise SpaceError(f"'low' ({low}) must not be above 'high' ({high})", name)
    log = _flag(spec, "log", name)
    step = None
    if spec.get("step") is not None:
        step = _number(spec, "step", name, integer=integer)
        if step <= 0:
            raise SpaceError(f"'step' must be positive, got {step}", name)
        if log and not (integer and step == 1):
            raise SpaceError("'step' and 'log' cannot be combined", name)
    if log and low <= 0:
        raise SpaceError(f"a log scale needs 'low' above 0, got {low}", name)
    if integer:
        return IntDistribution(low, high, log=log, step=step or 1)
    return FloatDistribution(low, high, log=log, step=step)


def _categorical(spec: dict, name: str) -> CategoricalDistribution:
    choices = spec.get("choices")
    if type(choices) is not list or not choices:
        raise SpaceError("'choices' must be a non-empty list", name)
    if len(choices) > MAX_CHOICES:
        raise SpaceError(f"at most {MAX_CHOICES} choices", name)
    for choice in choices:
        if choice is not None and type(choice) not in (str, int, float, bool):
            raise SpaceError(f"choices must be strings, numbers, booleans or null; got {choice!r}", name)
        if type(choice) is float and not math.isfinite(choice):
            raise SpaceError(f"choices must be finite numbers, got {choice!r}", name)
    # Keyed by type too: JSON's 1 and true are different choices, Python's are equal.
    seen = {(type(c), c) for c in choices}
    if len(seen) != len(choices):
        raise SpaceError("'choices' has duplicates", name)
    return CategoricalDistribution(choices)


def parse_space(space: Any) -> dict[str, BaseDistribution]:
    """Validate ``space`` and return its Optuna distributions, by parameter name.

    Raises ``SpaceError`` naming the first bad parameter.
    """
    if type(space) is not dict:
        raise SpaceError(f"the search space must be a JSON object, got {type(space).__name__}")
    if not space:
        raise SpaceError("the search space is empty: give at least one parameter")
    if len(space) > MAX_PARAMS:
        raise SpaceError(f"at most {MAX_PARAMS} parameters")
    distributions: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if not name.strip() or len(name) > 100:
            raise SpaceError(f"parameter names must be 1 to 100 characters, got {name!r}")
        if type(spec) is not dict:
            raise SpaceError('must be an object such as {"type": "float", "low": 0, "high": 1}', name)
        kind = spec.get("type")
        if kind not in TYPES:
            raise SpaceError(f"'type' must be one of {', '.join(TYPES)}; got {kind!r}", name)
        unknown = set(spec) - _KEYS[kind]
        if unknown:
            allowed = ", ".join(sorted(_KEYS[kind]))
            raise SpaceError(
                f"unknown key {sorted(unknown)[0]!r} for a {kind} parameter (use {allowed})", name
            )
        distributions[name] = _categorical(spec, name) if kind == "categorical" else _range(spec, name)
    return distributions


def grid_values(distributions: dict[str, BaseDistribution]) -> dict[str, list]:
    """Every value of each parameter, for grid search; ranges need a step (or int)."""
    grid: dict[str, list] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            grid[name] = list(dist.choices)
        elif isinstance(dist, IntDistribution) and not dist.log:
            grid[name] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            count = math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1
            grid[name] = [round(dist.low + i * dist.step, 12) for i in range(count)]
        else:
            raise SpaceError("grid search needs a 'step' (or choices) for every range parameter", name)
        if len(grid[name]) > 100_000:
            raise SpaceError("too many grid values", name)
    return grid


def sample_config(fixed: dict, params: dict) -> dict:
    """A trial's config: the sweep's fixed config, overridden by the trial's parameters."""
    return {**fixed, **params}
