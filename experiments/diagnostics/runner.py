"""One diagnosis pass over a run: every analyzer (with the project's thresholds), their
findings stored in place of the previous pass's, and a live "findings" event when
something changed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from experiments.diagnostics.base import Finding, analyzers, finding_score
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import AnalyzerSettings
from experiments.diagnostics.store import findings_replace
from experiments.models import Run, RunStatus

log = logging.getLogger(__name__)


@dataclass
class Pass:
    """What one pass did: findings per analyzer, failures, and whether stored findings changed."""

    run_id: int
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    changed: bool = False
    seconds: float = 0.0

    @property
    def all(self) -> list[Finding]:
        return [f for found in self.findings.values() for f in found]

    def kinds(self) -> set[str]:
        return {f.kind for f in self.all}


def project_limits(run: Run) -> dict[str, AnalyzerSettings]:
    return {s.analyzer: s for s in AnalyzerSettings.objects.filter(project_id=run.project_id)}


def run_diagnose(*, run_id: int) -> Pass | None:
    """Run every analyzer over the run ``run_id`` and store what they find. Returns None
    when the run no longer exists."""
    started = time.perf_counter()
    run = Run.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        return None
    result = Pass(run_id=run.pk)
    data = RunData(run)
    settings = project_limits(run)
    produced: dict[str, list[tuple[Finding, float]]] = {}
    for cls in analyzers():
        chosen = settings.get(cls.name)
        if chosen is not None and not chosen.enabled:
            produced[cls.name] = []  # turned off: its findings go
            result.skipped.append(cls.name)
            continue
        if not cls.live and run.status == RunStatus.RUNNING:
            result.skipped.append(cls.name)
            continue
        limits = {**cls.thresholds, **((chosen.thresholds or {}) if chosen is not None else {})}
        try:
            found = list(cls().analyze(data, limits))
        except Exception as exc:  # one broken analyzer must not hide the others' findings
            log.exception("analyzer %s failed on run %s", cls.name, run.pk)
            result.errors[cls.name] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        result.findings[cls.name] = found
        produced[cls.name] = [(f, finding_score(f, cls.priority)) for f in found]
    result.changed = findings_replace(run=run, produced=produced, errors=result.errors)
    result.seconds = time.perf_counter() - started
    log.debug("diagnosed run %s in %.3fs: %s", run.pk, result.seconds, sorted(result.kinds()))
    return result
