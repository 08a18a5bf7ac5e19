"""Validation of what ``log()`` accepts: the slow path.

``Run.log`` handles plain finite ``float``/``int`` values under already-seen keys inline;
everything else (new keys, bools, numpy scalars, tensors, NaN/inf) comes here. Errors
name the key so the user finds the offending line at once, at the call, not later in a
background thread.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_KEY_LENGTH = 200

# JSON has no literal for these; the API takes the strings instead.
NAN = "NaN"
POS_INF = "Infinity"
NEG_INF = "-Infinity"


def check_key(key: Any) -> str:
    """Return ``key`` if it is a usable metric name, else raise naming it."""
    if type(key) is not str:
        if not isinstance(key, str):
            raise TypeError(f"tracker.log: metric key {key!r} is {type(key).__name__}, expected str")
        key = str.__str__(key)
    if not key:
        raise ValueError("tracker.log: metric key must not be empty")
    if not key.isprintable():
        raise ValueError(f"tracker.log: metric key {key[:60]!r} has non-printable characters")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(
            f"tracker.log: metric key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    return key


def encode_float(value: float) -> float | str:
    """A float as the wire wants it: finite floats as is, NaN/±inf as their strings."""
    if value - value == 0.0:
        return value
    if value != value:
        return NAN
    return POS_INF if value > 0 else NEG_INF


def coerce_value(key: str, value: Any) -> int | float | str:
    """Turn any accepted metric value into an int, a float or a NaN/inf string.

    Accepted: int, float, bool (as 0/1), numbers.Real (Fraction, Decimal-like), numpy
    scalars and single-element arrays, single-element torch tensors (anything with a
    scalar ``.item()``). Duck typing keeps numpy and torch optional.
    """
    kind = type(value)
    if kind is float:
        return encode_float(value)
    if kind is int:
        return value
    if kind is bool:
        return int(value)
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(
            f"tracker.log: value for key {key!r} is {kind.__name__} ({value!r:.60}), expected a number"
        )
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return encode_float(float(value))
    item = getattr(value, "item", None)
    if callable(item):
        try:
            scalar = item()
        except (ValueError, RuntimeError, TypeError) as exc:
            shape = getattr(value, "shape", None)
            raise ValueError(
                f"tracker.log: value for key {key!r} is a {kind.__name__} of shape {tuple(shape or ())}; "
                "log a single number (e.g. loss.item() or tensor.mean())"
            ) from exc
        if type(scalar) in (int, float, bool):
            return coerce_value(key, scalar)
        if isinstance(scalar, complex):
            raise TypeError(f"tracker.log: value for key {key!r} is complex, expected a real number")
    raise TypeError(f"tracker.log: value for key {key!r} is {kind.__name__}, expected a number")


def decode_value(value: Any) -> float:
    """A value read back from the API as a Python float (strings back to NaN/±inf)."""
    if isinstance(value, str):
        if value == NAN:
            return math.nan
        if value == POS_INF:
            return math.inf
        if value == NEG_INF:
            return -math.inf
        raise ValueError(f"unexpected metric value {value!r} from the server")
    return float(value) if value is not None else math.nan


def check_step(step: Any) -> int:
    """A step must be a non-negative integer (numpy ints welcome)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        item = getattr(step, "item", None)
        scalar = item() if callable(item) else None
        if type(scalar) is not int:
            raise TypeError(f"tracker.log: step must be a non-negative int, got {type(step).__name__}")
        step = scalar
    step = int(step)
    if step < 0:
        raise ValueError(f"tracker.log: step must be >= 0, got {step}")
    return step
