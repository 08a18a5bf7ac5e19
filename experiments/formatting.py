"""Display strings for numbers and durations, shared by the page views.

Kept in Python rather than template filters: pre-formatted cells keep the 1,000-row
runs table cheap to render.
"""

import math
from typing import Any


def fmt_number(value: Any) -> str:
    """Four significant digits; NaN/inf spelled out; non-numbers as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 100_000 else str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt_number(v) for v in value) + "]"
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """``42s``, ``3m 07s``, ``5h 02m``, ``2d 04h``: two units at most."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def is_bad(value: Any) -> bool:
    """NaN or inf: shown in red so divergence stands out in tables."""
    return isinstance(value, float) and not math.isfinite(value)
