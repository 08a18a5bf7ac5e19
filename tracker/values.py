"""Validation of what ``log()`` accepts: the slow path.

``Run.log`` handles plain finite ``float``/``int`` values under already-seen keys inline;
everything else (new keys, nested dicts, bools, numpy scalars, tensors, NaN/inf, strings)
comes here. Errors name the key so the user finds the offending line at once. What cannot
be stored is refused here rather than sent, so it can never make the server refuse a
batch that carries other points; ``Run.log`` drops only the refused key (with one warning
per key) and records the rest of the call. A bad step still refuses the whole call.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

MAX_KEY_LENGTH = 200
# A logged string (a text series): at most this many characters, the server's default
# TRACKER_MAX_TEXT_LENGTH.
MAX_TEXT_LENGTH = 10_000
# Nested dicts deeper than this are refused (the server's TRACKER_MAX_JSON_DEPTH).
MAX_DEPTH = 32
# Steps and integers travel as signed 64-bit integers (the server's BigIntegerField and
# PostgreSQL's bigint).
MAX_STEP = 2**63 - 1
# PostgreSQL cannot store U+0000 in text or jsonb: a string carrying it would fail the
# whole request it travels in.
NUL = "\x00"

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
        what = "a NUL character (\\x00)" if NUL in key else "non-printable characters"
        raise ValueError(f"tracker.log: metric key {key[:60]!r} has {what}")
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
        return value if -MAX_STEP <= value <= MAX_STEP else _big_int(key, value)
    if kind is bool:
        return int(value)
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(
            f"tracker.log: value for key {key!r} is {kind.__name__} ({value!r:.60}), expected a number"
        )
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return coerce_value(key, int(value))
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


def _big_int(key: str, value: int) -> float:
    """An integer beyond 64 bits as the float the server would store anyway; one beyond
    the float range cannot be stored at all."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"tracker.log: value for key {key!r} is an integer of {value.bit_length()} bits, "
            "too large to store as a number"
        ) from None


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


def check_log_text(key: str, value: str) -> str:
    """A string logged under ``key`` (a text series), if the server can store it."""
    if type(value) is not str:
        value = str.__str__(value)
    if NUL in value:
        raise ValueError(f"tracker.log: text for key {key!r} has a NUL character (\\x00); not storable")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(
            f"tracker.log: text for key {key!r} is {len(value)} characters; the limit is {MAX_TEXT_LENGTH}"
        )
    return value


def check_step(step: Any) -> int:
    """A step must be an integer from 0 to 2**63 - 1 (numpy ints welcome)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        item = getattr(step, "item", None)
        scalar = item() if callable(item) else None
        if type(scalar) is not int:
            raise TypeError(f"tracker.log: step must be a non-negative int, got {type(step).__name__}")
        step = scalar
    step = int(step)
    if step < 0:
        raise ValueError(f"tracker.log: step must be >= 0, got {step}")
    if step > MAX_STEP:
        raise ValueError(f"tracker.log: step must be at most 2**63 - 1 (a signed 64-bit integer), got {step}")
    return step


def check_text(value: Any, where: str) -> None:
    """Refuse a NUL character anywhere in ``value`` (a string, or the keys and strings of
    nested dicts and lists), naming ``where`` and the path inside it."""
    path = _nul_path(value, where, 0)
    if path is not None:
        raise ValueError(f"{path} contains a NUL character (\\x00), which the server cannot store; remove it")


def _nul_path(value: Any, where: str, depth: int) -> str | None:
    if isinstance(value, str):
        return where if NUL in value else None
    if depth > 200:  # the server refuses deeper nesting anyway; no recursion error here
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}[{key!r}]"
            if isinstance(key, str) and NUL in key:
                return inner
            found = _nul_path(item, inner, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _nul_path(item, f"{where}[{i}]", depth + 1)
            if found is not None:
                return found
    return None


def strip_nul(text: str) -> str:
    """Text the SDK writes itself (tracebacks): NUL shown as ``\\x00`` rather than refused."""
    return text.replace(NUL, "\\x00") if NUL in text else text


def scrub_nul(value: Any) -> Any:
    """``value`` with NUL replaced in every string and key (a summary changed in place
    after its checked assignment): sent with U+FFFD rather than refused by the server."""
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {scrub_nul(k): scrub_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_nul(v) for v in value]
    return value
