"""Divergence: a loss that became NaN/inf, or exploded and stayed up."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.analyzers.learning_rate import learning_rate_source
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import Curve, RunData
from experiments.diagnostics.models import FindingSeverity

EXPLANATION = (
    "A loss that turns NaN or infinite, or climbs orders of magnitude above its best, means the optimisation "
    "has left the region where the model learns. Once a NaN reaches the weights every later step computes "
    "NaN too, so nothing after that point is training. The usual cause is an update too large for the "
    "curvature of the loss: weights and activations grow geometrically until they overflow float32 (about "
    "3.4e38). Other causes are a log(0) or a division by zero in the loss, NaN/inf already in the inputs, "
    "and float16 overflow without loss scaling."
)


def _remedies(run: RunData, clip_at: float | None) -> list[str]:
    lr, source = learning_rate_source(run)
    if lr:
        said = "the config has lr=" if source == "the config" else f"{source} was "
        first = f"Lower the learning rate: {said}{stats.fmt(lr)}; try {stats.fmt(lr / 10)} (10× lower)."
    else:
        first = "Lower the learning rate (10× is a good first try), with a warm-up over the first steps."
    clip = stats.fmt(clip_at) if clip_at else "1.0"
    return [
        first,
        "Clip gradients before the optimizer step: torch.nn.utils.clip_grad_norm_(model.parameters(), "
        f"max_norm={clip}).",
        "Guard divisions and logs with an eps (x / (y + 1e-8), torch.log(p + 1e-8)); use F.cross_entropy or "
        "log_softmax instead of log(softmax(x)).",
        "Normalise the inputs (zero mean, unit variance) and, for a regression, the targets.",
        "Check the data: assert torch.isfinite(batch).all() on inputs and targets; with float16 use "
        "torch.amp.GradScaler (or bfloat16).",
    ]


def with_checkpoint(run: RunData, finding: Finding, before_step: int) -> Finding:
    """``finding`` naming the last checkpoint saved at or before ``before_step`` (where the
    blow-up began), to resume from, when the run has one."""
    checkpoint = run.checkpoint_before(before_step)
    if checkpoint is None:
        return finding
    step, name = checkpoint
    finding.evidence["resume_checkpoint"] = name
    finding.evidence["resume_checkpoint_step"] = step
    finding.summary += f" Resume from checkpoint {name}, saved at step {step}, before it began."
    finding.remedies.insert(
        1,
        f"Resume from checkpoint {name} (step {step}) with the lower learning rate: "
        f"tracker.load_checkpoint({run.run.pk}, which={step}).",
    )
    finding.marks.append({"step": step, "label": f"checkpoint {name}"})
    return finding


class Divergence(Analyzer):
    name = "divergence"
    title = "Divergence (NaN/inf or exploding loss)"
    priority = 10
    thresholds = {"explode_factor": 10.0, "persist_points": 3}
    threshold_help = {
        "explode_factor": "a finite loss counts as exploded when it stays this many times above its best",
        "persist_points": "how many of the last points must stay exploded (spikes that recover are not "
        "divergence)",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        keys = [k for k in run.keys if "loss" in k.lower()]
        # The training loss first: it is where divergence starts and is seen first.
        keys.sort(key=lambda k: (k != run.train_loss, k))
        for key in keys:
            curve = run.curve(key)
            if curve is None or len(curve) < 2:
                continue
            finding = self._nonfinite(run, curve) or self._explosion(run, curve, limits)
            if finding is not None:
                return [with_checkpoint(run, finding, int(finding.step_start))]
        return []

    def _clip_hint(self, run: RunData, before_step: int) -> float | None:
        """Twice the typical gradient norm before things went wrong, when it is logged."""
        norms = run.curve("grad/global_norm")
        if norms is None:
            return None
        healthy = norms.finite.between(-np.inf, before_step - 1)
        typical = stats.median(healthy.value)
        return 2 * typical if typical == typical and typical > 0 else None

    def _nonfinite(self, run: RunData, curve: Curve) -> Finding | None:
        bad = ~np.isfinite(curve.value)
        if not bad.any():
            return None
        first = int(np.flatnonzero(bad)[0])
        first_step = int(curve.step[first])
        value = curve.value[first]
        what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        before = curve.finite.between(-np.inf, first_step - 1)
        # Where the blow-up began: the last minimum before the first non-finite value.
        start = int(before.step[int(np.argmin(before.value))]) if len(before) else first_step
        growth = None
        if len(before) >= 2:
            low = float(before.value.min())
            high = float(before.value[-1])
            growth = high / low if low > 0 else None
        metric = run.metrics[curve.key]
        others = [
            k for k, m in sorted(run.metrics.items()) if m.nonfinite_count and k != curve.key and k != "lr"
        ][:6]
        evidence = {
            "metric": curve.key,
            "first_nonfinite_step": first_step,
            "first_nonfinite_value": what,
            "nonfinite_points": int(metric.nonfinite_count or bad.sum()),
            "last_finite_value": stats.rounded(float(before.value[-1])) if len(before) else None,
            "last_finite_step": int(before.step[-1]) if len(before) else None,
            "blowup_from_step": start,
        }
        if growth:
            evidence["growth_before_nonfinite"] = stats.rounded(growth)
        if others:
            evidence["also_nonfinite"] = others
        grew = f" after growing ×{stats.fmt(growth)} since step {start}" if growth and growth > 10 else ""
        return Finding(
            kind="divergence",
            severity=FindingSeverity.CRITICAL,
            title=f"Divergence: {curve.key} became {what} at step {first_step}",
            summary=(
                f"{curve.key} turned {what} at step {first_step}{grew}; {evidence['nonfinite_points']} of "
                "its points are not finite."
            ),
            explanation=EXPLANATION,
            remedies=_remedies(run, self._clip_hint(run, start + 1)),
            step_start=start,
            step_end=int(curve.step[-1]),
            evidence=evidence,
            keys=[curve.key, *[k for k in others if k.startswith("grad/")][:1]],
            marks=[{"step": first_step, "label": f"{what}"}],
        )

    def _explosion(self, run: RunData, curve: Curve, limits: dict[str, float]) -> Finding | None:
        finite = curve.finite
        persist = max(1, int(limits["persist_points"]))
        if len(finite) < max(5, persist + 2):
            return None
        smooth = stats.rolling_median(finite.value, 5)
        best = int(np.argmin(smooth))
        low = float(smooth[best])
        start_level = float(smooth[0])
        factor = limits["explode_factor"]
        tail = finite.value[-persist:]
        if low <= 0 or best >= len(finite) - persist:
            return None
        if not (tail.min() >= factor * low and tail.min() >= start_level):
            return None
        above = np.flatnonzero(smooth[best:] >= factor * low)
        since = int(finite.step[best + above[0]]) if len(above) else int(finite.step[-persist])
        last = float(finite.value[-1])
        return Finding(
            kind="divergence",
            severity=FindingSeverity.CRITICAL,
            title=f"Divergence: {curve.key} exploded after step {int(finite.step[best])}",
            summary=(
                f"{curve.key} was {stats.fmt(low)} at step {int(finite.step[best])} and is now "
                f"{stats.fmt(last)} (×{stats.fmt(last / low)}), above where it started "
                f"({stats.fmt(start_level)})."
            ),
            explanation=EXPLANATION,
            remedies=_remedies(run, self._clip_hint(run, int(finite.step[best]) + 1)),
            step_start=int(finite.step[best]),
            step_end=int(finite.step[-1]),
            evidence={
                "metric": curve.key,
                "best_value": stats.rounded(low),
                "best_step": int(finite.step[best]),
                "exploded_from_step": since,
                "last_value": stats.rounded(last),
                "factor_over_best": stats.rounded(last / low),
                "start_value": stats.rounded(start_level),
            },
            keys=[curve.key],
            marks=[{"step": int(finite.step[best]), "label": "best"}],
        )
