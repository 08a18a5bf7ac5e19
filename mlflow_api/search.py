"""MLflow's search grammar for ``runs/search`` (and the subset ``experiments/search``
uses): ``metrics.acc > 0.9 and params.lr = '0.01' and tags.t = 'v' and
attributes.status = 'FINISHED'``; ``order_by`` items such as ``metrics.acc DESC``.

A filter is clauses joined by ``AND`` (MLflow has no ``OR``). Keys may be quoted with
backticks or double quotes (``metrics.`val acc```). Metrics compare numerically with
``= != > >= < <=``; params, tags and string attributes with ``= != LIKE ILIKE IN (..)
NOT IN (..)``, tags also ``IS NULL`` / ``IS NOT NULL``. A run without the key never
matches a clause on it, and sorts last whatever the direction. Parse errors are
``INVALID_PARAMETER_VALUE`` naming the part that was wrong.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlflow_api.http import MlflowError

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<ident>[A-Za-z_]+\.(?:`[^`]*`|"[^"]*"|[^\s<>=!'"(),]+)|[A-Za-z_][A-Za-z_0-9]*)
    | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<op>>=|<=|!=|<>|=|>|<)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)

ENTITY_PREFIXES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attr",
    "attributes": "attr",
    "attr": "attr",
    "run": "attr",
}
RUN_ATTRIBUTES = {
    "status": str,
    "run_name": str,
    "run_id": str,
    "user_id": str,
    "artifact_uri": str,
    "lifecycle_stage": str,
    "start_time": float,
    "end_time": float,
    "created": float,
    "Created": float,
}
NUMERIC_OPS = {"=", "!=", ">", ">=", "<", "<="}
STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
_KEYWORDS = {"AND", "OR", "LIKE", "ILIKE", "IN", "NOT", "IS", "NULL"}


@dataclass
class Clause:
    kind: str  # metric, param, tag, attr
    key: str
    op: str
    value: Any  # a float, a str, a tuple of str (IN), or None (IS [NOT] NULL)


def _unquote_key(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in '`"':
        return raw[1:-1]
    return raw


def _string(raw: str) -> str:
    if raw[0] == "'":
        return raw[1:-1].replace("''", "'")
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise MlflowError(f"Invalid filter string: unexpected text at {text[pos : pos + 30]!r}.")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "ident" and "." not in value and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, attributes: dict[str, type], bare: str | None) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.attributes = attributes
        self.bare = bare  # the entity a bare identifier means (experiments: attributes)

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MlflowError("Invalid filter string: it ends in the middle of a comparison.")
        self.pos += 1
        return token

    def clauses(self) -> list[Clause]:
        out = [self.clause()]
        while self.peek() is not None:
            kind, value = self.take()
            if kind == "kw" and value == "OR":
                raise MlflowError("Invalid filter string: 'OR' is not supported; clauses join with 'AND'.")
            if kind != "kw" or value != "AND":
                raise MlflowError(f"Invalid filter string: expected 'AND' between clauses, got {value!r}.")
            out.append(self.clause())
        return out

    def identifier(self) -> tuple[str, str]:
        kind, value = self.take()
        if kind != "ident":
            raise MlflowError(
                f"Invalid filter string: expected an identifier such as metrics.acc, got {value!r}."
            )
        prefix, dot, key = value.partition(".")
        if not dot:
            if self.bare is None:
                raise MlflowError(
                    f"Invalid identifier {value!r}: name its type, as in metrics.{value}, "
                    f"params.{value}, tags.{value} or attributes.{value}."
                )
            entity, key = self.bare, value
        else:
            entity = ENTITY_PREFIXES.get(prefix.lower())
            if entity is None:
                raise MlflowError(
                    f"Invalid entity type {prefix!r} in {value!r}: use metrics, params, tags or attributes."
                )
            key = _unquote_key(key)
        if entity == "attr" and key not in self.attributes:
            raise MlflowError(
                f"Invalid attribute key {key!r}: valid keys are {', '.join(sorted(self.attributes))}."
            )
        if not key:
            raise MlflowError(f"Invalid identifier {value!r}: the key is empty.")
        return entity, key

    def clause(self) -> Clause:
        entity, key = self.identifier()
        numeric = entity == "metric" or (entity == "attr" and self.attributes[key] is float)
        kind, op = self.take()
        if kind == "kw":
            if op == "NOT":
                self._expect_kw("IN")
                op = "NOT IN"
            elif op == "IS":
                negated = self._maybe_kw("NOT")
                self._expect_kw("NULL")
                if entity not in ("tag", "param"):
                    raise MlflowError(
                        f"Invalid comparator 'IS NULL' for {entity} {key!r}: tags and params only."
                    )
                return Clause(entity, key, "IS NOT NULL" if negated else "IS NULL", None)
        elif kind != "op":
            raise MlflowError(f"Invalid filter string: expected a comparator after {key!r}, got {op!r}.")
        op = "!=" if op == "<>" else op
        allowed = NUMERIC_OPS if numeric else STRING_OPS
        if op not in allowed:
            what = "numeric" if numeric else "string"
            raise MlflowError(
                f"Invalid comparator {op!r} for {entity} {key!r}: {what} comparisons take "
                f"{', '.join(sorted(allowed))}."
            )
        if op in ("IN", "NOT IN"):
            return Clause(entity, key, op, self._string_list())
        kind, raw = self.take()
        if numeric:
            if kind != "number":
                raise MlflowError(f"Invalid value {raw!r} for {entity} {key!r}: expected a number.")
            return Clause(entity, key, op, float(raw))
        if kind != "string":
            raise MlflowError(
                f"Invalid value {raw!r} for {entity} {key!r}: expected a quoted string, such as '{raw}'."
            )
        return Clause(entity, key, op, _string(raw))

    def _maybe_kw(self, word: str) -> bool:
        token = self.peek()
        if token == ("kw", word):
            self.pos += 1
            return True
        return False

    def _expect_kw(self, word: str) -> None:
        if not self._maybe_kw(word):
            raise MlflowError(f"Invalid filter string: expected {word!r}.")

    def _string_list(self) -> tuple[str, ...]:
        if self.take() != ("punct", "("):
            raise MlflowError("Invalid filter string: IN takes a parenthesised list, as in IN ('a', 'b').")
        items = []
        while True:
            kind, raw = self.take()
            if kind != "string":
                raise MlflowError(f"Invalid value {raw!r} in an IN list: expected a quoted string.")
            items.append(_string(raw))
            kind, raw = self.take()
            if (kind, raw) == ("punct", ")"):
                return tuple(items)
            if (kind, raw) != ("punct", ","):
                raise MlflowError(f"Invalid filter string: expected ',' or ')' in an IN list, got {raw!r}.")


def parse_filter(
    text: str, attributes: dict[str, type] = RUN_ATTRIBUTES, bare: str | None = None
) -> list[Clause]:
    if not text or not text.strip():
        return []
    return _Parser(text, attributes, bare).clauses()


def _like(pattern: str, flags: int = 0) -> re.Pattern:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), flags | re.DOTALL)


def _test(op: str, expected: Any) -> Callable[[Any], bool]:
    if op == "LIKE":
        rx = _like(expected)
        return lambda v: rx.fullmatch(v) is not None
    if op == "ILIKE":
        rx = _like(expected, re.IGNORECASE)
        return lambda v: rx.fullmatch(v) is not None
    if op == "IN":
        return lambda v: v in expected
    if op == "NOT IN":
        return lambda v: v not in expected
    return {
        "=": lambda v: v == expected,
        "!=": lambda v: v != expected,
        ">": lambda v: v > expected,
        ">=": lambda v: v >= expected,
        "<": lambda v: v < expected,
        "<=": lambda v: v <= expected,
    }[op]


def matcher(clauses: list[Clause]) -> Callable[[dict], bool]:
    """A predicate over a run's view ``{"metric": {...}, "param": {...}, "tag": {...},
    "attr": {...}}``: True when every clause holds."""
    tests = [(c, _test(c.op, c.value)) for c in clauses if c.op not in ("IS NULL", "IS NOT NULL")]
    nulls = [c for c in clauses if c.op in ("IS NULL", "IS NOT NULL")]

    def match(view: dict) -> bool:
        for c in nulls:
            if (c.key in view[c.kind]) == (c.op == "IS NULL"):
                return False
        for c, test in tests:
            value = view[c.kind].get(c.key)
            if value is None or (type(value) is float and math.isnan(value)):
                return False
            if not test(value):
                return False
        return True

    return match


@dataclass
class OrderBy:
    kind: str
    key: str
    ascending: bool


_ORDER = re.compile(r"\s*(?P<ident>.+?)\s*(?:\s(?P<dir>ASC|DESC))?\s*", re.IGNORECASE)


def parse_order_by(
    items: list, attributes: dict[str, type] = RUN_ATTRIBUTES, bare: str | None = None
) -> list[OrderBy]:
    out = []
    for i, item in enumerate(items):
        if type(item) is not str:
            raise MlflowError(f"Invalid value for parameter 'order_by[{i}]': must be a string.")
        m = _ORDER.fullmatch(item)
        if m is None or not m.group("ident"):
            raise MlflowError(f"Invalid order_by clause {item[:80]!r}: expected '<identifier> [ASC|DESC]'.")
        tokens = _tokens(m.group("ident"))
        if len(tokens) != 1:
            raise MlflowError(f"Invalid order_by clause {item[:80]!r}: expected '<identifier> [ASC|DESC]'.")
        parser = _Parser(m.group("ident"), attributes, bare)
        kind, key = parser.identifier()
        out.append(OrderBy(kind, key, (m.group("dir") or "ASC").upper() == "ASC"))
    return out


def sort_views(views: list[dict], order: list[OrderBy], default: list[OrderBy]) -> list[dict]:
    """Sort run views by ``order`` then ``default``; a missing value sorts last either way."""
    for o in reversed(order + default):
        present = [v for v in views if v[o.kind].get(o.key) is not None]
        missing = [v for v in views if v[o.kind].get(o.key) is None]
        present.sort(key=lambda v, o=o: _sort_key(v[o.kind][o.key]), reverse=not o.ascending)
        views = present + missing
    return views


def _sort_key(value: Any) -> tuple:
    if type(value) is float and math.isnan(value):
        return (1, 0.0)  # NaN above every number, as PostgreSQL and MLflow's store sort it
    return (0, value)
