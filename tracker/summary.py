"""``run.summary`` and the JSON form of summary and config values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.values import check_text, encode_float, scrub_nul


def jsonable(value: Any) -> Any:
    """Summary and config values as JSON can carry them (numbers via ``.item()``)."""
    if isinstance(value, float):
        return encode_float(value)
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return jsonable(item())
        except (ValueError, RuntimeError, TypeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return jsonable(tolist())
    return str(value)


class Summary(dict):
    """``run.summary``: a dict that remembers it changed, so the sender ships it with the
    next batch (and ``finish`` sends the final one).

    An assignment holding a NUL character (in the key or anywhere in the value) raises
    ValueError naming the key: the server cannot store it.
    """

    _changed = False

    def __setitem__(self, key: str, value: Any) -> None:
        check_text({key: value}, "run.summary")
        super().__setitem__(key, value)
        self._changed = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed = True

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs)
        check_text(items, "run.summary")
        super().update(items)
        self._changed = True

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            check_text({key: default}, "run.summary")
        self._changed = True
        return super().setdefault(key, default)

    def pop(self, *args: Any) -> Any:
        self._changed = True
        return super().pop(*args)

    def clear(self) -> None:
        super().clear()
        self._changed = True

    def snapshot(self) -> dict[str, Any]:
        data = jsonable(dict(self))
        try:
            check_text(data, "run.summary")
        except ValueError:  # a value changed in place after its assignment was checked
            data = scrub_nul(data)
        return data

    def take_changes(self) -> dict[str, Any] | None:
        if not self._changed:
            return None
        self._changed = False
        return self.snapshot()
