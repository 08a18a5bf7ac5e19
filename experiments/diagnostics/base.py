"""The analyzer contract, its registry, and what an analyzer returns (``Finding``).

An analyzer is a small class: subclass ``Analyzer``, give it a ``name``, defaults for its
``thresholds`` and an ``analyze`` method, in a module of ``experiments.diagnostics.analyzers``.
Defining the class registers it; every module of that package is imported when the
analyzers are first asked for, so adding one edits no list.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from experiments.diagnostics.models import FindingSeverity

if TYPE_CHECKING:
    from experiments.diagnostics.data import RunData

SEVERITY_WEIGHT = {FindingSeverity.INFO: 1, FindingSeverity.WARNING: 2, FindingSeverity.CRITICAL: 3}


@dataclass
class Finding:
    """What an analyzer found, in the user's terms.

    - ``kind``: what is wrong (``"overfitting"``); with ``subject`` (a layer, a GPU, a
      class, or ``""``) it identifies the finding across passes, so a dismissal sticks.
    - ``severity``: ``"critical"`` (the run is wasting its time: NaN, out of memory soon),
      ``"warning"`` (results suffer), ``"info"`` (worth knowing).
    - ``title``: a few words with the key fact ("Overfitting since step 120");
      ``summary``: one sentence with the numbers; ``explanation``: one paragraph on why
      this reading of the curves means what it says.
    - ``remedies``: concrete things to try, best first (the first one is the "what to try
      next" line); use the run's own numbers (its lr, the step to stop at).
    - ``step_start``/``step_end``: the steps the evidence covers (marked on the charts).
    - ``evidence``: the numbers, ``snake_case`` name -> number, string or short list.
      Name suffixes tell the page how to format: ``_step``, ``_pct`` (a percentage),
      ``_bytes``.
    - ``keys``: metric keys the evidence lies on (their charts get the step range);
      ``marks``: single steps worth a line, ``[{"step": 120, "label": "best val/loss"}]``.
    - ``priority``: lower comes first among findings of one severity (default: the
      analyzer's).
    """

    kind: str
    severity: str
    title: str
    summary: str
    explanation: str
    remedies: list[str]
    step_start: int | None = None
    step_end: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    marks: list[dict[str, Any]] = field(default_factory=list)
    subject: str = ""
    priority: int | None = None

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}:{self.subject}"


class Analyzer(ABC):
    """A judge of one aspect of a training run. Subclasses set:

    - ``name``: unique and stable (stored with its findings, and the key of a project's
      ``AnalyzerSettings``);
    - ``title``: for people (admin, API);
    - ``thresholds``: every tunable number with its default; a project may override any
      of them by name, and ``analyze`` receives the merged values, so never hard-code a
      threshold in ``analyze``;
    - ``threshold_help``: one line per threshold, shown in the admin;
    - ``priority``: where its findings rank in "what to try next" within a severity
      (lower first: fix a NaN before tuning regularisation);
    - ``live``: False to judge only runs that have ended (e.g. "not converged").

    and implement ``analyze(run, limits)``, returning the findings that hold *now*, from
    nothing but the run's stored data (``RunData``: series through the downsampled
    queries, confusion matrices, summary, config). It must be a pure function of that
    data: it is called again on every pass while a run is live and at its end, and its
    findings replace the ones of its previous pass. Return ``[]`` when the data cannot
    tell (too few points, a metric not logged); never guess. An exception is logged and
    leaves the analyzer's previous findings in place.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    thresholds: ClassVar[dict[str, float]] = {}
    threshold_help: ClassVar[dict[str, str]] = {}
    priority: ClassVar[int] = 50
    live: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            return  # an abstract helper class
        known = _REGISTRY.get(cls.name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"two analyzers are named {cls.name!r}: {known.__qualname__} and {cls.__qualname__}"
            )
        _REGISTRY[cls.name] = cls

    @abstractmethod
    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        """The findings of this analyzer on one run, with ``limits`` its thresholds."""


_REGISTRY: dict[str, type[Analyzer]] = {}
_loaded = False


def _load_plugins() -> None:
    """Import every module of ``experiments.diagnostics.analyzers`` (they register)."""
    global _loaded
    if _loaded:
        return
    from experiments.diagnostics import analyzers as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def analyzers() -> list[type[Analyzer]]:
    """Every registered analyzer, by name."""
    _load_plugins()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def analyzer(name: str) -> type[Analyzer] | None:
    _load_plugins()
    return _REGISTRY.get(name)


def finding_score(finding: Finding, default_priority: int) -> float:
    """Rank for "what to try next": severity first, then priority (lower is sooner)."""
    priority = default_priority if finding.priority is None else finding.priority
    return SEVERITY_WEIGHT.get(finding.severity, 0) * 1000.0 - priority


def validate_thresholds(name: str, values: Any) -> dict[str, float]:
    """A project's thresholds for analyzer ``name``, checked: known names, numbers.
    Raises ValueError naming the problem."""
    cls = analyzer(name)
    if cls is None:
        raise ValueError(f"no analyzer is named {name!r}; known: {', '.join(a.name for a in analyzers())}")
    if not isinstance(values, dict):
        raise ValueError("thresholds must be a JSON object of name: number")
    out = {}
    for key, value in values.items():
        if key not in cls.thresholds:
            raise ValueError(f"{name} has no threshold {key!r}; it has {', '.join(sorted(cls.thresholds))}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(f"threshold {key!r} must be a number, got {value!r}")
        out[key] = float(value)
    return out
