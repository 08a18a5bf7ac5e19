"""JSON in and out: orjson when it is installed (several times faster on big batches),
the standard library otherwise. Both produce bytes so the transport never re-encodes."""

from __future__ import annotations

import json
from typing import Any

try:  # optional speed-up; the SDK must import without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is missing
    _orjson = None


def _stdlib_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def dumps(obj: Any) -> bytes:
    """Encode to compact UTF-8 JSON.

    orjson refuses integers beyond 64 bits and a few exotic types; those rare bodies fall
    back to the standard library rather than failing a whole batch.
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(obj, default=str)
        except TypeError:
            pass
    return _stdlib_dumps(obj)


def loads(data: bytes | str) -> Any:
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)
