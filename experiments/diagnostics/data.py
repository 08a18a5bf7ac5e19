"""What analyzers read: a run's series (through ``experiments.queries``, downsampled for
long ones), its confusion matrices, model summary, config and summary, each read once per
pass and shared between analyzers.

A chart-sized read is enough for every judgement here (trends, plateaus, spikes, a NaN):
the downsampled view keeps each bucket's extremes and its first NaN, so nothing an
analyzer looks for is averaged away, and a pass costs the same at a thousand points or
a billion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from experiments.models import Checkpoint, Media, MediaKind, Metric, Run, RunStatus
from experiments.queries import fold_ranks, metric_series

MAX_POINTS = 3000
LAYER_POINTS = 400

TRAIN_SPLITS = ("train", "training", "trn")
VAL_SPLITS = ("val", "valid", "validation", "eval", "dev", "test")
ACC_NAMES = ("acc", "accuracy", "top1", "acc1", "top1_acc")
_SEPARATORS = ("/", "_", ".", "-")
_SPLIT = re.compile(r"^([A-Za-z]+)[/_.\-]")


@dataclass(frozen=True)
class Curve:
    """One metric as arrays ordered by step (several ranks averaged per step); ``wall_time``
    (seconds since the epoch, when each point was logged) when read."""

    key: str
    step: np.ndarray
    value: np.ndarray
    downsampled: bool = False
    wall_time: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.step)

    def _take(self, keep: np.ndarray | slice) -> Curve:
        wall = None if self.wall_time is None else self.wall_time[keep]
        return Curve(self.key, self.step[keep], self.value[keep], self.downsampled, wall)

    @property
    def finite(self) -> Curve:
        return self._take(np.isfinite(self.value))

    def between(self, lo: float, hi: float) -> Curve:
        return self._take((self.step >= lo) & (self.step <= hi))

    def tail(self, fraction: float) -> Curve:
        """The last ``fraction`` of its points (at least one)."""
        n = max(1, round(len(self) * fraction))
        return self._take(slice(len(self) - n, None))


def split_of(key: str) -> str:
    """``val`` for ``val/loss`` or ``val_loss``; ``""`` for keys without a split prefix."""
    match = _SPLIT.match(key)
    return match.group(1).lower() if match else ""


class RunData:
    """Lazy, cached reads of one run for one diagnosis pass."""

    def __init__(self, run: Run, max_points: int = MAX_POINTS) -> None:
        self.run = run
        self.max_points = max_points
        self.metrics: dict[str, Metric] = {m.key: m for m in Metric.objects.filter(run=run)}
        self._curves: dict[tuple[str, int], Curve | None] = {}

    # -- the run -------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.run.status != RunStatus.RUNNING

    @property
    def keys(self) -> list[str]:
        return sorted(self.metrics)

    @cached_property
    def last_step(self) -> int | None:
        steps = [m.last_step for m in self.metrics.values() if m.last_step is not None]
        return max(steps) if steps else None

    def config_number(self, *names: str) -> float | None:
        """The first of ``names`` found as a number in the config (dotted names reach
        into nested dicts: ``optimizer.lr``) or in the summary."""
        for source in (self.run.config or {}, self.run.summary or {}):
            for name in names:
                value: Any = source
                for part in name.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
        return None

    # -- series --------------------------------------------------------------------------
    def curve(self, key: str | None, max_points: int | None = None) -> Curve | None:
        """The metric's points (None when not logged): exact up to ``max_points`` (default
        the pass's), otherwise per-bucket extremes (``Curve.downsampled``). Per-layer
        statistics, read by the dozen, are judged on a median: a few hundred points do."""
        if key is None:
            return None
        points = max_points or self.max_points
        if (key, points) not in self._curves:
            metric = self.metrics.get(key)
            self._curves[key, points] = (
                None if metric is None or not metric.count else self._read(metric, points)
            )
        return self._curves[key, points]

    def _read(self, metric: Metric, max_points: int) -> Curve:
        series = metric_series(metric, max_points)
        folded = fold_ranks(series)  # several ranks: their mean per step, as charts draw it
        return Curve(metric.key, folded.step, folded.value, series.downsampled, folded.wall_time)

    def find(self, splits: tuple[str, ...], names: tuple[str, ...]) -> str | None:
        """The first logged key spelled ``<split><sep><name>`` (``val/loss``, ``val_loss``),
        trying splits, then names, in order."""
        for split in splits:
            for name in names:
                for sep in _SEPARATORS:
                    key = f"{split}{sep}{name}"
                    if key in self.metrics:
                        return key
        return None

    def matching(self, pattern: str) -> list[str]:
        regex = re.compile(pattern)
        return [key for key in self.keys if regex.fullmatch(key)]

    @cached_property
    def train_loss(self) -> str | None:
        """The most-logged training loss (per step, usually), or a bare ``loss``."""
        found = [
            k
            for k in (
                self.find(TRAIN_SPLITS, ("loss",)),
                self.find(TRAIN_SPLITS, ("epoch_loss", "loss_epoch")),
            )
            if k
        ]
        if not found and "loss" in self.metrics:
            found = ["loss"]
        return max(found, key=lambda k: self.metrics[k].count) if found else None

    @cached_property
    def train_loss_per_eval(self) -> str | None:
        """A training loss logged like the validation one (once per epoch), if any."""
        return self.find(TRAIN_SPLITS, ("epoch_loss", "loss_epoch", "loss"))

    @cached_property
    def val_loss(self) -> str | None:
        return self.find(VAL_SPLITS, ("loss",))

    @cached_property
    def train_acc(self) -> str | None:
        return self.find(TRAIN_SPLITS, ACC_NAMES) or next((k for k in ACC_NAMES if k in self.metrics), None)

    @cached_property
    def val_acc(self) -> str | None:
        return self.find(VAL_SPLITS, ACC_NAMES)

    @cached_property
    def splits(self) -> set[str]:
        return {split_of(key) for key in self.metrics} - {""}

    @cached_property
    def has_validation(self) -> bool:
        if self.splits & set(VAL_SPLITS):
            return True
        confusion = Media.objects.filter(run=self.run, kind=MediaKind.CONFUSION_MATRIX)
        return confusion.filter(name__in=VAL_SPLITS).exists()

    # -- media ---------------------------------------------------------------------------
    @cached_property
    def checkpoints(self) -> list[tuple[int, str]]:
        """The run's stored checkpoints as (step, name), oldest step first; the name is
        the file's name, or its uid when it has none."""
        rows = Checkpoint.objects.filter(run=self.run).order_by("step", "created_at", "pk")
        rows = rows.values_list("step", "filename", "uid")
        return [(int(step), filename or uid) for step, filename, uid in rows]

    def checkpoint_before(self, step: int) -> tuple[int, str] | None:
        """The last checkpoint saved at or before ``step`` (where to resume from), if any."""
        found = [item for item in self.checkpoints if item[0] <= step]
        return found[-1] if found else None

    def confusion_matrices(self, limit: int = 20) -> tuple[str, list[tuple[int, list[str], list[list[int]]]]]:
        """(split, [(step, labels, matrix)] oldest first): the newest ``limit`` matrices
        of the validation split if there is one, else of the newest split logged."""
        rows = Media.objects.filter(run=self.run, kind=MediaKind.CONFUSION_MATRIX)
        names = set(rows.values_list("name", flat=True).distinct())
        if not names:
            return "", []
        name = next((s for s in VAL_SPLITS if s in names), None)
        if name is None:
            name = rows.order_by("-step", "-pk").values_list("name", flat=True).first()
        items = list(rows.filter(name=name).order_by("-step", "-pk").values_list("step", "data")[:limit])
        items.reverse()
        return name, [(step, data["labels"], data["matrix"]) for step, data in items]

    @cached_property
    def module_order(self) -> list[str]:
        """Module names in the model's order (from the model summary ``tracker.watch``
        uploads), or [] when none was logged."""
        item = (
            Media.objects.filter(run=self.run, kind=MediaKind.MODEL_SUMMARY).order_by("-step", "-pk").first()
        )
        if item is None:
            return []
        return [row.get("name", "") for row in item.data.get("rows", []) if isinstance(row, dict)]


def values_at(curve: Curve, steps: np.ndarray) -> np.ndarray:
    """``curve`` read at ``steps``: its value at that step when logged there, else the mean
    of its finite points since the previous step of ``steps`` (a per-step training loss
    summarised over the epoch an evaluation closes); NaN where it has none."""
    finite = curve.finite
    out = np.full(len(steps), np.nan)
    previous = -np.inf
    for i, step in enumerate(steps):
        exact = np.flatnonzero(finite.step == step)
        if len(exact):
            out[i] = finite.value[exact[-1]]
        else:
            inside = (finite.step > previous) & (finite.step <= step)
            if inside.any():
                out[i] = float(finite.value[inside].mean())
        previous = step
    return out


def natural_key(name: str) -> list:
    """Sort key reading digit runs as numbers: ``layers.10`` after ``layers.9``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
