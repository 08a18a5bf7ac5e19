"""A run that failed or crashed before it logged a single point: the other analyzers
have nothing to read, and without this one the health panel would say "no problems
found" under a red "failed" badge. It names what went wrong (the error's exception line
and the exit code) so the panel says why there is nothing to see."""

from __future__ import annotations

from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import FindingSeverity
from experiments.formatting import error_summary, fmt_duration
from experiments.models import RunStatus

EXPLANATION = (
    "The run ended before its first tracker.log() reached the server, so there are no curves to judge. "
    "Whatever stopped it happened during start-up: importing or building the model, loading data, reaching "
    "the server, or the first training step. The error below is the process's own account; the exit code "
    "tells a Python exception (1) from a kill (-9 or 137: often out of memory) or an interrupt (130)."
)


class FailedBeforeLogging(Analyzer):
    name = "failed_early"
    title = "Failed before logging anything"
    priority = 0  # before anything else: it explains why nothing else can be said
    live = False  # a running run may simply not have logged yet

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        row = run.run
        if row.status not in (RunStatus.FAILED, RunStatus.CRASHED) or run.metrics:
            return []
        error = error_summary(row.error or "", limit=300)
        crashed = row.status == RunStatus.CRASHED
        lasted = fmt_duration(row.duration_seconds) if row.duration_seconds is not None else ""
        summary = f"The run {'stopped answering' if crashed else 'failed'}"
        summary += f" after {lasted}" if lasted else ""
        summary += " before it logged a single point"
        summary += f": {error}" if error else (" (no heartbeat: the process died)" if crashed else ".")
        if error and not summary.endswith("."):
            summary += "."
        remedies = []
        if error:
            remedies.append(f"Fix what the error says ({error}); the full traceback is in the Error box.")
        if crashed:
            remedies.append(
                "The process stopped without telling the server: look at its own log or the scheduler's "
                "(a kill for memory shows as exit code 137 or -9)."
            )
        remedies.append(
            "Run the script once by hand with a tiny config (one batch, one step) to see it start, then "
            "log the first metrics before any long set-up."
        )
        return [
            Finding(
                kind="failed_early",
                severity=FindingSeverity.CRITICAL,
                title="Crashed before logging anything" if crashed else "Failed before logging anything",
                summary=summary,
                explanation=EXPLANATION,
                remedies=remedies,
                evidence={
                    "status": row.status,
                    "exit_code": row.exit_code,
                    "error": error,
                    "duration": lasted,
                },
            )
        ]
