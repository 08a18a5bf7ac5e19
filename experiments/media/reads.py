"""Media read back for pages and comparisons: what a run has, one item, and the figures
derived from the stored numbers (per-class precision / recall / F1 from a matrix,
quantile bands from histograms)."""

import numpy as np
from django.db.models import Count

from experiments.models import Media, MediaKind, Run


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
    histograms and text (one per key per log step: many) the names and how many steps."""
    counted = (MediaKind.HISTOGRAM, MediaKind.TEXT)
    index: dict[str, dict] = {kind: {} for kind in MediaKind.values}
    rows = (
        Media.objects.filter(run=run)
        .exclude(kind__in=counted)
        .order_by("kind", "name", "step")
        .values_list("kind", "name", "step")
    )
    for kind, name, step in rows:
        steps = index[kind].setdefault(name, [])
        if not steps or steps[-1] != step:
            steps.append(step)
    for kind in counted:
        names = (
            Media.objects.filter(run=run, kind=kind)
            .values("name")
            .annotate(steps=Count("step", distinct=True))
            .order_by("name")
        )
        index[kind] = {row["name"]: row["steps"] for row in names}
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


def text_series(run: Run, max_keys: int = 100, max_rows: int = 100) -> list[dict]:
    """The run's text series (strings logged with ``tracker.log``), by key: the latest
    value and the newest ``max_rows`` (step, value) rows, newest first, with how many
    steps there are in all. At most ``max_keys`` keys, in name order."""
    counts = (
        Media.objects.filter(run=run, kind=MediaKind.TEXT)
        .values("name")
        .annotate(steps=Count("step"))
        .order_by("name")[:max_keys]
    )
    out = []
    for row in counts:
        items = (
            Media.objects.filter(run=run, kind=MediaKind.TEXT, name=row["name"])
            .order_by("-step", "-pk")
            .values_list("step", "data")[:max_rows]
        )
        rows = [{"step": step, "value": data.get("value", "")} for step, data in items]
        latest = rows[0] if rows else None
        out.append({"name": row["name"], "latest": latest, "rows": rows, "total": row["steps"]})
    return out


def image_view(run: Run, name: str, step: int | None = None) -> dict | None:
    """One image (default: the newest) as a ``data:`` URL the page can show, with its
    caption, size and every step the image was logged at (the page's slider)."""
    item = media_at(run, MediaKind.IMAGE, name, step)
    if item is None:
        return None
    steps = list(
        Media.objects.filter(run=run, kind=MediaKind.IMAGE, name=name)
        .order_by("step")
        .values_list("step", flat=True)
        .distinct()
    )
    data = item.data
    return {
        "name": name,
        "step": item.step,
        "steps": steps,
        "caption": data.get("caption", ""),
        "width": data["width"],
        "height": data["height"],
        "src": "data:image/png;base64," + data["png"],
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
