"""ROC and PR curves name classes as the confusion matrix does (issue #12, finding 9): a
script that gives ``labels=`` to ``log_confusion_matrix`` only gets the same names on its
curves, through the real SDK against a live server."""

import numpy as np
import pytest

import tracker
from experiments.models import Media

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ["cat", "dog", "bird"]


def curve_labels(run_id: int, kind: str, name: str = "val") -> list[str]:
    item = Media.objects.get(run_id=run_id, kind=kind, name=name)
    return [c["label"] for c in item.data["curves"]]


def test_curves_logged_without_labels_take_the_confusion_matrix_names(sdk):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    scores = rng.random((60, 3))
    with tracker.init(project="labels") as run:
        tracker.log_confusion_matrix(y, scores.argmax(1), labels=NAMES, step=1)
        roc = tracker.log_roc_curve(y, scores, step=1)
        tracker.log_pr_curve(y, scores, step=1)
        # Another split had no named matrix: its curves keep the indices.
        tracker.log_roc_curve(y, scores, step=1, split="test")
        # Explicit labels win.
        tracker.log_pr_curve(y, scores, labels=["a", "b", "c"], step=1, split="train")
    assert [c["label"] for c in roc["curves"]] == NAMES
    assert curve_labels(run.id, "roc_curve") == NAMES
    assert curve_labels(run.id, "pr_curve") == NAMES
    assert curve_labels(run.id, "roc_curve", "test") == ["0", "1", "2"]
    assert curve_labels(run.id, "pr_curve", "train") == ["a", "b", "c"]
