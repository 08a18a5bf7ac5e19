"""Samplers and pruners as plug-ins: a subclass with a ``name`` registers itself, and the
admin, the API and the workers find it by that name. Adding one is one class here (or in
any module imported at start-up); nothing else lists them.
"""

from __future__ import annotations

import importlib.util
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution

from tuning.errors import SpecError
from tuning.space import grid_values

SAMPLERS: dict[str, type[Sampler]] = {}
PRUNERS: dict[str, type[Pruner]] = {}


def _options(kind: str, plugin: Any, options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if type(options) is not dict:
        raise SpecError(f"{kind} options must be a JSON object", f"{kind}_options")
    unknown = set(options) - set(plugin.options)
    if unknown:
        allowed = ", ".join(sorted(plugin.options)) or "none"
        raise SpecError(
            f"{kind} {plugin.name!r} has no option {sorted(unknown)[0]!r} (allowed: {allowed})",
            f"{kind}_options",
        )
    return options


class Sampler(ABC):
    """Contract of a sampler plug-in.

    ``name`` is what sweeps store; ``label`` is shown in the admin; ``options`` are the
    keyword arguments a sweep may pass through ``sampler_options``. ``check`` raises
    ``SpecError`` when the sampler cannot search a space (called when a sweep is saved, so
    a worker never meets an unusable one). ``build`` returns a fresh Optuna sampler; it is
    called once per trial, in whichever worker runs the trial, so the sampler must keep
    its state in the study (Optuna's samplers do); ``trial_seed`` derives the seed it gets
    for the sweep's ``index``-th trial.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            SAMPLERS[cls.name] = cls

    def check(self, distributions: dict[str, BaseDistribution]) -> None:
        """Raise ``SpecError`` if this sampler cannot search ``distributions``."""
        return  # most samplers search any space

    def trial_seed(self, seed: int | None, index: int) -> int | None:
        """A seed per trial: a sampler built afresh with the same seed would propose the
        same point every time. ``seed + index`` keeps a one-at-a-time sweep repeatable."""
        return None if seed is None else (seed + index) % 2**32

    def max_trials(self, distributions: dict[str, BaseDistribution]) -> int | None:
        """How many distinct trials the space allows this sampler (None: unbounded)."""
        return None

    @abstractmethod
    def build(
        self, distributions: dict[str, BaseDistribution], seed: int | None, options: dict[str, Any]
    ) -> optuna.samplers.BaseSampler:
        """The Optuna sampler for this space, seed and (validated) options."""


class TPE(Sampler):
    name, label = "tpe", "TPE (Bayesian)"
    options = frozenset({"n_startup_trials", "n_ei_candidates", "multivariate", "group", "constant_liar"})

    def build(self, distributions, seed, options):
        return optuna.samplers.TPESampler(seed=seed, **options)


class Random(Sampler):
    name, label = "random", "Random search"

    def build(self, distributions, seed, options):
        return optuna.samplers.RandomSampler(seed=seed)


class Grid(Sampler):
    name, label = "grid", "Grid search"

    def check(self, distributions):
        grid_values(distributions)

    def trial_seed(self, seed, index):
        # The seed fixes the grid's order; trial i takes point i of it, so it must not vary.
        return seed

    def max_trials(self, distributions):
        return math.prod(len(values) for values in grid_values(distributions).values())

    def build(self, distributions, seed, options):
        return optuna.samplers.GridSampler(grid_values(distributions), seed=seed)


class CmaEs(Sampler):
    name, label = "cmaes", "CMA-ES"
    options = frozenset({"n_startup_trials", "sigma0", "restart_strategy", "popsize", "with_margin"})

    def check(self, distributions):
        if importlib.util.find_spec("cmaes") is None:
            raise SpecError(
                "sampler 'cmaes' needs the cmaes package on the workers: pip install cmaes", "sampler"
            )

    def build(self, distributions, seed, options):
        return optuna.samplers.CmaEsSampler(seed=seed, **options)


class Pruner(ABC):
    """Contract of a pruner plug-in: as ``Sampler``, without ``check``. ``build`` is
    called in the supervising worker, which reports the n-th logged value of the
    objective as step n and asks the pruner after each report."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    options: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            PRUNERS[cls.name] = cls

    @abstractmethod
    def build(self, options: dict[str, Any]) -> optuna.pruners.BasePruner:
        """The Optuna pruner for these (validated) options."""


class Median(Pruner):
    name, label = "median", "Median"
    options = frozenset({"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"})

    def build(self, options):
        return optuna.pruners.MedianPruner(**options)


class SuccessiveHalving(Pruner):
    name, label = "successive_halving", "Successive halving"
    options = frozenset({"min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count"})

    def build(self, options):
        return optuna.pruners.SuccessiveHalvingPruner(**options)


class Hyperband(Pruner):
    name, label = "hyperband", "Hyperband"
    options = frozenset({"min_resource", "max_resource", "reduction_factor", "bootstrap_count"})

    def build(self, options):
        return optuna.pruners.HyperbandPruner(**options)


class NoPruning(Pruner):
    name, label = "none", "None (every trial runs to the end)"

    def build(self, options):
        return optuna.pruners.NopPruner()


def get_sampler(name: str) -> Sampler:
    if name not in SAMPLERS:
        raise SpecError(f"unknown sampler {name!r}; use one of {', '.join(SAMPLERS)}", "sampler")
    return SAMPLERS[name]()


def get_pruner(name: str) -> Pruner:
    if name not in PRUNERS:
        raise SpecError(f"unknown pruner {name!r}; use one of {', '.join(PRUNERS)}", "pruner")
    return PRUNERS[name]()


def build_sampler(
    name: str, distributions: dict[str, BaseDistribution], seed: int | None, options: Any, index: int = 0
) -> optuna.samplers.BaseSampler:
    """The named sampler for the sweep's ``index``-th trial, checked against the space;
    bad options raise ``SpecError``."""
    plugin = get_sampler(name)
    plugin.check(distributions)
    kwargs = _options("sampler", plugin, options)
    try:
        return plugin.build(distributions, plugin.trial_seed(seed, index), kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"sampler {name!r}: {exc}", "sampler_options") from None


def build_pruner(name: str, options: Any) -> optuna.pruners.BasePruner:
    plugin = get_pruner(name)
    kwargs = _options("pruner", plugin, options)
    try:
        return plugin.build(kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"pruner {name!r}: {exc}", "pruner_options") from None


def choices(registry: dict[str, type[Sampler]] | dict[str, type[Pruner]]) -> list[tuple[str, str]]:
    """(name, label) pairs for a form's select."""
    return [(name, cls.label) for name, cls in registry.items()]
