"""Underfitting (training loss flat at a level where the model is still poor, and
validation no different) and not converged (the run ended while still improving)."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.analyzers.learning_rate import update_ratio
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData, values_at
from experiments.diagnostics.models import FindingSeverity


def _recent(run: RunData, key: str | None, fraction: float = 0.25) -> float | None:
    curve = run.curve(key)
    if curve is None or not len(curve.finite):
        return None
    value = stats.median(curve.finite.tail(fraction).value)
    return value if value == value else None


class Fitting(Analyzer):
    name = "fitting"
    title = "Underfitting / not converged"
    priority = 50
    thresholds = {
        "min_points": 20,
        "plateau_fraction": 0.3,
        "plateau_tol": 0.02,
        "max_swing": 0.25,
        "max_train_acc": 0.9,
        "close_acc": 0.05,
        "close_loss": 0.2,
        "min_moved": 0.05,
        "loss_only_max_improvement": 0.5,
        "converge_tol": 0.1,
    }
    threshold_help = {
        "min_points": "training-loss points needed before judging",
        "plateau_fraction": "the last fraction of the run that must be flat",
        "plateau_tol": "flat: the loss fell less than this fraction over that stretch",
        "max_swing": "a loss bouncing more than this (relative) is the learning-rate analyzer's",
        "max_train_acc": "underfitting: training accuracy stays below this",
        "close_acc": "train ~ val: accuracies within this (absolute)",
        "close_loss": "train ~ val: losses within this fraction of each other (when no accuracy is logged)",
        "min_moved": "the loss must have fallen this fraction from its start (else: learning rate too low)",
        "loss_only_max_improvement": "without accuracy: underfitting if the loss fell less than this "
        "fraction",
        "converge_tol": "not converged: the loss still fell this fraction over the last third (trend line)",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        curve = run.curve(run.train_loss)
        if curve is None or not np.isfinite(curve.value).all():
            return []
        profile = stats.Profile(curve.step, curve.value)
        if profile.n < limits["min_points"]:
            return []
        found = self._underfitting(run, curve.key, profile, limits)
        if found is None and run.ended:
            found = self._not_converged(run, curve.key, profile, limits)
        return [found] if found else []

    def _underfitting(self, run: RunData, key: str, p: stats.Profile, limits) -> Finding | None:
        if p.swing >= limits["max_swing"]:
            return None
        ratio = update_ratio(run)
        if p.improvement < limits["min_moved"] and (ratio is None or ratio < 1e-4):
            return None  # not moving at all: the learning-rate analyzer's case
        smooth = p.smooth
        first = int(len(smooth) * (1 - limits["plateau_fraction"]))
        level = float(np.median(smooth[first:]))
        over_plateau = stats.relative_drop(float(smooth[first]), float(smooth[-1]))
        if over_plateau >= limits["plateau_tol"]:
            return None  # still going down
        train_acc, val_acc = _recent(run, run.train_acc), _recent(run, run.val_acc)
        val_loss = _recent(run, run.val_loss)
        train_for_val = self._train_loss_like_val(run, key)
        if train_acc is not None:
            if train_acc >= limits["max_train_acc"]:
                return None
            if val_acc is not None and abs(train_acc - val_acc) > limits["close_acc"]:
                return None
        else:
            if p.improvement >= limits["loss_only_max_improvement"]:
                return None
            if val_loss is None or train_for_val is None:
                return None  # a loss alone cannot say "high"
        apart = (
            val_loss is not None
            and train_for_val is not None
            and abs(val_loss - train_for_val) / max(val_loss, train_for_val, 1e-12) > limits["close_loss"]
        )
        if apart and train_acc is None:
            return None
        near = np.flatnonzero(np.abs(smooth - level) <= max(abs(level) * limits["plateau_tol"] * 2, 1e-12))
        since = int(p.step[near[0]]) if len(near) else int(p.step[first])
        evidence = {
            "metric": key,
            "plateau_from_step": since,
            "train_loss": stats.rounded(level),
            "initial_loss": stats.rounded(p.initial),
            "improvement_over_plateau_pct": stats.rounded(100 * over_plateau, 3),
        }
        keys = [key]
        facts = f"{key} has stayed at {stats.fmt(level)} since step {since}"
        if train_acc is not None:
            evidence["train_acc"] = stats.rounded(train_acc)
            facts += f" with training accuracy {stats.fmt(train_acc)}"
            keys.append(run.train_acc)
        if val_acc is not None:
            evidence["val_acc"] = stats.rounded(val_acc)
            facts += f" (validation {stats.fmt(val_acc)})"
            keys.append(run.val_acc)
        if val_loss is not None:
            evidence["val_loss"] = stats.rounded(val_loss)
            keys.append(run.val_loss)
        reg = []
        wd = run.config_number("weight_decay", "wd", "optimizer.weight_decay")
        dropout = run.config_number("dropout", "drop", "dropout_rate")
        if wd:
            reg.append(f"weight_decay={stats.fmt(wd)}")
        if dropout:
            reg.append(f"dropout={stats.fmt(dropout)}")
        return Finding(
            kind="underfitting",
            severity=FindingSeverity.WARNING,
            title=f"Underfitting: training loss flat at {stats.fmt(level)}",
            summary=facts + "; training and validation agree, so the model is not memorising: it cannot fit.",
            explanation=(
                "When the training loss stops falling at a level where the model is still poor, and the "
                "validation figures match the training ones, the model is too weak for the task (too small, "
                "too constrained, or the wrong shape: a linear model on a non-linear problem), or training "
                "stopped short. Overfitting is the opposite picture: training keeps improving while "
                "validation does not."
            ),
            remedies=[
                "Use a bigger model: more units or layers, with non-linear activations between them.",
                "Train longer, or with a higher learning rate / a schedule that decays later.",
                f"Less regularisation ({', '.join(reg)}): lower it or turn it off."
                if reg
                else "Less regularisation: lower weight decay and dropout if you use them.",
                "Better inputs: features that carry the signal, normalised; check that the labels are right.",
            ],
            step_start=since,
            step_end=int(p.step[-1]),
            evidence=evidence,
            keys=[k for k in keys if k],
        )

    def _train_loss_like_val(self, run: RunData, key: str) -> float | None:
        """The training loss at the validation loss's last evaluations, comparable to it."""
        val = run.curve(run.val_loss)
        train = run.curve(run.train_loss_per_eval) or run.curve(key)
        if val is None or train is None or not len(val.finite):
            return None
        steps = val.finite.step[-3:]
        return stats.median(values_at(train, steps))

    def _not_converged(self, run: RunData, key: str, p: stats.Profile, limits) -> Finding | None:
        judge = run.curve(run.val_loss) if run.val_loss else None
        if judge is None or len(judge.finite) < 4:
            judge_steps, judge_values, judge_key = p.step, p.smooth, key
        else:
            judge_steps, judge_values, judge_key = judge.finite.step, judge.finite.value, judge.key
        n = len(judge_values)
        if n < 4:
            return None
        # The trend over the last third (at least three points): a line through noisy
        # evaluations says "still falling" more reliably than any two of them.
        tail = slice(min(n - 3, int(n * 2 / 3)), n)
        xs, ys = judge_steps[tail].astype(np.float64), judge_values[tail]
        line = stats.slope(xs, ys)
        level = float(np.mean(ys))
        mid = float(np.mean(xs))
        start_fit = level + line * (xs[0] - mid)
        end_fit = level + line * (xs[-1] - mid)
        drop = stats.relative_drop(start_fit, end_fit)
        last = float(judge_values[-1])
        if drop < limits["converge_tol"] or last > float(np.min(judge_values)) * 1.01:
            return None
        smooth = p.smooth
        train_drop = stats.relative_drop(float(smooth[int(len(smooth) * 2 / 3)]), float(smooth[-1]))
        if train_drop < limits["converge_tol"] / 2:
            return None
        start = int(judge_steps[tail][0])
        return Finding(
            kind="not_converged",
            severity=FindingSeverity.INFO,
            title="Not converged: the run ended while still improving",
            summary=(
                f"{judge_key} fell {stats.pct(drop)} over the last third of the run and was at its best "
                f"({stats.fmt(last)}) when it ended."
            ),
            explanation=(
                "The curve was still going down at the end: more training would very likely have given a "
                "better model. Judging or comparing this run now compares an unfinished model."
            ),
            remedies=[
                "Train longer (more epochs), and keep the best checkpoint by validation loss.",
                "A higher learning rate, or a schedule that decays later, gets there in fewer steps.",
            ],
            step_start=start,
            step_end=int(judge_steps[-1]),
            evidence={
                "metric": judge_key,
                "drop_last_third_pct": stats.rounded(100 * drop, 3),
                "train_drop_last_third_pct": stats.rounded(100 * train_drop, 3),
                "last_value": stats.rounded(last),
            },
            keys=[judge_key, key] if judge_key != key else [key],
            priority=60,
        )
