"""Confusion matrices: computed by the SDK from any input type, stored by the server,
and per-class precision / recall / F1 derived from them, all checked against
scikit-learn on the same predictions."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import tracker
from experiments.media.reads import classification_report, confusion_matrix_last
from experiments.models import Media, Run
from tracker.media import confusion_matrix

NAMES = ["cat", "dog", "bird", "fish"]


def predictions(n: int = 500, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced labels and a model that is right ~70% of the time, wrong unevenly."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice(classes, size=n, p=np.linspace(1, 2, classes) / np.linspace(1, 2, classes).sum())
    wrong = rng.random(n) < 0.3
    y_pred = np.where(wrong, (y_true + rng.integers(1, 3, size=n)) % classes, y_true)
    return y_true, y_pred


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.tolist(),
        lambda a: a,
        lambda a: a.astype(np.int32),
        lambda a: torch.tensor(a),
        lambda a: torch.tensor(a, dtype=torch.float32, requires_grad=True),
        lambda a: torch.tensor(a, dtype=torch.bfloat16),
    ],
    ids=["list", "numpy", "numpy-int32", "tensor", "float-tensor-with-grad", "bfloat16-tensor"],
)
def test_the_matrix_equals_scikit_learns_for_every_input_type(convert):
    y_true, y_pred = predictions()
    names, matrix = confusion_matrix(convert(y_true), convert(y_pred), labels=NAMES)
    assert names == NAMES
    assert matrix == sk_confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3]).tolist()


def test_scores_are_turned_into_predictions_and_class_names_are_accepted():
    y_true, y_pred = predictions()
    scores = np.eye(4)[y_pred] * 0.7 + 0.1  # argmax = y_pred
    assert confusion_matrix(y_true, torch.tensor(scores))[1] == sk_confusion_matrix(y_true, y_pred).tolist()
    as_names = [NAMES[i] for i in y_true], [NAMES[i] for i in y_pred]
    names, matrix = confusion_matrix(*as_names, labels=NAMES)
    assert matrix == sk_confusion_matrix(*as_names, labels=NAMES).tolist()
    # Without labels: the sorted classes seen in either array.
    names, matrix = confusion_matrix(["b", "a", "c"], ["a", "a", "b"])
    assert names == ["a", "b", "c"] and matrix == [[1, 0, 0], [1, 0, 0], [0, 1, 0]]


def test_bad_inputs_are_refused_at_the_call():
    with pytest.raises(ValueError, match="4 items but y_pred has 3"):
        confusion_matrix([0, 1, 2, 3], [0, 1, 2])
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        confusion_matrix([0, 1, 2], [0, 1, 1], labels=["a", "b"])
    with pytest.raises(ValueError, match="'x' is not among labels"):
        confusion_matrix(["a", "x"], ["a", "a"], labels=["a", "b"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_metrics_and_averages_equal_scikit_learns(seed):
    y_true, y_pred = predictions(n=300, classes=5, seed=seed)
    labels = [0, 1, 2, 3, 4]
    names, matrix = confusion_matrix(y_true, y_pred, labels=[f"c{i}" for i in labels])
    report = classification_report(names, matrix)

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, row in enumerate(report["classes"]):
        assert row["label"] == f"c{i}"
        assert row["precision"] == pytest.approx(p[i], abs=1e-12)
        assert row["recall"] == pytest.approx(r[i], abs=1e-12)
        assert row["f1"] == pytest.approx(f[i], abs=1e-12)
        assert row["support"] == s[i]
    for average in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0
        )
        got = report["averages"][average]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((ap, ar, af), abs=1e-12)
        assert got["support"] == len(y_true)
    assert report["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert report["total"] == len(y_true)


def test_a_class_never_predicted_or_absent_counts_as_zero_like_scikit_learn():
    y_true = [0, 0, 1, 1, 1]
    y_pred = [0, 1, 1, 1, 0]  # class 2 is never seen, class 0 never predicted right... mostly
    names, matrix = confusion_matrix(y_true, y_pred, labels=["a", "b", "c"])
    report = classification_report(names, matrix)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2], zero_division=0)
    assert [c["precision"] for c in report["classes"]] == pytest.approx(p.tolist())
    assert [c["recall"] for c in report["classes"]] == pytest.approx(r.tolist())
    assert [c["f1"] for c in report["classes"]] == pytest.approx(f.tolist())
    macro = precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1, 2], average="macro", zero_division=0
    )
    assert report["averages"]["macro"]["f1"] == pytest.approx(macro[2])


def test_the_most_confused_pairs_come_first_with_their_rate():
    matrix = [[50, 10, 0], [2, 40, 8], [0, 30, 20]]
    pairs = classification_report(["a", "b", "c"], matrix)["confused_pairs"]
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("c", "b", 30),
        ("a", "b", 10),
        ("b", "c", 8),
        ("b", "a", 2),
    ]
    assert pairs[0]["rate"] == pytest.approx(30 / 50)


@pytest.mark.django_db(transaction=True)
def test_a_logged_matrix_is_stored_and_served_with_its_report(sdk, client, owner):
    y_true, y_pred = predictions()
    with tracker.init(project="digits") as run:
        tracker.log({"val/acc": 0.7}, step=9)
        for step in (9, 19):
            tracker.log_confusion_matrix(torch.tensor(y_true), torch.tensor(y_pred), labels=NAMES, step=step)
        tracker.log_confusion_matrix(
            y_true[:10], y_true[:10], labels=NAMES, split="train"
        )  # step 9: the last log

    stored = Media.objects.filter(run_id=run.id, kind="confusion_matrix").order_by("name", "step")
    assert [(m.name, m.step) for m in stored] == [("train", 9), ("val", 9), ("val", 19)]
    assert stored[1].data["matrix"] == sk_confusion_matrix(y_true, y_pred).tolist()
    assert confusion_matrix_last(Run.objects.get(pk=run.id)) == (NAMES, stored[2].data["matrix"])

    client.force_login(owner)
    page = client.get(f"/runs/{run.id}/media.json", {"kind": "confusion_matrix", "name": "val", "step": 9})
    data = page.json()
    assert data["step"] == 9 and data["labels"] == NAMES
    assert data["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    f1 = precision_recall_fscore_support(y_true, y_pred, average="weighted")[2]
    assert data["averages"]["weighted"]["f1"] == pytest.approx(f1)
    index = client.get(f"/runs/{run.id}/media.json").json()
    assert index["media"]["confusion_matrix"] == {"train": [9], "val": [9, 19]}
