"""Confusion matrices and ROC / precision-recall curves, computed here (numpy only) and
uploaded as media by the run's background uploader.

Inputs may be lists, numpy arrays or torch tensors on any device (they are detached and
copied to the host). Curves are computed on every score, so their AUC is exact; what is
uploaded is thinned to at most ``MAX_POINTS`` points per curve for drawing.

    tracker.log_confusion_matrix(y_true, logits.argmax(1), labels=names, split="val")
    tracker.log_roc_curve(y_true, probabilities)  # (n,) binary or (n, classes) one-vs-rest
    tracker.log_pr_curve(y_true, probabilities)   # AUC is the average precision
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tracker import _current
from tracker._current import PluginRun
from tracker.uploads import new_uid
from tracker.values import check_step, check_text

if TYPE_CHECKING:
    import numpy as np


MAX_POINTS = 1000
MAX_CLASSES = 1000


def to_numpy(values: Any, name: str) -> np.ndarray:
    """A host numpy array from a list, an array or a tensor (any device, any dtype)."""
    import numpy as np

    detach = getattr(values, "detach", None)
    if callable(detach):
        tensor = detach()
        if tensor.dtype.is_floating_point and tensor.element_size() < 4:
            tensor = tensor.float()  # numpy has no bfloat16
        values = tensor.cpu().numpy()
    array = np.asarray(values)
    if array.dtype == object:
        raise TypeError(f"{name}: expected numbers or class names, got mixed objects")
    return array


def _integral(values: np.ndarray) -> np.ndarray:
    """Float class ids (a float tensor of labels) as integers, when they are whole."""
    import numpy as np

    if values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    return values


def _class_indices(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Map both label arrays to 0..n-1 and name the classes."""
    import numpy as np

    y_true, y_pred = _integral(y_true), _integral(y_pred)
    if labels is not None:
        names = [str(label) for label in labels]
        if y_true.dtype.kind in "iub" and y_pred.dtype.kind in "iub":
            for which, values in (("y_true", y_true), ("y_pred", y_pred)):
                if values.size and (values.min() < 0 or values.max() >= len(names)):
                    raise ValueError(f"{which} holds class indices outside 0..{len(names) - 1} (labels)")
            return y_true.astype(np.int64), y_pred.astype(np.int64), names
        lookup = {label: i for i, label in enumerate(labels)} | {name: i for i, name in enumerate(names)}
        try:
            return (
                np.array([lookup[v] for v in y_true.tolist()], dtype=np.int64),
                np.array([lookup[v] for v in y_pred.tolist()], dtype=np.int64),
                names,
            )
        except KeyError as exc:
            raise ValueError(f"class {exc.args[0]!r} is not among labels") from None
    classes = np.union1d(y_true, y_pred)
    return (
        np.searchsorted(classes, y_true).astype(np.int64),
        np.searchsorted(classes, y_pred).astype(np.int64),
        [str(c) for c in classes.tolist()],
    )


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> tuple[list[str], list]:
    """(class names, matrix) with rows = true class, columns = predicted class.

    ``y_pred`` may be class ids / names, or scores of shape (n, classes) (argmax taken).
    ``labels`` names the classes: with integer targets, class ``i`` is ``labels[i]``;
    with string targets, ``labels`` gives the order. Default: the sorted classes seen.
    """
    import numpy as np

    true = to_numpy(y_true, "y_true").reshape(-1)
    pred = to_numpy(y_pred, "y_pred")
    if pred.ndim == 2 and true.shape[0] == pred.shape[0] and pred.shape[1] > 1:
        pred = pred.argmax(axis=1)
    pred = pred.reshape(-1)
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} items but y_pred has {pred.size}")
    t, p, names = _class_indices(true, pred, labels)
    n = len(names)
    if not 1 <= n <= MAX_CLASSES:
        raise ValueError(f"a confusion matrix needs 1 to {MAX_CLASSES} classes, got {n}")
    counts = np.bincount(t * n + p, minlength=n * n).reshape(n, n)
    return names, counts.tolist()


# -- curves (the same definitions as scikit-learn's, so results agree) ----------------


def _binary_clf_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positives at each distinct threshold, highest threshold first."""
    import numpy as np

    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, y = scores[order], y[order]
    distinct = np.flatnonzero(np.diff(scores))
    ends = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y, dtype=np.float64)[ends]
    fps = 1 + ends - tps
    return fps, tps, scores[ends]


def roc_points(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC of binary ``y`` (0/1) against ``scores``: fpr, tpr, thresholds, AUC (None
    when only one class is present)."""
    import numpy as np

    fps, tps, thresholds = _binary_clf_curve(y, scores)
    if fps.size > 2:  # drop collinear points, as scikit-learn does (the AUC is unchanged)
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    positives, negatives = tps[-1], fps[-1]
    fpr = fps / negatives if negatives > 0 else np.full_like(fps, np.nan)
    tpr = tps / positives if positives > 0 else np.full_like(tps, np.nan)
    auc = float(np.trapezoid(tpr, fpr)) if positives > 0 and negatives > 0 else None
    return {"x": fpr, "y": tpr, "thresholds": thresholds, "auc": auc, "positives": int(positives)}


def pr_points(y: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """Precision-recall of binary ``y``: x = recall, y = precision (decreasing recall
    order, ending at recall 0 / precision 1 like scikit-learn) and the average precision
    ``sum((R_n - R_n-1) * P_n)`` as ``auc`` (None without positives)."""
    import numpy as np

    fps, tps, thresholds = _binary_clf_curve(y, scores)
    positives = tps[-1] if tps.size else 0.0
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    if positives == 0:
        recall = np.full_like(tps, np.nan)
        return {"x": recall, "y": precision, "thresholds": thresholds, "auc": None, "positives": 0}
    recall = tps / positives
    precision, recall = np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]
    thresholds = np.r_[thresholds[::-1], np.nan]
    ap = float(-np.sum(np.diff(recall) * precision[:-1]))
    return {"x": recall, "y": precision, "thresholds": thresholds, "auc": ap, "positives": int(positives)}


def _thin(curve: dict[str, Any], limit: int = MAX_POINTS) -> dict[str, Any]:
    """At most ``limit`` evenly spaced points (ends kept), as JSON-ready lists."""
    import numpy as np

    n = len(curve["x"])
    keep = np.unique(np.linspace(0, n - 1, limit).round().astype(int)) if n > limit else np.arange(n)

    def clean(values: np.ndarray) -> list[float | None]:
        picked = values[keep].astype(float)
        return [float(v) if np.isfinite(v) else None for v in picked]

    x, y = clean(curve["x"]), clean(curve["y"])
    points = [(a, b, t) for a, b, t in zip(x, y, clean(curve["thresholds"]), strict=True) if a is not None]
    return {
        "x": [p[0] for p in points],
        "y": [p[1] if p[1] is not None else 0.0 for p in points],
        "thresholds": [p[2] for p in points],
        "auc": curve["auc"],
        "positives": curve["positives"],
    }


def curves(kind: str, y_true: Any, y_score: Any, labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """``kind`` "roc" or "pr" for binary scores (n,) or one-vs-rest scores (n, classes).

    Binary: ``y_true`` 0/1 (or booleans); one curve. One-vs-rest: ``y_true`` holds class
    indices 0..classes-1 (or names in ``labels`` order); one curve per class, with the
    macro average of the AUCs defined (classes with positives and negatives) and the
    micro average (all classes' decisions pooled).
    """
    import numpy as np

    points = roc_points if kind == "roc" else pr_points
    true = to_numpy(y_true, "y_true").reshape(-1)
    scores = to_numpy(y_score, "y_score").astype(np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape[0] != true.shape[0]:
        raise ValueError(f"y_true has {true.shape[0]} items but y_score has {scores.shape[0]}")
    if not np.isfinite(scores).all():
        raise ValueError("y_score holds NaN or infinite values")
    if scores.ndim == 1:
        y = true.astype(bool).astype(np.int64) if true.dtype.kind in "iubf" else None
        if y is None:
            if labels is None or len(labels) != 2:
                raise ValueError("binary y_true of names needs labels=[negative, positive]")
            y = (true == np.asarray(labels[1], dtype=true.dtype)).astype(np.int64)
        curve = points(y, scores)
        label = str(labels[1]) if labels is not None and len(labels) == 2 else "positive"
        return {"curves": [{"label": label, **_thin(curve)}], "average": {"auc": curve["auc"]}}
    if scores.ndim != 2:
        raise ValueError(f"y_score must be (n,) or (n, classes), got shape {scores.shape}")
    n_classes = scores.shape[1]
    names = [str(label) for label in labels] if labels is not None else [str(i) for i in range(n_classes)]
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} labels for {n_classes} score columns")
    if true.dtype.kind not in "iub":
        lookup = {label: i for i, label in enumerate(labels or [])} | {n: i for i, n in enumerate(names)}
        true = np.array([lookup[v] for v in true.tolist()], dtype=np.int64)
    out, aucs = [], []
    for c in range(n_classes):
        curve = points((true == c).astype(np.int64), scores[:, c])
        out.append({"label": names[c], **_thin(curve)})
        if curve["auc"] is not None and curve["positives"] < true.size:
            aucs.append(curve["auc"])
    onehot = (true[:, None] == np.arange(n_classes)[None, :]).astype(np.int64)
    micro = points(onehot.reshape(-1), scores.reshape(-1))["auc"]
    return {"curves": out, "average": {"macro": float(np.mean(aucs)) if aucs else None, "micro": micro}}


# -- logging --------------------------------------------------------------------------


def _run(run: PluginRun | None) -> PluginRun:
    return run if run is not None else _current.require()


# The class names each run's confusion matrices gave, by media name (split): ROC / PR
# curves logged without labels use them, so both figures name classes alike.
_CLASS_NAMES: weakref.WeakKeyDictionary[Any, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def _remember_names(run: PluginRun, name: str, names: list[str], given: bool) -> None:
    if given:
        # A run object that cannot be weakly referenced: nothing to remember.
        with contextlib.suppress(TypeError):
            _CLASS_NAMES.setdefault(run, {})[name] = names


def _known_names(run: PluginRun, name: str, classes: int) -> list[str] | None:
    try:
        names = _CLASS_NAMES.get(run, {}).get(name)
    except TypeError:
        return None
    return names if names is not None and len(names) == classes else None


def default_step(run: PluginRun) -> int:
    """The step of the last ``log()`` call (0 before any)."""
    return max(run.step - 1, 0)


def _name(split: str, name: str | None) -> str:
    label = f"{split}/{name}" if name else split
    if not label or len(label) > 200 or not label.isprintable():
        raise ValueError(f"media name {label[:60]!r} must be 1 to 200 printable characters")
    return label


def _upload(run: PluginRun, kind: str, name: str, step: int | None, data: dict[str, Any]) -> None:
    step = default_step(run) if step is None else check_step(step)
    # Only the class names are text (the rest is numbers): checked without walking matrices.
    check_text(data.get("labels") or [c.get("label") for c in data.get("curves") or ()], f"{kind} labels")
    if run.mode == "disabled":
        return
    run.uploader.add_media([{"uid": new_uid(), "kind": kind, "name": name, "step": step, "data": data}])


def _labels_for(
    run: PluginRun, name: str, y_score: Any, labels: Sequence[Any] | None
) -> Sequence[Any] | None:
    """``labels``, or the names the split's confusion matrix gave to as many classes as
    ``y_score`` has columns (one-vs-rest scores only: binary curves name the positive)."""
    if labels is not None:
        return labels
    shape = getattr(y_score, "shape", None)
    if shape is None:
        shape = to_numpy(y_score, "y_score").shape
    if len(shape) != 2 or shape[1] < 2:
        return None
    return _known_names(run, name, shape[1])


def log_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    labels: Sequence[Any] | None = None,
    step: int | None = None,
    split: str = "val",
    name: str | None = None,
    *,
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Log the confusion matrix of ``y_pred`` against ``y_true`` for ``split`` at
    ``step`` (default: the step of the last ``log()``). Returns ``{"labels", "matrix"}``.
    The run page derives per-class precision / recall / F1 from it."""
    run = _run(run)
    names, matrix = confusion_matrix(y_true, y_pred, labels)
    data = {"labels": names, "matrix": matrix}
    _upload(run, "confusion_matrix", _name(split, name), step, data)
    _remember_names(run, _name(split, name), names, labels is not None)
    return data


def log_roc_curve(
    y_true: Any,
    y_score: Any,
    labels: Sequence[Any] | None = None,
    step: int | None = None,
    split: str = "val",
    name: str | None = None,
    *,
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Log ROC curves (binary, or one-vs-rest for (n, classes) scores) with their AUC.
    Without ``labels``, classes are named as the split's last confusion matrix named
    them (when it had as many), else by index."""
    run = _run(run)
    data = curves("roc", y_true, y_score, _labels_for(run, _name(split, name), y_score, labels))
    _upload(run, "roc_curve", _name(split, name), step, data)
    return data


def log_pr_curve(
    y_true: Any,
    y_score: Any,
    labels: Sequence[Any] | None = None,
    step: int | None = None,
    split: str = "val",
    name: str | None = None,
    *,
    run: PluginRun | None = None,
) -> dict[str, Any]:
    """Log precision-recall curves; each curve's ``auc`` is its average precision.
    Classes are named as for ``log_roc_curve``."""
    run = _run(run)
    data = curves("pr", y_true, y_score, _labels_for(run, _name(split, name), y_score, labels))
    _upload(run, "pr_curve", _name(split, name), step, data)
    return data
