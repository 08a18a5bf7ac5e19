"""Dead ReLUs: a layer whose outputs are (almost) all zero, from the ``act/<module>/zero_frac``
statistics ``tracker.watch(model, log="all")`` logs."""

from __future__ import annotations

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import LAYER_POINTS, RunData
from experiments.diagnostics.models import FindingSeverity


def _remedies(dead_from_start: bool) -> list[str]:
    """Best first: a layer dead from its first step was initialised dead (no update did
    it), so the initialisation comes first; otherwise the updates that killed it."""
    lower = "Lower the learning rate (and warm it up): large updates are what push units below zero."
    leaky = "Use LeakyReLU(0.01), GELU or SiLU, which pass a gradient for negative inputs."
    init = (
        "Initialise with nn.init.kaiming_normal_ and zero (not negative) biases; put BatchNorm before the "
        "activation."
    )
    if dead_from_start:
        return [f"The layer was dead from its first step: {init[0].lower()}{init[1:]}", leaky, lower]
    return [lower, leaky, init]


class DeadActivations(Analyzer):
    name = "dead_relu"
    title = "Dead ReLUs"
    priority = 35
    thresholds = {"min_points": 3, "dead_fraction": 0.9, "critical_fraction": 0.99, "recent_fraction": 0.33}
    threshold_help = {
        "min_points": "activation statistics needed before judging",
        "dead_fraction": "a layer is dead when this fraction of its outputs is exactly zero",
        "critical_fraction": "and critically so above this fraction",
        "recent_fraction": "judged on this last fraction of the run (median)",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        findings = []
        for key in run.matching(r"act/.+/zero_frac"):
            curve = run.curve(key, LAYER_POINTS)
            if curve is None:
                continue
            curve = curve.finite
            if len(curve) < limits["min_points"]:
                continue
            recent = stats.median(curve.tail(limits["recent_fraction"]).value)
            if not recent >= limits["dead_fraction"]:
                continue
            layer = key[len("act/") : -len("/zero_frac")]
            since = stats.persistent_from(curve.value >= limits["dead_fraction"])
            start = (
                int(curve.step[since])
                if since is not None
                else int(curve.tail(limits["recent_fraction"]).step[0])
            )
            initial = float(curve.value[0])
            findings.append(
                Finding(
                    kind="dead_relu",
                    subject=layer,
                    severity=FindingSeverity.CRITICAL
                    if recent >= limits["critical_fraction"]
                    else FindingSeverity.WARNING,
                    title=f"Dead ReLUs: {stats.pct(recent)} of layer {layer}'s outputs are zero",
                    summary=(
                        f"Layer {layer} outputs exactly zero for {stats.pct(recent)} of its values since "
                        f"step {start} (it started at {stats.pct(initial)})."
                    ),
                    explanation=(
                        "A ReLU unit whose input is negative for every example outputs zero and passes back "
                        "a zero gradient, so nothing can ever revive it: it is dead. A few dead units are "
                        "normal; most of a layer dead means that layer carries almost no information and the "
                        "network is much smaller than it looks. It typically happens when one large update "
                        "(a learning rate too high) or a negative bias pushes the pre-activations below zero "
                        "for all inputs."
                    ),
                    remedies=_remedies(dead_from_start=initial >= limits["dead_fraction"]),
                    step_start=start,
                    step_end=int(curve.step[-1]),
                    evidence={
                        "layer": layer,
                        "zero_fraction_pct": stats.rounded(100 * recent, 3),
                        "initial_zero_fraction_pct": stats.rounded(100 * initial, 3),
                        "dead_since_step": start,
                    },
                    keys=[key],
                )
            )
        return findings
