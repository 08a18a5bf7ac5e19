"""Learning rate too high (the loss bounces without a downward trend) or too low (it
hardly moves, and the weights hardly change)."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import LAYER_POINTS, RunData
from experiments.diagnostics.models import FindingSeverity

LR_KEYS = ("lr/group0", "lr", "learning_rate", "train/lr")
LR_CONFIG = ("lr", "learning_rate", "optimizer.lr", "optim.lr")


def learning_rate_source(run: RunData) -> tuple[float | None, str]:
    """The learning rate the run used last and where it comes from: ``lr/group0``
    (``tracker.watch`` with an optimizer logs it), another ``lr`` metric, or the config."""
    for key in LR_KEYS:
        metric = run.metrics.get(key)
        if metric is not None and metric.last_value is not None:
            return float(metric.last_value), key
    return run.config_number(*LR_CONFIG), "the config"


def learning_rate(run: RunData) -> float | None:
    return learning_rate_source(run)[0]


def update_ratio(run: RunData) -> float | None:
    """Median over layers of the median ``|ΔW| / |W|`` per optimizer step (logged by
    ``tracker.watch`` with an optimizer). About 1e-3 is the rule-of-thumb healthy value."""
    medians = []
    for key in run.matching(r"update/.+/ratio"):
        curve = run.curve(key, LAYER_POINTS)
        if curve is not None:
            value = stats.median(curve.finite.tail(0.5).value)
            if value == value:
                medians.append(value)
    return float(np.median(medians)) if medians else None


class LearningRate(Analyzer):
    name = "learning_rate"
    title = "Learning rate too high or too low"
    priority = 25
    thresholds = {
        "min_points": 30,
        "high_max_improvement": 0.3,
        "high_swing": 0.25,
        "low_max_improvement": 0.05,
        "low_update_ratio": 1e-4,
        "converged_acc": 0.9,
    }
    threshold_help = {
        "min_points": "training-loss points needed before judging",
        "high_max_improvement": "too high: the loss fell less than this fraction from its start ...",
        "high_swing": "... while bouncing by at least this fraction of its level from step to step",
        "low_max_improvement": "too low: the loss fell less than this fraction from its start, smoothly",
        "low_update_ratio": "too low: weights change less than this fraction per step (when update ratios "
        "are logged)",
        "converged_acc": "a flat loss with training accuracy above this is converged, not stuck",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        curve = run.curve(run.train_loss)
        if curve is None or not np.isfinite(curve.value).all():
            return []  # nothing logged, or a NaN: divergence explains it
        profile = stats.Profile(curve.step, curve.value)
        if profile.n < limits["min_points"]:
            return []
        lr = learning_rate(run)
        ratio = update_ratio(run)
        found = self._too_high(run, curve.key, profile, lr, limits)
        if found is None:
            found = self._too_low(run, curve.key, profile, lr, ratio, limits)
        return [found] if found else []

    def _too_high(self, run, key, p: stats.Profile, lr, limits) -> Finding | None:
        if p.improvement >= limits["high_max_improvement"] or p.swing < limits["high_swing"]:
            return None
        start = int(p.step[p.n // 2])
        lr_text = f"lr={stats.fmt(lr)}" if lr else "the learning rate"
        remedies = [
            f"Lower the learning rate 3–10× (from {stats.fmt(lr)} to "
            f"{stats.fmt(lr / 10)}–{stats.fmt(lr / 3)})."
            if lr
            else "Lower the learning rate 3–10×.",
            "Use a schedule: linear warm-up, then cosine or step decay "
            "(torch.optim.lr_scheduler.OneCycleLR).",
            "With SGD, lower the momentum (0.9 rather than 0.99) or switch to Adam/AdamW.",
            "A larger batch averages the gradient noise; clip the gradient norm as a safety net.",
        ]
        return Finding(
            kind="lr_too_high",
            severity=FindingSeverity.WARNING,
            title="Learning rate too high: the loss oscillates without going down",
            summary=(
                f"{key} bounces by {stats.pct(p.swing)} of its level from step to step and is at "
                f"{stats.fmt(p.tail)} after starting at {stats.fmt(p.initial)} "
                f"({'no' if p.improvement <= 0 else 'only ' + stats.pct(p.improvement)} improvement) with "
                f"{lr_text}."
            ),
            explanation=(
                "With a learning rate that is too large, each update overshoots the valley of the loss: the "
                "next batch's loss lands on the other side, higher, and training zig-zags instead of "
                "descending. The curve then looks like noise around a level that does not fall. "
                "Batch-to-batch noise alone does not do this: it shrinks with the loss, while here the loss "
                "has not improved."
            ),
            remedies=remedies,
            step_start=start,
            step_end=int(p.step[-1]),
            evidence={
                "metric": key,
                "learning_rate": stats.rounded(lr) if lr else None,
                "initial_loss": stats.rounded(p.initial),
                "recent_loss": stats.rounded(p.tail),
                "improvement_pct": stats.rounded(100 * p.improvement, 3),
                "swing_pct": stats.rounded(100 * p.swing, 3),
                "points": p.n,
            },
            keys=[key, *(["lr/group0"] if "lr/group0" in run.metrics else [])],
            priority=25,
        )

    def _too_low(self, run, key, p: stats.Profile, lr, ratio, limits) -> Finding | None:
        if p.improvement >= limits["low_max_improvement"] or p.swing >= limits["high_swing"]:
            return None
        # Hardly moving means never having been lower, nor higher: a loss that fell and came
        # back, or jumped first, was moved by a learning rate too high, not too low.
        if p.smooth.min() < p.tail * 0.95 or p.smooth.max() > p.initial * 1.1:
            return None
        if ratio is not None and ratio >= limits["low_update_ratio"]:
            return None  # the weights do move: the model, not the step size, is stuck
        acc = run.curve(run.train_acc)
        if acc is not None and stats.median(acc.finite.tail(0.25).value) >= limits["converged_acc"]:
            return None
        evidence = {
            "metric": key,
            "learning_rate": stats.rounded(lr) if lr else None,
            "initial_loss": stats.rounded(p.initial),
            "recent_loss": stats.rounded(p.tail),
            "improvement_pct": stats.rounded(100 * p.improvement, 3),
            "points": p.n,
        }
        keys = [key]
        if ratio is not None:
            evidence["update_ratio"] = stats.rounded(ratio, 3)
            keys += run.matching(r"update/.+/ratio")[:1]
        why_weights = (
            f" The weights change by {stats.fmt(ratio)} of their size per step (about 1e-3 is healthy)."
            if ratio is not None
            else ""
        )
        return Finding(
            kind="lr_too_low",
            severity=FindingSeverity.WARNING,
            title="Learning rate too low: the loss hardly moves",
            summary=(
                f"{key} went from {stats.fmt(p.initial)} to {stats.fmt(p.tail)} in {p.n} points "
                f"({stats.pct(max(p.improvement, 0))} lower)"
                + (f" with lr={stats.fmt(lr)}." if lr else ".")
                + why_weights
            ),
            explanation=(
                "A loss that creeps along at its starting value, smoothly and without bouncing, is taking "
                "steps too small to get anywhere in the time the run has. Before the step size, rule out a "
                "model that does not get the gradient: frozen parameters, an optimizer given the wrong "
                "parameters, or a scheduler that decayed the rate to zero."
            ),
            remedies=[
                f"Raise the learning rate 10× (from {stats.fmt(lr)} to {stats.fmt(lr * 10)}); an LR range "
                "test (grow it exponentially over ~100 steps, take ~1/10 of where the loss is lowest) finds "
                "the range."
                if lr
                else "Raise the learning rate 10×; an LR range test finds the range.",
                "Check the optimizer holds the model's trainable parameters (requires_grad=True, the right "
                "model).",
                "Check the scheduler: warm-up too long, or decay to ~0 too early.",
                "Normalise the inputs so that one learning rate suits every layer.",
            ],
            step_start=int(p.step[0]),
            step_end=int(p.step[-1]),
            evidence=evidence,
            keys=keys,
            priority=45,
        )
