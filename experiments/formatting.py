"""Display strings for numbers, durations, dates and sizes, shared by the page views.

Kept in Python rather than template filters: pre-formatted cells keep the 1,000-row
runs table cheap to render.

One date format everywhere: ``2026-11-27 17:53`` (minutes; the ISO time, seconds and
offset included, in a ``title``). Pages render it in the server's time zone and
static/js/lib/fmt.js rewrites every ``<time datetime>`` in the reader's own, in the same
format (``TrackerFmt.dateTime``).
"""

import math
import re
from datetime import datetime
from typing import Any

from django.utils import timezone


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


def fmt_datetime(value: datetime | None, tz=None) -> str:
    """``2026-11-27 17:53`` in ``tz`` (default: the current time zone); "" for None.
    Built with an f-string: strftime costs a quarter of a runs-table row."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}"


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
# The last part of a key that holds bytes: what the SDK's system sampler records
# (sys/ram_used, sys/process_rss, sys/gpu0/memory_peak, system/ram_total,
# system/gpu_memory_total) and what users name so (gpu/peak_memory, model/size_bytes).
_BYTES_KEY = re.compile(
    r"(?:bytes|rss|ram_(?:total|used|free|available)|memory(?:_(?:allocated|reserved|peak|total|used))?"
    r"|memory_\w*(?:allocated|reserved|total))$",
    re.I,
)


def fmt_bytes(value: float | None) -> str:
    """``512 B``, ``1.5 KiB``, ``23.4 MiB``, ``2.10 GiB`` (binary units, three significant
    digits); "" for None. The same as TrackerFmt.bytes in the browser."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return fmt_number(value)
    n = float(value)
    sign = "-" if n < 0 else ""
    n = abs(n)
    unit = 0
    while n >= 1024 and unit < len(_BYTE_UNITS) - 1:
        n /= 1024
        unit += 1
    if unit == 0:
        return f"{sign}{int(n)} B"
    digits = 2 if n < 10 else 1 if n < 100 else 0
    return f"{sign}{n:.{digits}f} {_BYTE_UNITS[unit]}"


def is_bytes_key(key: str) -> bool:
    """Whether a metric or summary key holds a size in bytes (its last part reads so)."""
    last = key.rsplit("/", 1)[-1]
    return bool(_BYTES_KEY.search(last)) and not re.search(r"percent|util|frac|ratio", last, re.I)


def fmt_value(key: str, value: Any) -> str:
    """``value`` of ``key`` for a table: sizes in binary units (``1.42 GiB``), other
    numbers as ``fmt_number``. For summaries and metric tables, whose keys say the unit."""
    if is_bytes_key(key) and isinstance(value, int | float) and not isinstance(value, bool):
        return fmt_bytes(value)
    return fmt_number(value)


_TRACEBACK_HEAD = "Traceback"  # "Traceback (most recent call last):"


def error_summary(error: str, limit: int = 200) -> str:
    """What a run's or a trial's error says in one line: a traceback's exception (its last
    lines, ``ValueError: lr must be positive``), else the error's first line."""
    text = error.strip()
    if not text:
        return ""
    lines = text.splitlines()
    if any(line.startswith(_TRACEBACK_HEAD) for line in lines):
        # The exception follows the last indented line (a frame's source or position)
        # or the traceback's head.
        tail: list[str] = []
        for line in reversed(lines):
            if line.startswith((" ", "\t", _TRACEBACK_HEAD)):
                break
            tail.append(line.strip())
        summary = " ".join(t for t in reversed(tail) if t) or lines[-1].strip()
    else:
        summary = lines[0].strip()
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"
