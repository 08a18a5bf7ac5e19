"""The run filter language: one grammar for the runs table, the API, the SDK and the CLI,
compiled to SQL (a ``Q`` over ``Run``), never evaluated in Python over all runs.

    config.lr > 1e-3 and val/acc.max >= 0.95
    config.optimizer = "adam" or tag = baseline
    not (status in (failed, crashed)) and duration > 1h
    name ~ "resnet" and created >= 2026-11-01 and train/loss.last < 0.1

Fields:

- ``config.PATH`` / ``summary.PATH``: a value of the run's config or summary; a dotted path
  reads nested dicts (``config.optim.lr``) or a key holding dots (``config.optim.lr`` also
  matches ``{"optim.lr": ...}``). Numbers compare as numbers, strings as strings, ``true``
  / ``false`` / ``null`` as JSON; a value of another type never matches an order.
- ``KEY`` or ``KEY.AGG``: a metric's summary, ``AGG`` one of ``last`` (the default),
  ``min``, ``max``, ``best`` (min or max by the metric's direction), ``count``,
  ``nonfinite`` (NaN/inf points). ``KEY = nan`` is a last value that is NaN. Backticks
  quote a key with spaces or a trailing ``.max`` of its own: ```my key`.max``.
- ``name``, ``group``, ``notes``, ``host``: text; ``status``; ``tag`` (any of the run's
  tags); ``id``; ``created`` (a date ``2026-11-01`` or ``2026-11-01T12:00``);
  ``duration`` (``90``, ``90s``, ``15m``, ``2h``, ``1d``; a running run's lasts till now).

Operators: ``= != > >= < <=``, ``~`` / ``!~`` (contains, case-insensitive), ``in (a, b)``,
``not in (...)``; ``and`` binds tighter than ``or``; ``not``; parentheses. Errors are
``FilterError`` with the 1-based column of the token that is wrong.

Indexes: metric conditions are ``EXISTS`` over ``Metric`` by (run, key) — the
``metric_key_unique_per_run`` constraint is that index; attribute conditions read ``Run``
by project (``run_project_recent``). Config/summary conditions read the JSON of the
project's runs (filtered by project first).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import compile_json_path
from django.db.models.functions import Lower, Now
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from experiments.directions import metric_direction
from experiments.models import Metric, RunStatus

AGGREGATES = {"last": "last_value", "min": "min_value", "max": "max_value", "count": "count"}
METRIC_AGGS = {*AGGREGATES, "best", "nonfinite"}
TEXT_FIELDS = {"name": "name", "group": "group", "notes": "notes", "host": "host"}
ATTRIBUTES = {*TEXT_FIELDS, "status", "tag", "tags", "id", "created", "duration"}
ORDER_OPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 50
LOOKUPS = {
    "=": Exact,
    "!=": Exact,
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
    "<": LessThan,
    "<=": LessThanOrEqual,
}


class FilterError(ValueError):
    """A query that cannot be compiled; ``column`` is 1-based."""

    def __init__(self, message: str, column: int, query: str = ""):
        self.message, self.column, self.query = message, column, query
        super().__init__(f"{message} (at column {column})")


# --- Tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # ident, quoted, string, number, duration, date, op, punct, end
    text: str
    value: Any
    column: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<date>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)
  | (?P<duration>\d+(?:\.\d+)?[smhd])(?![\w/.])
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w/])
  | (?P<op>>=|<=|!=|==|!~|=|>|<|~)
  | (?P<punct>[(),])
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<quoted>`[^`]*`(?:\.[A-Za-z_]+)?)
  | (?P<ident>[^\s()<>=!~,"'`]+)
    """,
    re.VERBOSE,
)


def tokenize(query: str) -> list[Token]:
    if len(query) > MAX_QUERY_LENGTH:
        raise FilterError(f"the query is {len(query)} characters; the limit is {MAX_QUERY_LENGTH}", 1, "")
    if "\x00" in query:
        raise FilterError("the query holds a NUL character", query.index("\x00") + 1, query)
    tokens, at = [], 0
    while at < len(query):
        match = _TOKEN.match(query, at)
        if match is None:
            raise FilterError(f"unexpected {query[at]!r}", at + 1, query)
        kind, text, column = match.lastgroup, match.group(), at + 1
        at = match.end()
        if kind == "space":
            continue
        if kind == "string":
            value: Any = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "number":
            value = float(text) if any(c in text for c in ".eE") else int(text)
        elif kind == "duration":
            value = float(text[:-1]) * DURATION_UNITS[text[-1]]
        elif kind == "op":
            value = "=" if text == "==" else text
        else:
            value = text
        tokens.append(Token(kind, text, value, column))
    tokens.append(Token("end", "", None, len(query) + 1))
    return tokens


# --- Syntax tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    kind: str  # config, summary, metric, attribute
    name: str  # the attribute, the metric key, or the JSON path joined by "."
    agg: str = ""
    column: int = 0


@dataclass(frozen=True)
class Compare:
    field: Field
    op: str  # = != > >= < <= ~ !~ in
    value: Any  # a Token, or a list of Tokens for "in"
    column: int


@dataclass(frozen=True)
class Not:
    node: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    nodes: tuple


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.tokens = tokenize(query)
        self.at = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def next(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def error(self, message: str, token: Token) -> FilterError:
        return FilterError(message, token.column, self.query)

    def keyword(self, token: Token, word: str) -> bool:
        return token.kind == "ident" and token.text.lower() == word

    def parse(self) -> Any:
        if self.peek().kind == "end":
            return None
        node = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise self.error(f"expected 'and', 'or' or the end, found {token.text!r}", token)
        return node

    def or_(self) -> Any:
        nodes = [self.and_()]
        while self.keyword(self.peek(), "or"):
            self.next()
            nodes.append(self.and_())
        return nodes[0] if len(nodes) == 1 else BoolOp("or", tuple(nodes))

    def and_(self) -> Any:
        nodes = [self.not_()]
        while self.keyword(self.peek(), "and"):
            self.next()
            nodes.append(self.not_())
        return nodes[0] if len(nodes) == 1 else BoolOp("and", tuple(nodes))

    def not_(self) -> Any:
        nots = 0
        while self.keyword(self.peek(), "not"):  # a loop: "not not ..." a thousand times is no recursion
            self.next()
            nots += 1
        node = self.atom()
        return Not(node) if nots % 2 else node

    def atom(self) -> Any:
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"more than {MAX_DEPTH} nested parentheses", token)
            node = self.or_()
            self.depth -= 1
            close = self.next()
            if close.text != ")":
                raise self.error(f"expected ')' to close the '(' at column {token.column}", close)
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.next()
        if token.kind not in ("ident", "quoted"):
            raise self.error(
                f"expected a field (config.x, a metric, name, status, ...), found {token.text!r}", token
            )
        field = parse_field(token, self.query)
        op_token = self.next()
        if self.keyword(op_token, "not") and self.keyword(self.peek(), "in"):
            self.next()
            return Not(Compare(field, "in", self.value_list(), op_token.column))
        if self.keyword(op_token, "in"):
            return Compare(field, "in", self.value_list(), op_token.column)
        if op_token.kind != "op":
            raise self.error(
                f"expected an operator (= != > >= < <= ~ !~ in) after {token.text!r}, "
                f"found {op_token.text!r}",
                op_token,
            )
        return Compare(field, op_token.value, self.value(), op_token.column)

    def value(self) -> Token:
        token = self.next()
        if token.kind in ("string", "number", "duration", "date", "ident"):
            if token.kind == "ident" and token.text.lower() in ("and", "or", "not", "in"):
                raise self.error(f"expected a value, found the keyword {token.text!r}", token)
            return token
        raise self.error(f"expected a value, found {token.text or 'the end'!r}", token)

    def value_list(self) -> list[Token]:
        open_ = self.next()
        if open_.text != "(":
            raise self.error("expected '(' after 'in'", open_)
        values = [self.value()]
        while self.peek().text == ",":
            self.next()
            values.append(self.value())
        close = self.next()
        if close.text != ")":
            raise self.error("expected ',' or ')' in the list", close)
        return values


def parse_field(token: Token, query: str = "") -> Field:
    text = token.text
    if token.kind == "quoted":
        key, _, agg = text[1:].partition("`")
        agg = agg.lstrip(".")
        if agg and agg not in METRIC_AGGS:
            raise FilterError(
                f"unknown metric aggregate {agg!r}; use one of {sorted(METRIC_AGGS)}", token.column, query
            )
        return Field("metric", key, agg or "last", token.column)
    head, dot, rest = text.partition(".")
    if head in ("config", "summary") and dot:
        if not rest:
            raise FilterError(f"{head}. needs a key, e.g. {head}.lr", token.column, query)
        return Field(head, rest, "", token.column)
    if text.lower() in ATTRIBUTES:
        name = text.lower()
        return Field("attribute", "tag" if name == "tags" else name, "", token.column)
    key, dot, agg = text.rpartition(".")
    if dot and key and agg in METRIC_AGGS:
        return Field("metric", key, agg, token.column)
    return Field("metric", text, "last", token.column)


def parse(query: str) -> Any:
    """The syntax tree of ``query`` (``None`` for an empty one); raises FilterError."""
    return _Parser(query or "").parse()


# --- JSON values as SQL ---------------------------------------------------------------


class JSONAs(Func):
    """A config/summary value at a path, as a SQL number or text; NULL when the stored
    value has another JSON type (so ``config.lr > 1`` never matches the string "2")."""

    template = ""  # set per vendor

    def __init__(self, column: str, path: list[str], want: str):
        self.path, self.want = path, want
        output = TextField() if want in ("text", "raw") else FloatField()
        super().__init__(F(column), output_field=output)

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        path = compile_json_path(self.path)
        if self.want == "raw":  # the value as SQL sees it (grouping)
            return f"json_extract({column}, %s)", (*params, path)
        if self.want == "sortable":  # booleans as 0/1: the runs table orders them with numbers
            sql = (
                f"CASE json_type({column}, %s) WHEN 'integer' THEN json_extract({column}, %s) "
                f"WHEN 'real' THEN json_extract({column}, %s) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END"
            )
            return sql, (*params, path, *params, path, *params, path)
        types = "('integer', 'real')" if self.want == "number" else "('text')"
        sql = f"CASE WHEN json_type({column}, %s) IN {types} THEN json_extract({column}, %s) END"
        return sql, (*params, path, *params, path)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if self.want == "raw":
            return f"({column} #>> %s)", (*params, self.path)
        if self.want == "sortable":
            sql = (
                f"CASE jsonb_typeof({column} #> %s) WHEN 'number' THEN ({column} #>> %s)::double precision "
                f"WHEN 'boolean' THEN CASE WHEN ({column} #>> %s) = 'true' THEN 1.0 ELSE 0.0 END END"
            )
            return sql, (*params, self.path, *params, self.path, *params, self.path)
        kind = "number" if self.want == "number" else "string"
        cast = "::double precision" if self.want == "number" else ""
        sql = f"CASE WHEN jsonb_typeof({column} #> %s) = '{kind}' THEN ({column} #>> %s){cast} END"
        return sql, (*params, self.path, *params, self.path)

    def as_sql(self, compiler, connection, **extra):
        # The tracker runs on SQLite and PostgreSQL (dashboard/settings.py); a JSON path
        # compiled for another vendor would silently mean something else, so say so.
        raise NotSupportedError(
            f"run filters are compiled for SQLite and PostgreSQL, not {connection.vendor}"
        )


class _JSONEquals(Func):
    """Whether the value at a path equals a JSON literal (true, false, null)."""

    def __init__(self, column: str, path: list[str], literal: str):
        self.path, self.literal = path, literal
        super().__init__(F(column), output_field=BooleanField())

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(json_type({column}, %s) = %s, 0)", (
            *params,
            compile_json_path(self.path),
            self.literal,
        )

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(({column} #> %s) = %s::jsonb, false)", (*params, self.path, self.literal)


class _HasTag(Func):
    """Whether the run's tags (a JSON list) hold ``tag`` (exactly, or containing it)."""

    def __init__(self, tag: str, contains: bool):
        self.tag, self.contains = tag, contains
        super().__init__(F("tags"), output_field=BooleanField())

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if self.contains:
            return (
                f"EXISTS (SELECT 1 FROM json_each({column}) WHERE instr(lower(value), lower(%s)) > 0)",
                (*params, self.tag),
            )
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = %s)", (*params, self.tag)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if self.contains:
            return (
                f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}) AS t(v) "
                "WHERE strpos(lower(t.v), lower(%s)) > 0)",
                (*params, self.tag),
            )
        return f"({column} @> jsonb_build_array(%s::text))", (*params, self.tag)


# --- Compilation ----------------------------------------------------------------------


class _Compiler:
    def __init__(self, query: str, directions: dict[str, str] | None):
        self.query = query
        self.directions = directions or {}

    def error(self, message: str, column: int) -> FilterError:
        return FilterError(message, column, self.query)

    def compile(self, node: Any) -> Q:
        if isinstance(node, BoolOp):
            parts = [self.compile(n) for n in node.nodes]
            result = parts[0]
            for part in parts[1:]:
                result = (result & part) if node.op == "and" else (result | part)
            return result
        if isinstance(node, Not):
            return ~self.compile(node.node)
        field = node.field
        if node.op == "in":
            result = Q(pk__in=[])
            for token in node.value:
                result |= self.compare(field, "=", token, node.column)
            return result
        return self.compare(field, node.op, node.value, node.column)

    def compare(self, field: Field, op: str, token: Token, column: int) -> Q:
        if field.kind in ("config", "summary"):
            return self.json(field, op, token, column)
        if field.kind == "metric":
            return self.metric(field, op, token, column)
        return getattr(self, f"attr_{field.name}")(field, op, token, column)

    # config / summary

    def json(self, field: Field, op: str, token: Token, column: int) -> Q:
        parts = field.name.split(".")
        paths = [parts] if len(parts) == 1 else [parts, [field.name]]
        result = Q(pk__in=[])
        for path in paths:
            result |= self.json_path(field, path, op, token, column)
        return result

    def json_path(self, field: Field, path: list[str], op: str, token: Token, column: int) -> Q:
        literal = token.text.lower() if token.kind == "ident" else ""
        if literal in ("true", "false", "null"):
            if op not in ("=", "!="):
                raise self.error(f"{literal} compares only with = or !=", column)
            equal = Q(_JSONEquals(field.kind, path, literal))
            return equal if op == "=" else ~equal
        if token.kind == "number":
            number = JSONAs(field.kind, path, "number")
            return self.order(number, op, token.value, column)
        if token.kind in ("string", "ident", "date", "duration"):
            text = JSONAs(field.kind, path, "text")
            if op in ORDER_OPS:
                raise self.error(f"{field.kind}.{field.name} {op} needs a number, got {token.text!r}", column)
            return self.text(text, op, str(token.value if token.kind == "string" else token.text), column)
        raise self.error(f"cannot compare {field.kind}.{field.name} with {token.text!r}", column)

    # metrics

    def metric(self, field: Field, op: str, token: Token, column: int) -> Q:
        metrics = Metric.objects.filter(run=OuterRef("pk"), key=field.name)
        agg = field.agg
        if token.kind == "ident" and token.text.lower() == "nan":
            if op not in ("=", "!=") or agg not in ("last", "best"):
                raise self.error("nan compares only with = or != on a last value", column)
            is_nan = Exists(metrics.filter(count__gt=0, last_value__isnull=True, last_step__isnull=False))
            return Q(is_nan) if op == "=" else ~Q(is_nan)
        if token.kind != "number":
            raise self.error(
                f"metric {field.name}.{agg} compares with a number, got {token.text!r}", token.column
            )
        if op in ("~", "!~"):
            raise self.error(f"{op} is for text; metric {field.name} compares with = != > >= < <=", column)
        if agg == "best":
            agg = "min" if self.directions.get(field.name, metric_direction(field.name)) == "min" else "max"
        column_name = "nonfinite_count" if agg == "nonfinite" else AGGREGATES[agg]
        value = token.value
        if op == "!=":
            return ~Q(Exists(metrics.filter(**{column_name: value})))
        lookup = "exact" if op == "=" else ORDER_OPS[op]
        return Q(Exists(metrics.filter(**{f"{column_name}__{lookup}": value})))

    # attributes

    def attr_text(self, field: Field, op: str, token: Token, column: int) -> Q:
        if op in ORDER_OPS:
            raise self.error(f"{field.name} compares with = != ~ !~ or in", column)
        value = str(token.value if token.kind == "string" else token.text)
        return self.text(F(TEXT_FIELDS[field.name]), op, value, column)

    attr_name = attr_group = attr_notes = attr_host = attr_text

    def attr_status(self, field: Field, op: str, token: Token, column: int) -> Q:
        value = str(token.value if token.kind == "string" else token.text).lower()
        if value not in RunStatus.values:
            raise self.error(
                f"unknown status {value!r}; use one of {', '.join(RunStatus.values)}", token.column
            )
        if op not in ("=", "!="):
            raise self.error("status compares with =, != or in", column)
        return Q(status=value) if op == "=" else ~Q(status=value)

    def attr_tag(self, field: Field, op: str, token: Token, column: int) -> Q:
        value = str(token.value if token.kind == "string" else token.text)
        if op in ("=", "!="):
            has = Q(_HasTag(value, contains=False))
        elif op in ("~", "!~"):
            has = Q(_HasTag(value, contains=True))
        else:
            raise self.error("tag compares with = != ~ !~ or in", column)
        return has if op in ("=", "~") else ~has

    def attr_id(self, field: Field, op: str, token: Token, column: int) -> Q:
        if token.kind != "number" or not isinstance(token.value, int):
            raise self.error(f"id compares with a whole number, got {token.text!r}", token.column)
        return self.order(F("pk"), op, token.value, column)

    def attr_created(self, field: Field, op: str, token: Token, column: int) -> Q:
        if token.kind != "date":
            raise self.error(
                f"created compares with a date such as 2026-11-01, got {token.text!r}", token.column
            )
        when = datetime.fromisoformat(token.text.replace(" ", "T"))
        when = timezone.make_aware(when) if timezone.is_naive(when) else when
        if op in ("~", "!~"):
            raise self.error("created compares with = != > >= < <=", column)
        if len(token.text) == 10:  # a whole day: "> day" is after it, "<= day" up to its end
            if op in ("=", "!="):
                day = Q(created_at__gte=when, created_at__lt=when + timedelta(days=1))
                return day if op == "=" else ~day
            if op in (">", "<="):
                op, when = {">": ">=", "<=": "<"}[op], when + timedelta(days=1)
        return self.order(F("created_at"), op, when, column)

    def attr_duration(self, field: Field, op: str, token: Token, column: int) -> Q:
        if token.kind not in ("duration", "number"):
            raise self.error(
                f"duration compares with a time such as 90s, 15m, 2h or 1d, got {token.text!r}", token.column
            )
        if op not in ORDER_OPS:
            raise self.error("duration compares with > >= < <=", column)
        seconds = float(token.value)
        if not math.isfinite(seconds):
            raise self.error("duration must be finite", token.column)
        # started + d vs the end (now for a run still going): no per-vendor interval maths.
        end = Case(When(finished_at__isnull=True, then=Now()), default=F("finished_at"))
        later = F("started_at") + timedelta(seconds=seconds)
        threshold = ExpressionWrapper(later, output_field=DateTimeField())
        return Q(LOOKUPS[op](end, threshold))

    # shared

    def order(self, lhs, op: str, value: Any, column: int) -> Q:
        if op in ("~", "!~"):
            raise self.error(f"{op} is for text; numbers compare with = != > >= < <=", column)
        condition = Q(LOOKUPS[op](lhs, Value(value)))
        if op == "!=":  # a value of another type (NULL here) is "not equal" too
            return ~condition | Q(IsNull(lhs, True))
        return condition

    def text(self, lhs, op: str, value: str, column: int) -> Q:
        if op in ("=", "!="):
            condition = Q(Exact(lhs, Value(value)))
        elif op in ("~", "!~"):
            condition = Q(Contains(Lower(lhs), Value(value.lower())))
        else:
            raise self.error(f"text compares with = != ~ !~ or in, not {op}", column)
        if op in ("!=", "!~"):
            return ~condition | Q(IsNull(lhs, True))
        return condition


def compile_filter(query: str, directions: dict[str, str] | None = None) -> Q:
    """``query`` as a ``Q`` over ``Run`` (``Q()`` for an empty query). ``directions``
    (``{key: "min"|"max"}``, e.g. a project's overrides) decides what ``.best`` means;
    names decide otherwise. Raises FilterError naming the column."""
    tree = parse(query)
    if tree is None:
        return Q()
    return _Compiler(query, directions).compile(tree)


def filter_runs(runs, query: str, directions: dict[str, str] | None = None):
    """``runs`` (a Run queryset) narrowed by ``query``."""
    condition = compile_filter(query, directions)
    return runs.filter(condition) if condition else runs
