"""ROC and precision-recall curves from scores, binary and one-vs-rest, against
scikit-learn: the ROC AUC is ``roc_auc_score``; the PR curve's ``auc`` is the average
precision (``average_precision_score``, the step-wise sum, not a trapezoid)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from sklearn.preprocessing import label_binarize

import tracker
from experiments.models import Media
from tracker.media import MAX_POINTS, curves, pr_points, roc_points


def binary(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    # Informative but noisy scores, with ties (rounded) to exercise equal thresholds.
    scores = np.round(1 / (1 + np.exp(-(1.5 * y - 0.75 + rng.normal(0, 1, n)))), 2)
    return y, scores


def multiclass(n: int = 600, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    logits = rng.normal(0, 1, (n, classes)) + 1.2 * np.eye(classes)[y]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, probabilities


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_roc_auc_and_points_equal_scikit_learns(seed):
    y, scores = binary(seed=seed)
    curve = roc_points(y, scores)
    assert curve["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    fpr, tpr, thresholds = roc_curve(y, scores)
    np.testing.assert_allclose(curve["x"], fpr)
    np.testing.assert_allclose(curve["y"], tpr)
    np.testing.assert_allclose(curve["thresholds"][1:], thresholds[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_pr_auc_is_scikit_learns_average_precision(seed):
    y, scores = binary(seed=seed)
    curve = pr_points(y, scores)
    assert curve["auc"] == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    assert (curve["x"][-1], curve["y"][-1]) == (0.0, 1.0)  # ends at recall 0, precision 1


def test_one_vs_rest_curves_and_macro_averages_equal_scikit_learns():
    y, probabilities = multiclass()
    names = ["a", "b", "c", "d"]
    roc = curves("roc", torch.tensor(y), torch.tensor(probabilities), labels=names)
    pr = curves("pr", y.tolist(), probabilities.tolist(), labels=names)
    assert [c["label"] for c in roc["curves"]] == names
    onehot = label_binarize(y, classes=[0, 1, 2, 3])
    for c, curve in enumerate(roc["curves"]):
        assert curve["auc"] == pytest.approx(roc_auc_score(onehot[:, c], probabilities[:, c]), abs=1e-12)
        assert curve["positives"] == int((y == c).sum())
    assert roc["average"]["macro"] == pytest.approx(
        roc_auc_score(y, probabilities, multi_class="ovr", average="macro"), abs=1e-12
    )
    assert roc["average"]["micro"] == pytest.approx(roc_auc_score(onehot, probabilities, average="micro"))
    for c, curve in enumerate(pr["curves"]):
        assert curve["auc"] == pytest.approx(
            average_precision_score(onehot[:, c], probabilities[:, c]), abs=1e-12
        )
    assert pr["average"]["macro"] == pytest.approx(
        average_precision_score(onehot, probabilities, average="macro")
    )
    assert pr["average"]["micro"] == pytest.approx(
        average_precision_score(onehot, probabilities, average="micro")
    )


def test_long_curves_are_thinned_for_drawing_but_their_auc_is_exact():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=50_000)
    scores = rng.normal(0, 1, y.size) + y
    roc = curves("roc", y, scores)
    curve = roc["curves"][0]
    assert len(curve["x"]) <= MAX_POINTS and len(curve["x"]) == len(curve["y"]) == len(curve["thresholds"])
    assert (curve["x"][0], curve["y"][0]) == (0.0, 0.0) and (curve["x"][-1], curve["y"][-1]) == (1.0, 1.0)
    assert curve["auc"] == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    assert roc["average"]["auc"] == curve["auc"]


def test_a_single_class_has_no_auc_and_bad_scores_are_refused():
    assert roc_points(np.ones(5, dtype=int), np.linspace(0, 1, 5))["auc"] is None
    assert pr_points(np.zeros(5, dtype=int), np.linspace(0, 1, 5))["auc"] is None
    with pytest.raises(ValueError, match="NaN or infinite"):
        curves("roc", [0, 1], [0.5, float("nan")])
    with pytest.raises(ValueError, match="3 items but y_score has 2"):
        curves("pr", [0, 1, 1], [0.1, 0.2])


@pytest.mark.django_db(transaction=True)
def test_logged_curves_are_stored_and_served(sdk, client, owner):
    y, probabilities = multiclass()
    yb, scores = binary()
    with tracker.init(project="digits") as run:
        tracker.log_roc_curve(y, probabilities, labels=["a", "b", "c", "d"], step=5)
        tracker.log_pr_curve(yb, scores, step=5, split="test")

    stored = {m.kind: m for m in Media.objects.filter(run_id=run.id)}
    assert set(stored) == {"roc_curve", "pr_curve"}
    assert (stored["pr_curve"].name, stored["pr_curve"].step) == ("test", 5)
    client.force_login(owner)
    roc = client.get(f"/runs/{run.id}/media.json", {"kind": "roc_curve", "name": "val"}).json()
    assert roc["average"]["macro"] == pytest.approx(roc_auc_score(y, probabilities, multi_class="ovr"))
    pr = client.get(f"/runs/{run.id}/media.json", {"kind": "pr_curve", "name": "test", "step": 5}).json()
    assert pr["curves"][0]["auc"] == pytest.approx(average_precision_score(yb, scores))
