"""JSON values written so that every database reads them back with the types they had.

PostgreSQL's jsonb stores a number as ``numeric``, which keeps its decimal scale but not
its notation: Python writes the float 1e20 as ``1e+20``, jsonb keeps
``100000000000000000000`` and it comes back as an integer (one over 64 bits, which no
JSON encoder of ours writes: the run could no longer be read). Written positionally with
a fractional part, ``100000000000000000000.0``, it comes back as the float it was. Only
floats whose shortest form has a positive exponent (magnitude 1e16 and over, all whole
numbers) need it; small ones such as 1e-300 are written ``1e-300``, which jsonb keeps
with its scale, and read back as floats.

The JSON fields whose numbers are the user's (a run's config and summary, media data,
checkpoint metrics, a sweep's space and config, a trial's params and intermediate values)
declare ``encoder=ExactJSONEncoder``, so every write, from any code path (services, the
admin, bulk updates), goes through it.
"""

import json
from typing import Any


def _encode(value: Any) -> str:
    if type(value) is float:
        text = float.__repr__(value)
        # Whole numbers from 1e16 up: their exact decimal expansion, plus ".0" so that
        # the scale says "float" (the expansion reads back as the same double).
        return f"{value:.1f}" if "e+" in text else text
    if isinstance(value, dict):
        items = (
            f"{json.dumps(k if isinstance(k, str) else json.dumps(k))}: {_encode(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    return json.dumps(value, allow_nan=False)


def dumps_exact(value: Any) -> str:
    """``value`` as JSON text whose numbers keep their type on every database. NaN and
    infinities raise ValueError, as they have no JSON form."""
    text = json.dumps(value, allow_nan=False)
    # The C encoder does nearly every value; only a float in exponent form needs the
    # slow path (a string holding "e+" takes it too, harmlessly).
    return text if "e+" not in text else _encode(value)


class ExactJSONEncoder(json.JSONEncoder):
    """A JSONField encoder writing ``dumps_exact``."""

    def encode(self, o: Any) -> str:
        return dumps_exact(o)
