"""Small robust statistics the analyzers share. Medians rather than means throughout:
one bad batch must neither hide a trend nor fake one."""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-12


def median(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if len(values) else math.nan


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred rolling median over ``window`` points (the ends repeat the edge values),
    same length as ``values``."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0 or window <= 1:
        return values.copy()
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)[:n]


def trailing_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the (finite) ``window`` points *before* each point; NaN for the first."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return values.copy()
    clean = np.where(np.isfinite(values), values, np.nan)
    padded = np.concatenate([np.full(window, np.nan), clean])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[:n]
    out = np.full(n, np.nan)
    seen = ~np.isnan(windows).all(axis=1)
    with np.errstate(all="ignore"):
        out[seen] = np.nanmedian(windows[seen], axis=1)
    return out


def segment(values: np.ndarray, start: float, end: float) -> np.ndarray:
    """The values between fractions ``start`` and ``end`` of their length (at least one)."""
    n = len(values)
    lo = min(int(n * start), n - 1)
    hi = max(lo + 1, math.ceil(n * end))
    return values[lo:hi]


def relative_drop(before: float, after: float) -> float:
    """How much lower ``after`` is than ``before``, as a fraction of ``before`` (negative
    when it rose)."""
    return (before - after) / max(abs(before), EPS)


def swing(values: np.ndarray) -> float:
    """Typical step-to-step change relative to the level: median |diff| / median |value|.
    A few per cent for a smooth curve; tens of per cent for one bouncing around."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return 0.0
    level = float(np.median(np.abs(values)))
    return float(np.median(np.abs(np.diff(values)))) / max(level, EPS)


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x (0 for fewer than two points)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


def persistent_from(mask: np.ndarray) -> int | None:
    """The first index from which ``mask`` holds to the end, or None when its last value
    is false."""
    mask = np.asarray(mask, dtype=bool)
    if not len(mask) or not mask[-1]:
        return None
    false = np.flatnonzero(~mask)
    return int(false[-1]) + 1 if len(false) else 0


def fmt(value: float) -> str:
    """A number for a sentence: 4 significant digits (scientific when tiny or huge)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def pct(fraction: float) -> str:
    return f"{100 * fraction:.0f}%" if abs(fraction) >= 0.1 else f"{100 * fraction:.1f}%"


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def rounded(value: float, digits: int = 4) -> float | None:
    """For evidence: finite numbers rounded to ``digits`` significant digits, None for NaN;
    ±inf as strings the API already uses for metric values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"  # type: ignore[return-value]
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


class Profile:
    """The shape of a training curve, for the analyzers that judge how it moves.

    ``initial``: median of its first three points (where training started);
    ``tail``: median of its last quarter (where it is now); ``improvement``: how much
    lower the tail is than the start, as a fraction (negative: it rose); ``swing``: the
    relative step-to-step change over its second half; ``smooth``: a rolling median.
    """

    def __init__(self, step: np.ndarray, value: np.ndarray) -> None:
        keep = np.isfinite(value)
        self.step = np.asarray(step)[keep]
        self.value = np.asarray(value, dtype=np.float64)[keep]
        n = len(self.value)
        self.n = n
        if not n:
            return
        self.initial = median(self.value[:3])
        self.tail = median(segment(self.value, 0.75, 1.0))
        self.improvement = relative_drop(self.initial, self.tail)
        self.swing = swing(self.value[n // 2 :])
        self.smooth = rolling_median(self.value, max(3, min(15, n // 10 * 2 + 1)))
