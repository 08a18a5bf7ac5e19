"""Exploding gradients (spikes of the global gradient norm, or a norm growing by orders
of magnitude) and vanishing gradients (early layers' norms orders of magnitude below
the late layers', or about zero). Reads what ``tracker.watch`` logs: ``grad/global_norm``
and ``grad/<layer>/norm``."""

from __future__ import annotations

import math

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import LAYER_POINTS, RunData, natural_key
from experiments.diagnostics.models import FindingSeverity

GLOBAL_KEYS = ("grad/global_norm", "grad_norm", "train/grad_norm", "grad/norm")


class Gradients(Analyzer):
    name = "gradients"
    title = "Exploding / vanishing gradients"
    priority = 20
    thresholds = {
        "min_points": 10,
        "spike_factor": 10.0,
        "spike_window": 20,
        "min_spikes": 2,
        "growth_factor": 100.0,
        "vanish_ratio": 1e-3,
        "vanish_floor": 1e-8,
        "critical_ratio": 1e-6,
    }
    threshold_help = {
        "min_points": "gradient-norm points needed before judging",
        "spike_factor": "a spike is a norm this many times the median of the points before it",
        "spike_window": "how many earlier points that median takes",
        "min_spikes": "spikes needed for a finding (a non-finite norm always counts)",
        "growth_factor": "or: the recent median norm is this many times the early one",
        "vanish_ratio": "vanishing: early layers' norm / late layers' norm below this",
        "vanish_floor": "or: early layers' norm below this while late layers' is not",
        "critical_ratio": "a ratio below this is critical",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        found = [self._exploding(run, limits), self._vanishing(run, limits)]
        return [f for f in found if f is not None]

    # -- exploding ------------------------------------------------------------------------
    def _exploding(self, run: RunData, limits) -> Finding | None:
        key = next((k for k in GLOBAL_KEYS if k in run.metrics), None)
        curve = run.curve(key)
        if curve is None or len(curve) < limits["min_points"]:
            return None
        values = curve.value
        baseline = stats.trailing_median(
            np.where(np.isfinite(values), values, np.nan), int(limits["spike_window"])
        )
        nonfinite = ~np.isfinite(values)
        with np.errstate(invalid="ignore"):
            spikes = nonfinite | (values > limits["spike_factor"] * baseline)
        spikes[:3] &= nonfinite[:3]  # the first points have no baseline to speak of
        finite = curve.finite
        typical = stats.median(finite.value)
        early = stats.median(stats.segment(finite.value, 0, 0.25))
        late = stats.median(stats.segment(finite.value, 0.75, 1.0))
        growing = early > 0 and late >= limits["growth_factor"] * early
        n_spikes = int(spikes.sum())
        if not (nonfinite.any() or n_spikes >= limits["min_spikes"] or growing):
            return None
        peak = int(np.argmax(np.where(np.isfinite(values), values, -np.inf))) if len(finite) else 0
        peak_value = float(values[peak]) if len(finite) else math.nan
        where = np.flatnonzero(spikes)
        spike_steps = [int(s) for s in curve.step[where][:10]]
        start = spike_steps[0] if spike_steps else int(finite.step[int(len(finite) * 0.75)])
        factor = peak_value / typical if typical > 0 else math.inf
        critical = nonfinite.any() or factor >= 1000 or growing
        if growing and not spike_steps:
            what = (
                f"the gradient norm grew ×{stats.fmt(late / early)} from {stats.fmt(early)} to "
                f"{stats.fmt(late)}"
            )
        else:
            what = (
                f"{n_spikes} spike{'s' if n_spikes != 1 else ''} of {key} over "
                f"{stats.fmt(limits['spike_factor'])}× the norm before them, up to {stats.fmt(peak_value)} "
                f"at step {int(curve.step[peak])} (typical {stats.fmt(typical)})"
            )
        if nonfinite.any():
            what += f"; {int(nonfinite.sum())} norms are NaN/inf"
        clip = stats.fmt(2 * typical) if typical == typical and typical > 0 else "1.0"
        return Finding(
            kind="exploding_gradients",
            severity=FindingSeverity.CRITICAL if critical else FindingSeverity.WARNING,
            title="Exploding gradients" + (f" from step {start}" if spike_steps else ""),
            summary=what[0].upper() + what[1:] + ".",
            explanation=(
                "The gradient norm is the size of the step the optimizer is asked to take. A norm that jumps "
                "by an order of magnitude or more in one step throws the weights far from where training had "
                "brought them, and the next steps spend their time recovering (the loss spikes with it); a "
                "norm that keeps growing ends in overflow. Single spikes usually come from unusual batches "
                "(outliers, unnormalised inputs) or a learning rate too high for sharp regions of the loss."
            ),
            remedies=[
                "Clip the gradient norm before optimizer.step(): "
                f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={clip}) (about 2× the typical "
                "norm).",
                "Lower the learning rate, or add a warm-up.",
                f"Look at the batches of steps {', '.join(map(str, spike_steps[:5]))}: outliers or "
                "unnormalised inputs produce single huge gradients."
                if spike_steps
                else "Normalise inputs and check for outliers in the data.",
                "Normalisation layers (LayerNorm/BatchNorm) and a careful initialisation keep norms in "
                "range.",
            ],
            step_start=start,
            step_end=int(curve.step[-1]),
            evidence={
                "metric": key,
                "spikes": n_spikes,
                "spike_steps": spike_steps,
                "typical_norm": stats.rounded(typical),
                "max_norm": stats.rounded(peak_value),
                "max_norm_step": int(curve.step[peak]),
                "max_over_typical": stats.rounded(factor),
                "nonfinite_norms": int(nonfinite.sum()),
            },
            keys=[key],
            marks=[{"step": s, "label": "spike"} for s in spike_steps[:5]],
        )

    # -- vanishing ------------------------------------------------------------------------
    def _layers(self, run: RunData) -> list[str]:
        """Layers with a gradient norm, in the model's order when a model summary was
        logged, else in natural name order."""
        layers = [
            k[len("grad/") : -len("/norm")] for k in run.matching(r"grad/.+/norm") if k != "grad/global_norm"
        ]
        order = {name: i for i, name in enumerate(run.module_order)}
        return sorted(layers, key=lambda name: (order.get(name, len(order)), natural_key(name)))

    def _vanishing(self, run: RunData, limits) -> Finding | None:
        layers = self._layers(run)
        if len(layers) < 2:
            return None
        curves = [run.curve(f"grad/{name}/norm", LAYER_POINTS) for name in layers]
        if any(c is None or len(c.finite) < 3 for c in curves):
            return None
        recent = [stats.median(c.finite.tail(0.5).value) for c in curves]
        k = max(1, len(layers) // 4)
        early, late = float(np.median(recent[:k])), float(np.median(recent[-k:]))
        if not late > 0:
            return None
        ratio = early / late
        vanishing = ratio < limits["vanish_ratio"] or (early < limits["vanish_floor"] <= late)
        if not vanishing:
            return None
        first, last = curves[0], curves[-1]
        common, i, j = np.intersect1d(first.step, last.step, return_indices=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_step = first.value[i] / last.value[j]
        judged = np.isfinite(per_step)  # norms gone NaN after a divergence tell nothing
        common, per_step = common[judged], per_step[judged]
        since = stats.persistent_from(per_step < limits["vanish_ratio"])
        start = int(common[since]) if since is not None and len(common) else int(first.step[0])
        orders = -math.log10(ratio) if ratio > 0 else math.inf
        critical = ratio < limits["critical_ratio"]
        return Finding(
            kind="vanishing_gradients",
            severity=FindingSeverity.CRITICAL if critical else FindingSeverity.WARNING,
            title=f"Vanishing gradients: early layers get {stats.fmt(orders)} orders of magnitude less",
            summary=(
                f"The gradient norm of the first layers ({layers[0]}: {stats.fmt(recent[0])}) is "
                f"{stats.fmt(ratio)} of the last layers' ({layers[-1]}: {stats.fmt(recent[-1])}), over "
                f"{len(layers)} layers."
            ),
            explanation=(
                "Backpropagation multiplies the gradient by each layer's local derivative on its way back to "
                "the input. Saturating activations (sigmoid's derivative is at most 0.25, tanh's at most 1 "
                "and much less when saturated) and poorly scaled weights shrink it at every layer, so in a "
                "deep stack the first layers receive almost nothing and stop learning, while the last layers "
                "train on features that never improve."
            ),
            remedies=[
                "Use ReLU/GELU/SiLU instead of sigmoid or tanh between the layers.",
                "Add residual (skip) connections so the gradient has a short path to the early layers.",
                "Add normalisation layers (BatchNorm/LayerNorm) between the blocks.",
                "Initialise for the activation: nn.init.kaiming_normal_ for ReLU, xavier_uniform_ for tanh.",
                "Use fewer layers, or train the early ones with a larger learning rate (parameter groups).",
            ],
            step_start=start,
            step_end=int(max(first.step[-1], last.step[-1])),
            evidence={
                "layers": len(layers),
                "first_layer": layers[0],
                "first_layer_norm": stats.rounded(recent[0]),
                "last_layer": layers[-1],
                "last_layer_norm": stats.rounded(recent[-1]),
                "early_over_late": stats.rounded(ratio, 3),
                "orders_of_magnitude": stats.rounded(orders, 3),
            },
            keys=[f"grad/{layers[0]}/norm", f"grad/{layers[-1]}/norm"],
            priority=30,
        )
