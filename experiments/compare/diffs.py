"""The parts of a comparison besides metrics: config and environment diffs, resource
figures of a run, and per-class deltas from confusion matrices."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from experiments.compare.sides import Side
from experiments.media.reads import confusion_matrix_last
from experiments.models import Metric, Run
from experiments.tables import flatten


def _side_values(side: Side, read) -> dict[str, dict]:
    """Per key, the side's value: one run's, or a group's when all its runs agree;
    ``varies`` lists the distinct values when they do not."""
    per_run = [read(run) for run in side.runs]
    keys = {key for values in per_run for key in values}
    out: dict[str, dict] = {}
    for key in keys:
        seen: dict[str, Any] = {}
        for values in per_run:
            value = values.get(key, _MISSING)
            seen.setdefault(repr(value), value)
        distinct = list(seen.values())
        if len(distinct) == 1:
            value = distinct[0]
            out[key] = {"value": None if value is _MISSING else value, "missing": value is _MISSING}
        else:
            shown = [v for v in distinct if v is not _MISSING]
            out[key] = {"value": None, "missing": False, "varies": shown}
    return out


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _cell_id(cell: dict | None) -> str:
    if cell is None or cell.get("missing"):
        return "<missing>"
    if "varies" in cell:
        return "varies:" + repr(sorted(map(repr, cell["varies"])))
    return repr(cell["value"])


def _diff(sides: list[Side], read, only_differing: bool) -> list[dict]:
    columns = [_side_values(side, read) for side in sides]
    keys = sorted({key for column in columns for key in column})
    rows = []
    for key in keys:
        cells = [column.get(key) or {"value": None, "missing": True} for column in columns]
        differs = len({_cell_id(c) for c in cells}) > 1 or any("varies" in c for c in cells)
        if only_differing and not differs:
            continue
        rows.append({"key": key, "values": cells, "differs": differs})
    return rows


def config_diff(sides: list[Side]) -> list[dict]:
    """Flattened config keys whose values differ between the sides (or within a group)."""
    return _diff(sides, lambda run: flatten(run.config), only_differing=True)


ENVIRONMENT_FIELDS = ("host", "python_version", "torch_version", "cuda_version", "git_commit")
_HARDWARE = re.compile(r"(gpu|cuda|device|accelerator).*(name|model|count|type)|cpu.*(model|count)", re.I)


def environment_diff(sides: list[Side]) -> list[dict]:
    """Versions and host of every side (each row says whether it differs), plus any
    hardware facts found in summaries (``gpu/name``, ``device_count``...)."""

    def read(run: Run) -> dict:
        facts = {name: getattr(run, name) for name in ENVIRONMENT_FIELDS if getattr(run, name)}
        facts.update({k: v for k, v in flatten(run.summary).items() if _HARDWARE.search(k)})
        return facts

    return _diff(sides, read, only_differing=False)


_PEAK_MEMORY = re.compile(r"(peak|max).*mem|mem.*(peak|max)", re.I)
_MEMORY = re.compile(r"(gpu|cuda).*mem.*(alloc|reserved|used)", re.I)
_THROUGHPUT = re.compile(
    r"throughput|samples?_?(per_?s|/s)|it(er)?s?_?per_?s|tokens?_?per_?s|img_?per_?s", re.I
)


def _peak_memory(run: Run, metrics: dict[str, Metric]) -> float | None:
    """Peak GPU memory, leniently: a summary value named like ``gpu/peak_memory``, else
    the largest value of such a metric, else the largest of an allocated/reserved one."""
    summary = [v for k, v in flatten(run.summary).items() if _PEAK_MEMORY.search(k) and _number(v)]
    if summary:
        return float(max(summary))
    for pattern in (_PEAK_MEMORY, _MEMORY):
        found = [m.max_value for k, m in metrics.items() if pattern.search(k) and m.max_value is not None]
        if found:
            return float(max(found))
    return None


def _throughput(run: Run, metrics: dict[str, Metric]) -> float | None:
    summary = [v for k, v in flatten(run.summary).items() if _THROUGHPUT.search(k) and _number(v)]
    if summary:
        return float(summary[0])
    found = [
        m.last_value for k, m in sorted(metrics.items()) if _THROUGHPUT.search(k) and _finite(m.last_value)
    ]
    return float(found[0]) if found else None


def run_resources(run: Run, metrics: dict[str, Metric]) -> dict[str, float | None]:
    """One run's resource figures; ``metrics`` are its Metric rows by key."""
    seconds = run.duration_seconds
    return {
        "duration_seconds": seconds,
        "points": float(run.points_count),
        "points_per_second": run.points_count / seconds if seconds > 0 else None,
        "throughput": _throughput(run, metrics),
        "peak_gpu_memory": _peak_memory(run, metrics),
    }


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def last_confusion_matrix(run: Run) -> tuple[list[str], list[list[float]]] | None:
    """The labels and matrix (rows: true class, columns: predicted) of the run's newest
    confusion matrix (the ``val`` split's when there is one), or None; logged with
    ``tracker.log_confusion_matrix`` and stored as media (``experiments.media``)."""
    return confusion_matrix_last(run)


def per_class(labels: list[str], matrix: list[list[float]]) -> dict[str, dict[str, float | None]]:
    """Recall (diagonal / row sum) and precision (diagonal / column sum) per class."""
    m = np.asarray(matrix, dtype=float)
    out = {}
    for i, label in enumerate(labels):
        row, column = m[i].sum(), m[:, i].sum()
        out[str(label)] = {
            "recall": float(m[i, i] / row) if row else None,
            "precision": float(m[i, i] / column) if column else None,
        }
    return out


def class_deltas_between(reference: tuple | None, other: tuple | None) -> list[dict] | None:
    """Per class present in both matrices: recall and precision of each and their
    deltas (other - reference). None when either side has no matrix."""
    if reference is None or other is None:
        return None
    ref, oth = per_class(*reference), per_class(*other)
    rows = []
    for label in [lbl for lbl in ref if lbl in oth]:
        row = {"label": label}
        for name in ("recall", "precision"):
            a, b = ref[label][name], oth[label][name]
            row[name] = {
                "reference": a,
                "value": b,
                "delta": (b - a) if a is not None and b is not None else None,
            }
        rows.append(row)
    return rows


def class_deltas(reference: Side, sides: list[Side]) -> list[dict] | None:
    """Per-class deltas of each single run against a single reference run, from their
    last confusion matrices; None when no pair has matrices on both sides."""
    if reference.kind != "run":
        return None
    ref_matrix = last_confusion_matrix(reference.runs[0])
    if ref_matrix is None:
        return None
    out = []
    for side in sides:
        if side.kind != "run":
            continue
        rows = class_deltas_between(ref_matrix, last_confusion_matrix(side.runs[0]))
        if rows is not None:
            out.append({"side": side.token, "classes": rows})
    return out or None


RESOURCE_ROWS = (
    ("duration_seconds", "min"),
    ("points", "max"),
    ("points_per_second", "max"),
    ("throughput", "max"),
    ("peak_gpu_memory", "min"),
)
