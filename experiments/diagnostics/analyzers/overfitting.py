"""Overfitting: validation loss past its minimum and rising for several evaluations
while the training loss still falls, or a train/validation gap that keeps growing.

Severity follows the size of the effect, not only its sign: a validation loss that rose
189% from 0.016 to 0.046 gave back under 3% of what training won (it started near 1.1),
and with validation accuracy flat at 98% it costs nothing yet: a note (info), not a
critical finding. It is a warning once it gives back a real share of the progress, and
critical when it gives back a large share and the validation accuracy (when logged)
falls too.

The remedy names a checkpoint step only where the run saved a checkpoint; otherwise it
names the best step and says how to keep that model next time."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData, values_at
from experiments.diagnostics.models import FindingSeverity
from experiments.models import Checkpoint

EXPLANATION = (
    "The validation loss measures the model on data it does not train on. While both losses fall the model "
    "is learning things that generalise; once the training loss keeps falling but the validation loss turns "
    "and rises, the model is fitting the particular training examples (their noise) at the expense of new "
    "ones. Every step after the validation minimum makes the model worse for real use, so the best model of "
    "this run is the one at that step."
)
REMEDIES_TAIL = [
    "Add weight decay (AdamW(weight_decay=0.01–0.1) or L2 on the weights).",
    "Add dropout between the wide layers (p=0.1–0.5).",
    "Augment the training data (crops, flips, noise: whatever leaves the label unchanged).",
    "Get more training data, or hold less out.",
    "Use a smaller model (fewer units or layers).",
]


class Overfitting(Analyzer):
    name = "overfitting"
    title = "Overfitting"
    priority = 40
    thresholds = {
        "min_evals": 5,
        "patience": 3,
        "min_rise": 0.1,
        "critical_rise": 0.5,
        "note_given_back": 0.05,
        "critical_given_back": 0.25,
        "acc_drop": 0.02,
        "gap_min": 0.5,
        "gap_growth": 1.5,
    }
    threshold_help = {
        "min_evals": "validation points needed before judging",
        "patience": "evaluations after the best one that must all be worse",
        "min_rise": "the validation loss must have risen this fraction above its minimum",
        "critical_rise": "a rise of this fraction or more is critical (with critical_given_back)",
        "note_given_back": "a rise that gives back less than this fraction of the loss's fall is only a note",
        "critical_given_back": "critical when the rise gives back this fraction of the loss's fall or more",
        "acc_drop": "with accuracy only: the drop below its best (absolute) that counts",
        "gap_min": "growing gap: (val - train) / val at the end must be at least this",
        "gap_growth": "growing gap: the gap must have grown this many times over the last third",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        key = run.val_loss or run.val_acc
        val = run.curve(key)
        if val is None:
            return []
        val = val.finite
        if len(val) < limits["min_evals"]:
            return []
        loss = key == run.val_loss
        found = self._past_minimum(run, key, val.step, val.value, loss, limits)
        if found is None and loss:
            found = self._growing_gap(run, key, val.step, val.value, limits)
        return [found] if found else []

    def _train_at(self, run: RunData, steps: np.ndarray) -> tuple[str | None, np.ndarray | None]:
        key = run.train_loss_per_eval or run.train_loss
        curve = run.curve(key)
        if curve is None:
            return None, None
        return key, values_at(curve, steps)

    def _past_minimum(self, run, key, steps, values, loss: bool, limits) -> Finding | None:
        patience = int(limits["patience"])
        best = int(np.argmin(values) if loss else np.argmax(values))
        after = values[best + 1 :]
        if len(after) < patience:
            return None
        recent = stats.median(values[-min(3, len(after)) :])
        if loss:
            rise = stats.relative_drop(values[best], recent) * -1
            worse = (after > values[best]).all() and rise >= limits["min_rise"]
            trending = stats.slope(steps[best:], values[best:]) > 0
        else:
            rise = float(values[best] - recent)
            worse = (after < values[best]).all() and rise >= limits["acc_drop"]
            trending = stats.slope(steps[best:], values[best:]) < 0
        if not (worse and trending):
            return None
        best_step = int(steps[best])
        train_key, train = self._train_at(run, steps)
        evidence = {
            "metric": key,
            "best_step": best_step,
            "best_value": stats.rounded(float(values[best])),
            "recent_value": stats.rounded(recent),
            "evaluations_since_best": len(after),
        }
        evidence["rise_pct" if loss else "drop"] = stats.rounded(100 * rise if loss else rise, 3)
        keys = [key]
        train_text = ""
        if train is not None and np.isfinite(train[best]) and np.isfinite(train[-1]):
            falling = train[-1] < train[best]
            if not falling:
                return None  # training got worse too: not overfitting (see divergence, learning rate)
            evidence |= {
                "train_metric": train_key,
                "train_at_best": stats.rounded(float(train[best])),
                "train_recent": stats.rounded(float(train[-1])),
                "train_drop_pct": stats.rounded(100 * stats.relative_drop(train[best], train[-1]), 3),
            }
            train_text = f", while {train_key} fell from {stats.fmt(train[best])} to {stats.fmt(train[-1])}"
            keys.append(train_key)
        how = f"rose {stats.pct(rise)}" if loss else f"fell {stats.fmt(rise)}"
        severity, size_text = FindingSeverity.WARNING, ""
        if loss:
            severity, size_text = self._severity(run, values, best, recent, rise, evidence, limits)
        checkpoint = self._checkpoint_near(run, best_step)
        stop = (
            f"Early stopping at step {best_step} (best {key} {stats.fmt(values[best])}), "
            f"patience ~{patience} evaluations"
        )
        if checkpoint is None:
            stop += (
                f". This run saved no checkpoint at or before step {best_step}: save one at each evaluation "
                "(tracker.save_checkpoint(model, step=step, metrics={...})) to keep the best model."
            )
        elif checkpoint == best_step:
            stop += f"; use your checkpoint at step {checkpoint}."
        else:
            stop += f"; your newest checkpoint before it is at step {checkpoint}."
        evidence["checkpoint_step"] = checkpoint
        return Finding(
            kind="overfitting",
            severity=severity,
            title=f"Overfitting since step {best_step}",
            summary=(
                f"{key} was best at step {best_step} ({stats.fmt(values[best])}) and {how} over the "
                f"{len(after)} evaluations since{train_text}.{size_text}"
            ),
            explanation=EXPLANATION,
            remedies=[stop, *REMEDIES_TAIL],
            step_start=best_step,
            step_end=int(steps[-1]),
            evidence=evidence,
            keys=keys,
            marks=[{"step": best_step, "label": "early stop here"}],
        )

    def _severity(self, run, values, best, recent, rise, evidence, limits) -> tuple[str, str]:
        """How much the rise matters: the share of the loss's fall it gave back (from the
        highest value before the minimum) and, when a validation accuracy is logged, how far
        that fell from its best. Adds both to ``evidence``; returns (severity, a sentence)."""
        peak = float(np.max(values[: best + 1]))
        fall = peak - float(values[best])
        given_back = (recent - float(values[best])) / fall if fall > 0 else 1.0
        evidence["given_back_pct"] = stats.rounded(100 * given_back, 3)
        acc_flat, acc_text = False, ""
        acc = run.curve(run.val_acc) if run.val_acc else None
        if acc is not None and len(acc.finite) >= 2:
            acc_values = acc.finite.value
            acc_best = float(np.max(acc_values))
            acc_recent = stats.median(acc_values[-min(3, len(acc_values)) :])
            acc_drop = acc_best - acc_recent
            acc_flat = acc_drop < limits["acc_drop"]
            evidence |= {
                "acc_metric": run.val_acc,
                "acc_best": stats.rounded(acc_best),
                "acc_recent": stats.rounded(acc_recent),
            }
            acc_text = (
                f" {run.val_acc} stayed at {stats.fmt(acc_recent)} (best {stats.fmt(acc_best)})"
                if acc_flat
                else f" {run.val_acc} fell from {stats.fmt(acc_best)} to {stats.fmt(acc_recent)}"
            )
        share = f" The rise gives back {stats.pct(given_back)} of the fall from {stats.fmt(peak)}"
        if given_back < limits["note_given_back"] or acc_flat:
            text = share + (f" and{acc_text}" if acc_text else "") + ": worth knowing, not costing much yet."
            return FindingSeverity.INFO, text
        if rise >= limits["critical_rise"] and given_back >= limits["critical_given_back"]:
            return FindingSeverity.CRITICAL, share + (f" and{acc_text}." if acc_text else ".")
        return FindingSeverity.WARNING, share + (f" and{acc_text}." if acc_text else ".")

    def _checkpoint_near(self, run: RunData, step: int) -> int | None:
        """The step of the run's newest checkpoint at or before ``step``, if any."""
        return (
            Checkpoint.objects.filter(run=run.run, step__lte=step)
            .order_by("-step")
            .values_list("step", flat=True)
            .first()
        )

    def _growing_gap(self, run, key, steps, values, limits) -> Finding | None:
        train_key, train = self._train_at(run, steps)
        if train is None:
            return None
        ok = np.isfinite(train) & (values > 0)
        if ok.sum() < limits["min_evals"]:
            return None
        steps, values, train = steps[ok], values[ok], train[ok]
        gap = values - train
        n = len(gap)
        third = max(1, n // 3)
        earlier = float(np.median(gap[-2 * third : -third])) if n >= 3 else float(gap[0])
        recent = float(np.median(gap[-third:]))
        relative = recent / float(np.median(values[-third:]))
        improving = values[-1] < values[: n - third].min() * 0.99
        if (
            relative < limits["gap_min"]
            or earlier <= 0
            or recent < limits["gap_growth"] * earlier
            or improving
        ):
            return None
        start = int(steps[max(0, n - 2 * third)])
        return Finding(
            kind="overfitting",
            severity=FindingSeverity.INFO,
            title="Train/validation gap keeps growing",
            summary=(
                f"{key} is {stats.pct(relative)} above {train_key} and the gap grew "
                f"×{stats.fmt(recent / earlier)} over the last third of the evaluations while validation "
                "stopped improving."
            ),
            explanation=(
                "The model keeps getting better on its training data but not on held-out data: what it "
                "learns now is specific to the training set. Validation has not turned up yet, but the "
                "growing gap is the early sign of overfitting."
            ),
            remedies=[f"Early stopping by {key} (patience of a few evaluations).", *REMEDIES_TAIL],
            step_start=start,
            step_end=int(steps[-1]),
            evidence={
                "metric": key,
                "train_metric": train_key,
                "gap_recent": stats.rounded(recent),
                "gap_earlier": stats.rounded(earlier),
                "gap_relative_pct": stats.rounded(100 * relative, 3),
            },
            keys=[key, train_key],
            subject="gap",
        )
