"""No validation metric: without held-out figures nothing can say whether the model
generalises (overfitting cannot be judged)."""

from __future__ import annotations

from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import FindingSeverity


class Validation(Analyzer):
    name = "validation"
    title = "No validation metric"
    priority = 70
    thresholds = {"min_train_points_live": 500}
    threshold_help = {
        "min_train_points_live": "while running, wait for this many training-loss points before saying so "
        "(the first evaluation may simply not have come yet)",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        trained = run.train_loss or run.train_acc
        if trained is None or run.has_validation:
            return []
        points = run.metrics[trained].count
        if not run.ended and points < limits["min_train_points_live"]:
            return []
        training_keys = [
            k for k in run.keys if not k.startswith(("sys/", "grad/", "param/", "act/", "update/", "lr/"))
        ]
        curve = run.curve(trained)
        first = int(curve.step[0]) if curve is not None and len(curve) else None
        return [
            Finding(
                kind="no_validation",
                severity=FindingSeverity.INFO,
                title="No validation metric logged",
                summary=(
                    f"The run logged {len(training_keys)} training "
                    f"metric{'s' if len(training_keys) != 1 else ''} "
                    f"({', '.join(training_keys[:4])}{'…' if len(training_keys) > 4 else ''}) and none on "
                    "held-out data, so overfitting cannot be judged."
                ),
                explanation=(
                    "The training loss always improves with enough capacity: it says how well the model fits "
                    "the examples it sees, not how well it does on new ones. A validation split, evaluated "
                    "regularly, is what shows when the model stops generalising, which checkpoint to keep "
                    "and whether a change helped."
                ),
                remedies=[
                    "Hold out a validation split (sklearn.model_selection.train_test_split(x, y, "
                    "test_size=0.2, stratify=y)) and log it every epoch: tracker.log({'val/loss': ..., "
                    "'val/acc': ...}, step=step).",
                    "Evaluate in model.eval() mode under torch.no_grad(), and log the confusion matrix of "
                    "that split: tracker.log_confusion_matrix(y_true, y_pred, split='val').",
                ],
                step_start=first,
                step_end=run.last_step,
                evidence={"training_metrics": training_keys[:10], "training_points": points},
                keys=[trained],
            )
        ]
