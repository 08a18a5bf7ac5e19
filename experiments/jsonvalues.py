"""How numbers JSON lacks travel, both ways: NaN and ±inf are the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``. The ingest API accepts them so (``experiments.payloads``),
every JSON answer writes them so (``experiments.api.http.json_response`` runs ``jsonable``
over it), and the SDK reads them back as floats (``tracker.values.decode_value``).

Chart arrays are the one place a non-finite value is ``null`` on purpose: a gap in the
line, with the values themselves listed beside it (``nonfinite``).
"""

import math
from typing import Any

import numpy as np

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def nonfinite_text(value: float) -> str:
    """``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` for a non-finite float."""
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _numbers_sum(items: list | tuple) -> int | float | None:
    """The sum of ``items`` when they are all plain Python numbers, else None, told at C
    speed: ``sum`` refuses None, strings and containers at once, and a numpy scalar or a
    Decimal among them makes the sum one too."""
    try:
        total = sum(items)
    except (TypeError, OverflowError):  # not numbers; an int too large for a float
        return None
    return total if type(total) is int or type(total) is float else None


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float spelled as a string and numpy scalars as
    Python numbers, ready for any JSON encoder. Lists of plain finite numbers (a
    history's million points) come back as they are, without a Python-level loop."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else nonfinite_text(value)
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        total = _numbers_sum(value)
        if total is None:
            return [jsonable(v) for v in value]
        if total - total == 0:  # finite: so is every item (an inf or a NaN never sums away)
            return value
        return [v if v - v == 0 else nonfinite_text(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    return value
