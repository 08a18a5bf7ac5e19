"""Media of a run: confusion matrices, ROC/PR curves, histograms and the model summary.

Each kind has one validator (registered with ``@_kind``) that checks an uploaded item's
``data`` and returns it normalised, or raises ``ApiError`` naming the field. What pages
show is derived here at read time from the stored numbers: per-class precision / recall
/ F1 from a matrix, quantile bands from histograms. Checkpoints live in
``experiments.artifacts``.
"""

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction

from experiments.errors import ApiError
from experiments.jsonstore import exact_json
from experiments.models import Media, MediaKind, Run
from experiments.payloads import check_int

MAX_ITEMS = 1000
MAX_CLASSES = 1000
MAX_CURVES = 1000
MAX_CURVE_POINTS = 10_000
MAX_BINS = 1000
MAX_SUMMARY_ROWS = 10_000
_UID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

# --- validation ---------------------------------------------------------------------

_VALIDATORS: dict[str, Callable[[Any, str], dict]] = {}


def _kind(kind: str) -> Callable:
    def register(validator: Callable[[Any, str], dict]) -> Callable[[Any, str], dict]:
        _VALIDATORS[kind] = validator
        return validator

    return register


def _list(value: Any, where: str, max_length: int, min_length: int = 0) -> list:
    if type(value) is not list:
        raise ApiError(f"must be a list, got {type(value).__name__}", where)
    if not min_length <= len(value) <= max_length:
        raise ApiError(f"must hold {min_length} to {max_length} items; got {len(value)}", where)
    return value


def _number(value: Any, where: str, *, minimum: float | None = None, allow_null: bool = False) -> Any:
    if value is None and allow_null:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ApiError(f"must be a finite number, got {value!r:.40}", where)
    if minimum is not None and value < minimum:
        raise ApiError(f"must be >= {minimum}", where)
    return value


def _numbers(value: Any, where: str, max_length: int, *, minimum: float | None = None, null=False) -> list:
    values = _list(value, where, max_length)
    for i, v in enumerate(values):
        if type(v) is float or type(v) is int:
            if not math.isfinite(v) or (minimum is not None and v < minimum):
                _number(v, f"{where}[{i}]", minimum=minimum)
        else:
            _number(v, f"{where}[{i}]", minimum=minimum, allow_null=null)
    return values


def _text(value: Any, where: str, max_length: int = 200) -> str:
    if type(value) is not str or len(value) > max_length:
        raise ApiError(f"must be a string of at most {max_length} characters", where)
    return value


@_kind(MediaKind.CONFUSION_MATRIX)
def _confusion_matrix(data: Any, where: str) -> dict:
    """``{"labels": [n names], "matrix": [n rows of n counts]}``; rows are true classes."""
    labels = _list(data.get("labels"), f"{where}.labels", MAX_CLASSES, 1)
    for i, label in enumerate(labels):
        _text(label, f"{where}.labels[{i}]")
    matrix = _list(data.get("matrix"), f"{where}.matrix", MAX_CLASSES, 1)
    if len(matrix) != len(labels):
        raise ApiError(f"must have one row per label ({len(labels)}); got {len(matrix)}", f"{where}.matrix")
    for i, row in enumerate(matrix):
        cells = _list(row, f"{where}.matrix[{i}]", len(labels), len(labels))
        for j, cell in enumerate(cells):
            if type(cell) is not int or cell < 0:
                raise ApiError("must be a count (an integer >= 0)", f"{where}.matrix[{i}][{j}]")
    return {"labels": labels, "matrix": matrix}


def _curves(data: Any, where: str) -> dict:
    """``{"curves": [{"label", "x", "y", "thresholds"?, "auc", "positives"}], "average": {...}}``."""
    curves = _list(data.get("curves"), f"{where}.curves", MAX_CURVES, 1)
    out = []
    for i, curve in enumerate(curves):
        at = f"{where}.curves[{i}]"
        if type(curve) is not dict:
            raise ApiError("must be a JSON object", at)
        xs = _numbers(curve.get("x"), f"{at}.x", MAX_CURVE_POINTS)
        ys = _numbers(curve.get("y"), f"{at}.y", MAX_CURVE_POINTS)
        if len(xs) != len(ys):
            raise ApiError(f"must have as many points as x ({len(xs)}); got {len(ys)}", f"{at}.y")
        item = {
            "label": _text(curve.get("label", ""), f"{at}.label"),
            "x": xs,
            "y": ys,
            "auc": _number(curve.get("auc"), f"{at}.auc", allow_null=True),
            "positives": int(_number(curve.get("positives", 0), f"{at}.positives", minimum=0)),
        }
        if curve.get("thresholds") is not None:
            thresholds = _numbers(curve["thresholds"], f"{at}.thresholds", MAX_CURVE_POINTS, null=True)
            if len(thresholds) != len(xs):
                raise ApiError("must have one threshold per point", f"{at}.thresholds")
            item["thresholds"] = thresholds
        out.append(item)
    average = data.get("average") or {}
    if type(average) is not dict:
        raise ApiError("must be a JSON object", f"{where}.average")
    averages = {
        _text(k, f"{where}.average"): _number(v, f"{where}.average.{k}", allow_null=True)
        for k, v in average.items()
    }
    return {"curves": out, "average": averages}


_kind(MediaKind.ROC_CURVE)(_curves)
_kind(MediaKind.PR_CURVE)(_curves)


@_kind(MediaKind.HISTOGRAM)
def _histogram(data: Any, where: str) -> dict:
    """``{"edges": [n + 1 increasing], "counts": [n], "nonfinite": k}``."""
    edges = _numbers(data.get("edges"), f"{where}.edges", MAX_BINS + 1)
    counts = _numbers(data.get("counts"), f"{where}.counts", MAX_BINS, minimum=0)
    if len(edges) != len(counts) + 1 or not counts:
        raise ApiError(f"must have one more edge than counts ({len(counts)} counts)", f"{where}.edges")
    if any(b < a for a, b in itertools.pairwise(edges)):
        raise ApiError("must be non-decreasing", f"{where}.edges")
    nonfinite = data.get("nonfinite", 0)
    if type(nonfinite) is not int or nonfinite < 0:
        raise ApiError("must be an integer >= 0", f"{where}.nonfinite")
    return {"edges": edges, "counts": counts, "nonfinite": nonfinite}


_SUMMARY_INTS = ("depth", "params", "trainable", "bytes")


@_kind(MediaKind.MODEL_SUMMARY)
def _model_summary(data: Any, where: str) -> dict:
    """``{"rows": [{"name", "type", "depth", "params", "trainable", "bytes", "shapes"?}], ...totals}``."""
    rows = _list(data.get("rows"), f"{where}.rows", MAX_SUMMARY_ROWS, 1)
    out = []
    for i, row in enumerate(rows):
        at = f"{where}.rows[{i}]"
        if type(row) is not dict:
            raise ApiError("must be a JSON object", at)
        item = {
            "name": _text(row.get("name", ""), f"{at}.name", 500),
            "type": _text(row.get("type", ""), f"{at}.type"),
        }
        for name in _SUMMARY_INTS:
            value = row.get(name, 0)
            if type(value) is not int or value < 0:
                raise ApiError("must be an integer >= 0", f"{at}.{name}")
            item[name] = value
        if row.get("shapes"):
            item["shapes"] = _text(row["shapes"], f"{at}.shapes", 500)
        out.append(item)
    totals = {}
    for name in ("total_params", "trainable_params", "bytes"):
        value = data.get(name, 0)
        if type(value) is not int or value < 0:
            raise ApiError("must be an integer >= 0", f"{where}.{name}")
        totals[name] = value
    return {"rows": out, **totals, "model": _text(data.get("model", ""), f"{where}.model")}


@dataclass
class MediaItem:
    uid: str
    kind: str
    name: str
    step: int
    data: dict


def parse_media(body: Any) -> list[MediaItem]:
    """``{"items": [{"uid", "kind", "name", "step", "data"}, ...]}`` → items, or ApiError."""
    if type(body) is not dict:
        raise ApiError("request body must be a JSON object")
    items = _list(body.get("items"), "items", MAX_ITEMS, 1)
    parsed = []
    for i, item in enumerate(items):
        at = f"items[{i}]"
        if type(item) is not dict:
            raise ApiError("must be a JSON object", at)
        uid = item.get("uid")
        if type(uid) is not str or not _UID.fullmatch(uid):
            raise ApiError("must be 1 to 64 letters, digits or _.:-", f"{at}.uid")
        kind = item.get("kind")
        if kind not in _VALIDATORS:
            raise ApiError(f"must be one of {', '.join(sorted(_VALIDATORS))}; got {kind!r:.40}", f"{at}.kind")
        name = item.get("name")
        if type(name) is not str or not 1 <= len(name) <= 200 or not name.isprintable():
            raise ApiError("must be 1 to 200 printable characters", f"{at}.name")
        step = check_int(item.get("step"), f"{at}.step", minimum=0)
        data = item.get("data")
        if type(data) is not dict:
            raise ApiError("must be a JSON object", f"{at}.data")
        parsed.append(MediaItem(uid, kind, name, step, _VALIDATORS[kind](data, f"{at}.data")))
    return parsed


# --- writes -------------------------------------------------------------------------


def media_store(*, run: Run, items: list[MediaItem]) -> int:
    """Store the items not stored before (by uid), all or nothing; returns how many were
    new. Tells the run's page which kinds changed."""
    from experiments import events

    with transaction.atomic():
        uids = [item.uid for item in items]
        seen = set(Media.objects.filter(run=run, uid__in=uids).values_list("uid", flat=True))
        fresh = {item.uid: item for item in items if item.uid not in seen}
        Media.objects.bulk_create(
            [
                Media(run=run, kind=i.kind, name=i.name, step=i.step, uid=i.uid, data=exact_json(i.data))
                for i in fresh.values()
            ],
            ignore_conflicts=True,
        )
        if fresh:
            events.emit(run, {"type": "media", "kinds": sorted({i.kind for i in fresh.values()})})
    return len(fresh)


# --- derived figures ------------------------------------------------------------------


def classification_report(labels: list[str], matrix: list[list[int]], top_pairs: int = 10) -> dict:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows: true
    class, columns: predicted), their macro and support-weighted averages, accuracy,
    and the most frequent confusions.

    A ratio with a zero denominator is 0 (scikit-learn's ``zero_division`` default).
    """
    m = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(m)
    support = m.sum(axis=1)
    predicted = m.sum(axis=0)
    total = float(m.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    classes = [
        {
            "label": str(label),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    ]
    weights = support / total if total else np.zeros_like(support)
    averages = {
        "macro": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
            "support": int(total),
        },
        "weighted": {
            "precision": float((precision * weights).sum()),
            "recall": float((recall * weights).sum()),
            "f1": float((f1 * weights).sum()),
            "support": int(total),
        },
    }
    off = m.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:top_pairs]
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), m.shape[1])
        if off[i, j] <= 0:
            break
        pairs.append(
            {
                "true": str(labels[i]),
                "predicted": str(labels[j]),
                "count": int(off[i, j]),
                "rate": float(off[i, j] / support[i]) if support[i] else 0.0,
            }
        )
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "total": int(total),
        "classes": classes,
        "averages": averages,
        "confused_pairs": pairs,
    }


# TensorBoard's distribution bands: the normal's ±1.5σ, ±1σ, ±0.5σ percentiles and the
# extremes (in basis points: 0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000).
QUANTILES = (0.0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1.0)


def histogram_quantiles(edges: list[float], counts: list[float], qs=QUANTILES) -> list[float | None]:
    """Quantiles of the distribution a histogram describes, values spread evenly within
    each bin (linear interpolation of the cumulative counts). None for an empty one."""
    counts_arr = np.asarray(counts, dtype=np.float64)
    total = counts_arr.sum()
    if total <= 0:
        return [None for _ in qs]
    edges_arr = np.asarray(edges, dtype=np.float64)
    nonzero = np.flatnonzero(counts_arr)
    cumulative = np.concatenate([[0.0], np.cumsum(counts_arr)])
    out = []
    for q in qs:
        if q <= 0:
            out.append(float(edges_arr[nonzero[0]]))
            continue
        if q >= 1:
            out.append(float(edges_arr[nonzero[-1] + 1]))
            continue
        target = q * total
        i = int(np.searchsorted(cumulative, target, side="left")) - 1
        i = min(max(i, 0), len(counts_arr) - 1)
        inside = (target - cumulative[i]) / counts_arr[i] if counts_arr[i] else 0.0
        out.append(float(edges_arr[i] + inside * (edges_arr[i + 1] - edges_arr[i])))
    return out


def _evenly(values: list, limit: int) -> list:
    """At most ``limit`` of ``values``, evenly spaced, always keeping the last."""
    if len(values) <= limit:
        return values
    picks = {round(i * (len(values) - 1) / (limit - 1)) for i in range(limit)}
    return [values[i] for i in sorted(picks)]


# --- reads --------------------------------------------------------------------------


def media_index(run: Run) -> dict:
    """What the run has, for its page: per kind, the names and their steps; for
    histograms (one per tensor per log step: many) the names and how many steps."""
    from django.db.models import Count

    index: dict[str, dict] = {kind: {} for kind in MediaKind.values}
    rows = (
        Media.objects.filter(run=run)
        .exclude(kind=MediaKind.HISTOGRAM)
        .order_by("kind", "name", "step")
        .values_list("kind", "name", "step")
    )
    for kind, name, step in rows:
        steps = index[kind].setdefault(name, [])
        if not steps or steps[-1] != step:
            steps.append(step)
    histograms = (
        Media.objects.filter(run=run, kind=MediaKind.HISTOGRAM)
        .values("name")
        .annotate(steps=Count("step", distinct=True))
        .order_by("name")
    )
    index[MediaKind.HISTOGRAM] = {row["name"]: row["steps"] for row in histograms}
    return index


def media_at(run: Run, kind: str, name: str, step: int | None = None) -> Media | None:
    """The newest item of ``kind``/``name`` at ``step`` (default: the last step)."""
    rows = Media.objects.filter(run=run, kind=kind, name=name)
    if step is not None:
        rows = rows.filter(step=step)
    return rows.order_by("-step", "-pk").first()


def confusion_matrix_view(run: Run, name: str, step: int | None = None) -> dict | None:
    """One matrix (default: the newest) with its report, for the page."""
    item = media_at(run, MediaKind.CONFUSION_MATRIX, name, step)
    if item is None:
        return None
    labels, matrix = item.data["labels"], item.data["matrix"]
    return {
        "name": name,
        "step": item.step,
        "labels": labels,
        "matrix": matrix,
        **classification_report(labels, matrix),
    }


def confusion_matrix_last(run: Run, name: str | None = None) -> tuple[list[str], list[list[int]]] | None:
    """(labels, matrix) of the run's newest confusion matrix (of split ``name``, else of
    any split, ``val`` preferred), or None. For comparisons of per-class metrics."""
    rows = Media.objects.filter(run=run, kind=MediaKind.CONFUSION_MATRIX)
    if name is not None:
        rows = rows.filter(name=name)
    elif rows.filter(name="val").exists():
        rows = rows.filter(name="val")
    item = rows.order_by("-step", "-pk").first()
    return None if item is None else (item.data["labels"], item.data["matrix"])


def curves_view(run: Run, kind: str, name: str, step: int | None = None) -> dict | None:
    item = media_at(run, kind, name, step)
    if item is None:
        return None
    return {"name": name, "step": item.step, **item.data}


def histogram_view(run: Run, name: str, max_steps: int = 120) -> dict | None:
    """A tensor's histograms over time: quantile bands per step (the distribution view)
    and, for at most ``max_steps`` evenly spaced steps, the histograms themselves."""
    steps = list(
        Media.objects.filter(run=run, kind=MediaKind.HISTOGRAM, name=name)
        .order_by("step")
        .values_list("step", flat=True)
        .distinct()
    )
    if not steps:
        return None
    wanted = _evenly(steps, max_steps)
    newest: dict[int, dict] = {}
    rows = Media.objects.filter(run=run, kind=MediaKind.HISTOGRAM, name=name, step__in=wanted).order_by(
        "step", "pk"
    )
    for step, data in rows.values_list("step", "data"):
        newest[step] = data
    out_steps = sorted(newest)
    return {
        "name": name,
        "steps": out_steps,
        "total_steps": len(steps),
        "quantiles": [histogram_quantiles(newest[s]["edges"], newest[s]["counts"]) for s in out_steps],
        "quantile_levels": list(QUANTILES),
        "histograms": [{"edges": newest[s]["edges"], "counts": newest[s]["counts"]} for s in out_steps],
    }


def model_summary_view(run: Run) -> dict | None:
    item = Media.objects.filter(run=run, kind=MediaKind.MODEL_SUMMARY).order_by("-step", "-pk").first()
    return None if item is None else {"name": item.name, "step": item.step, **item.data}


def media_dict(item: Media) -> dict:
    return {
        "kind": item.kind,
        "name": item.name,
        "step": item.step,
        "data": item.data,
        "created_at": item.created_at,
    }
