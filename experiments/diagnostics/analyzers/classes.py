"""Class imbalance and collapsed classes, from the newest confusion matrices
(``tracker.log_confusion_matrix``; the validation split when there is one)."""

from __future__ import annotations

import numpy as np

from experiments.diagnostics import stats
from experiments.diagnostics.base import Analyzer, Finding
from experiments.diagnostics.data import RunData
from experiments.diagnostics.models import FindingSeverity

REMEDIES = [
    "Weight the loss by inverse class frequency: nn.CrossEntropyLoss(weight=counts.sum() / (len(counts) * "
    "counts)).",
    "Oversample the rare classes: torch.utils.data.WeightedRandomSampler with per-example weights 1/count.",
    "Collect more examples of the rare classes; keep the splits stratified (train_test_split(..., "
    "stratify=y)).",
    "Judge by macro-F1 or balanced accuracy: plain accuracy rewards predicting the common class.",
    "Focal loss, or tune the decision threshold per class on the validation set.",
]


def _recalls(matrix: np.ndarray) -> np.ndarray:
    support = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(support > 0, np.diag(matrix) / np.maximum(support, 1), np.nan)


class Classes(Analyzer):
    name = "classes"
    title = "Class imbalance / collapsed classes"
    priority = 55
    thresholds = {"collapse_recall": 0.05, "min_support": 5, "collapse_share": 0.9, "imbalance_ratio": 10.0}
    threshold_help = {
        "collapse_recall": "a class is collapsed when at most this fraction of its examples is recognised",
        "min_support": "examples a class needs in the matrix to be judged",
        "collapse_share": "predictions collapsed: one class receives at least this fraction of all "
        "predictions",
        "imbalance_ratio": "imbalance: the largest class has this many times the examples of the smallest",
    }

    def analyze(self, run: RunData, limits: dict[str, float]) -> list[Finding]:
        split, matrices = run.confusion_matrices()
        if not matrices:
            return []
        step, labels, matrix = matrices[-1]
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape[0] < 2 or m.sum() == 0:
            return []
        findings = [
            self._collapsed(split, matrices, labels, m, limits),
            self._imbalance(split, step, labels, m, limits),
        ]
        return [f for f in findings if f is not None]

    def _collapsed_classes(self, m: np.ndarray, limits) -> list[int]:
        support = m.sum(axis=1)
        recall = _recalls(m)
        return [
            i
            for i in range(len(m))
            if support[i] >= limits["min_support"] and recall[i] <= limits["collapse_recall"]
        ]

    def _collapsed(self, split, matrices, labels, m, limits) -> Finding | None:
        collapsed = self._collapsed_classes(m, limits)
        if not collapsed:
            return None
        names = [str(labels[i]) for i in collapsed]
        # Since when: the oldest matrix from which these classes stayed collapsed.
        start = matrices[-1][0]
        for step, _labels, older in reversed(matrices[:-1]):
            if set(collapsed) <= set(self._collapsed_classes(np.asarray(older, dtype=np.float64), limits)):
                start = step
            else:
                break
        support = m.sum(axis=1)
        predicted = m.sum(axis=0)
        total = float(m.sum())
        top = int(np.argmax(predicted))
        share = float(predicted[top] / total)
        recall = _recalls(m)
        where = []
        for i in collapsed[:5]:
            row = m[i].copy()
            row[i] = 0
            if row.sum():
                j = int(np.argmax(row))
                where.append(f"{labels[i]} → {labels[j]} ({stats.pct(row[j] / support[i])})")
        one_class = share >= limits["collapse_share"]
        if one_class:
            title = f"Predictions collapsed onto class {labels[top]}"
            summary = (
                f"The model predicts {labels[top]} for {stats.pct(share)} of the {split} examples; "
                f"{len(collapsed)} class{'es' if len(collapsed) != 1 else ''} ({', '.join(names[:6])}) "
                f"{'are' if len(collapsed) != 1 else 'is'} never recognised."
            )
        else:
            title = f"Collapsed class{'es' if len(names) > 1 else ''}: {', '.join(names[:4])}"
            summary = (
                f"On {split}, recall is "
                f"{', '.join(f'{labels[i]} {stats.pct(recall[i])}' for i in collapsed[:4])}: the model "
                f"(almost) never predicts {'them' if len(names) > 1 else 'it'} correctly."
            )
        return Finding(
            kind="collapsed_class",
            subject=split,
            severity=FindingSeverity.CRITICAL if one_class else FindingSeverity.WARNING,
            title=title,
            summary=summary,
            explanation=(
                "A class the model never predicts correctly contributes nothing to accuracy, so a model can "
                "score well overall while ignoring it entirely. It happens when the class is rare in the "
                "training data (predicting the common class is the cheapest way to lower the loss early on), "
                "when it is hard to tell from another class, or when its labels are wrong. If one class "
                "soaks up nearly all predictions, the model has collapsed to a constant answer."
            ),
            remedies=REMEDIES,
            step_start=start,
            step_end=matrices[-1][0],
            evidence={
                "split": split,
                "classes": names,
                "recall": [stats.rounded(float(recall[i]), 3) for i in collapsed[:10]],
                "support": [int(support[i]) for i in collapsed[:10]],
                "most_predicted_class": str(labels[top]),
                "most_predicted_share_pct": stats.rounded(100 * share, 3),
                "confused_as": where,
                "matrix_step": matrices[-1][0],
            },
            priority=50 if one_class else 55,
        )

    def _imbalance(self, split, step, labels, m, limits) -> Finding | None:
        support = m.sum(axis=1)
        present = np.flatnonzero(support > 0)
        if len(present) < 2:
            return None
        big = int(present[np.argmax(support[present])])
        small = int(present[np.argmin(support[present])])
        ratio = float(support[big] / support[small])
        if ratio < limits["imbalance_ratio"]:
            return None
        recall = _recalls(m)
        behind = recall[small] < 0.5 * recall[big]
        macro = float(np.nanmean(recall[present]))
        accuracy = float(np.trace(m) / m.sum())
        return Finding(
            kind="class_imbalance",
            subject=split,
            severity=FindingSeverity.WARNING if behind else FindingSeverity.INFO,
            title=f"Class imbalance: {labels[big]} has {stats.fmt(ratio)}× the examples of {labels[small]}",
            summary=(
                f"In the {split} matrix at step {step}, class {labels[big]} has {int(support[big])} examples "
                f"and {labels[small]} {int(support[small])}; recall {stats.pct(recall[big])} vs "
                f"{stats.pct(recall[small])}, balanced accuracy {stats.pct(macro)} against accuracy "
                f"{stats.pct(accuracy)}."
            ),
            explanation=(
                "With classes this uneven, the loss and the accuracy are dominated by the common classes: "
                "the model gains most by getting those right and may neglect the rare ones, and accuracy "
                "hides it. Whether that matters depends on the task, but it should be a choice, measured by "
                "a metric that weighs every class (balanced accuracy, macro-F1)."
            ),
            remedies=REMEDIES,
            step_start=step,
            step_end=step,
            evidence={
                "split": split,
                "largest_class": str(labels[big]),
                "largest_support": int(support[big]),
                "smallest_class": str(labels[small]),
                "smallest_support": int(support[small]),
                "ratio": stats.rounded(ratio, 3),
                "largest_recall": stats.rounded(float(recall[big]), 3),
                "smallest_recall": stats.rounded(float(recall[small]), 3),
                "balanced_accuracy": stats.rounded(macro, 3),
                "accuracy": stats.rounded(accuracy, 3),
            },
            priority=65,
        )
