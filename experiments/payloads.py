"""Declarative validation of API payloads: the one layer every input goes through.

Each payload is checked by one function that returns plain typed data or raises
``ApiError`` naming the offending field (``rows[3][2].val/acc``). The helpers here are
the shared rules: integers fit a 64-bit signed column, no string holds a NUL (PostgreSQL
cannot store one), JSON objects have bounded depth and size, project names can be
routed; every limit is a setting named in the error. The batch parser is on the ingest
hot path: it is one tight loop with exact type checks.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from experiments.errors import ApiError
from experiments.jsonvalues import NONFINITE

RUN_STATUSES_AT_FINISH = ("finished", "failed")
# What a BIGINT column (steps, seq, counters, ids) holds.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1
_BOUND_NAMES = {INT64_MAX: "2**63 - 1", INT64_MIN: "-2**63", UINT64_MAX: "2**64 - 1"}
NUL_MESSAGE = "must not contain NUL (\\u0000) characters"  # PostgreSQL stores none, text or jsonb


def _bound(value: int) -> str:
    return _BOUND_NAMES.get(value, str(value))


def check_int(value: Any, where: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A JSON integer within [minimum, maximum] (by default, what a 64-bit column holds)."""
    if type(value) is not int:
        raise ApiError(f"must be an integer, got {type(value).__name__}", where)
    _check_range(value, where, minimum, maximum)
    return value


def _check_range(value: int, where: str, minimum: int, maximum: int) -> None:
    if value < minimum:
        raise ApiError(f"must be >= {_bound(minimum)}", where)
    if value > maximum:
        raise ApiError(f"must be <= {_bound(maximum)}", where)


def parse_int(raw: str | None, where: str, minimum: int = 0, maximum: int = INT64_MAX) -> int | None:
    """An integer from a query string or header (None when absent or empty)."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:  # also a number of more than 4300 digits
        raise ApiError(f"must be an integer, got {raw[:40]!r}", where) from None
    _check_range(value, where, minimum, maximum)
    return value


def parse_float(raw: str | None, where: str, default: float, minimum: float | None = None) -> float:
    """A finite number from a query string (``default`` when absent or empty)."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(f"must be a number, got {raw[:40]!r}", where) from None
    if not math.isfinite(value):
        raise ApiError(f"must be a finite number, got {raw[:40]!r}", where)
    if minimum is not None and value < minimum:
        raise ApiError(f"must be a finite number >= {minimum:g}, got {raw[:40]!r}", where)
    return value


def check_str(
    value: Any, where: str, max_length: int, *, printable: bool = False, limit_name: str = ""
) -> str:
    """A string of at most ``max_length`` characters (the setting ``limit_name``, when
    it is one), none of them NUL, and with ``printable`` no control characters at all."""
    if type(value) is not str:
        raise ApiError(f"must be a string, got {type(value).__name__}", where)
    if len(value) > max_length:
        named = f" ({limit_name})" if limit_name else ""
        raise ApiError(f"must be at most {max_length} characters{named}; got {len(value)}", where)
    if "\x00" in value:
        raise ApiError(NUL_MESSAGE, where)
    if printable and not value.isprintable():
        raise ApiError("must hold only printable characters (no tab, newline or other control)", where)
    return value


def _key_path(where: str, key: str) -> str:
    return f"{where}.{key[:60]}" if where else key[:60]


def find_nul(data: Any) -> str | None:
    """The field path of the first string or key holding a NUL, or None. Iterative: a
    body may nest as deep as the JSON parser allows."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return where or "body"
        elif kind is dict:
            for key, item in value.items():
                if "\x00" in key:
                    return where or "body"
                stack.append((item, _key_path(where, key)))
        elif kind is list:
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return None


def refuse_nul(raw: bytes, data: Any) -> None:
    """Refuse a parsed JSON body holding a NUL anywhere, naming where. A NUL reaches a
    parsed body only through the escape ``\\u0000`` (the parser refuses raw control
    characters), so a body without that text is passed at the cost of one byte search."""
    if b"\\u0000" in raw:
        where = find_nul(data)
        if where is not None:
            raise ApiError(NUL_MESSAGE, where)


def check_json_object(value: Any, where: str, max_bytes_setting: str) -> dict:
    """A JSON object to store whole (a run's config, summary): absent or null is ``{}``;
    nested at most ``TRACKER_MAX_JSON_DEPTH`` deep; no NUL; integers of at most 64 bits;
    within the byte limit that ``max_bytes_setting`` names. Checked before anything is
    written."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise ApiError(f"must be a JSON object, got {type(value).__name__}", where)
    max_depth = settings.TRACKER_MAX_JSON_DEPTH
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        item, at, depth = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if depth > max_depth:
                message = f"is nested more than {max_depth} deep; the limit is {max_depth}"
                raise ApiError(f"{message} (TRACKER_MAX_JSON_DEPTH)", where)
            if kind is dict:
                for key, child in item.items():
                    if "\x00" in key:
                        raise ApiError(NUL_MESSAGE, at)
                    stack.append((child, _key_path(at, key), depth + 1))
            else:
                stack.extend((child, f"{at}[{i}]", depth + 1) for i, child in enumerate(item))
        elif kind is str:
            if "\x00" in item:
                raise ApiError(NUL_MESSAGE, at)
        elif kind is int:  # what a JSON answer can carry back (a uint64 seed included)
            check_int(item, at, INT64_MIN, UINT64_MAX)
        elif kind is float and not math.isfinite(item):
            raise ApiError("must be a finite number (JSON has no NaN or infinity)", at)
    check_stored_size(value, where, max_bytes_setting)
    return value


def check_stored_size(value: dict, where: str, setting: str) -> None:
    """413 when ``value`` as stored (JSON) is over the byte limit that ``setting`` names."""
    limit = getattr(settings, setting)
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:  # a row stored before these checks: measure it as written
        from experiments.jsonstore import dumps_exact

        size = len(dumps_exact(value).encode())
    if size > limit:
        raise ApiError(f"is {size} bytes as JSON; the limit is {limit} ({setting})", where, status=413)


PROJECT_NAME_LENGTH = 100


# Pages of a project that come after its name in a URL: a project of one of these names
# could not be addressed as entity/name (experiments.converters).
RESERVED_PROJECT_NAMES = frozenset({"compare", "analysis", "alerts", "settings", "views", "baseline"})


def check_project_name(value: Any, where: str = "project") -> str:
    """A project name that every URL can carry: 1 to 100 printable characters, no '/'
    (a path separator: the project's pages could not be routed) and not '.' or '..'
    (browsers resolve those segments away). Surrounding spaces are dropped."""
    if value is None:
        value = ""
    name = check_str(value, where, PROJECT_NAME_LENGTH, printable=True).strip()
    if not name:
        raise ApiError("is required: the name of the project to log to", where)
    if "/" in name or name in (".", ".."):
        raise ApiError(f"cannot be used in a URL: no '/', and not '.' or '..'; got {name[:60]!r}", where)
    if name.lower() in RESERVED_PROJECT_NAMES:
        raise ApiError(
            f"{name!r} is reserved: /projects/ENTITY/{name}/ is a page of project ENTITY; "
            "choose another name",
            where,
        )
    return name


def check_project_ref(value: Any, where: str = "project") -> str:
    """A project to log to: a name (the sender's own project), or ``entity/name`` (a
    team's slug or a user's name, then the project's name; issue #15)."""
    if type(value) is str and value.count("/") == 1:
        entity, _, name = value.partition("/")
        entity = entity.strip()
        if not entity or any(c.isspace() for c in entity) or len(entity) > 150:
            raise ApiError(f"the entity before '/' must be a team or user name; got {value[:60]!r}", where)
        return f"{entity}/{check_project_name(name, where)}"
    return check_project_name(value, where)


def is_routable_project_name(name: str) -> bool:
    """Whether a stored project name has pages (names from before the check may not;
    a reserved one stored earlier still has them, by its bare name)."""
    if name.lower() in RESERVED_PROJECT_NAMES:
        return True
    try:
        check_project_name(name)
    except ApiError:
        return False
    return True


def _obj(data: Any, where: str | None = None) -> dict:
    if type(data) is not dict:
        raise ApiError(
            "request body must be a JSON object" if where is None else "must be a JSON object", where
        )
    return data


def _opt_str(data: dict, name: str, max_length: int, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    return check_str(value, name, max_length)


def _opt_int(data: dict, name: str, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    return check_int(value, name, minimum, maximum)


@dataclass
class RunStart:
    project: str
    name: str
    group: str
    tags: list[str]
    config: dict
    resume_id: int | None
    environment: dict[str, str] = field(default_factory=dict)
    # Distributed training: every rank of one job sends the same key; "" for one process.
    join_key: str = ""
    world_size: int = 1
    # Importers keep the source's times (unix seconds); None means now.
    started_at: float | None = None


ENVIRONMENT_FIELDS = {
    "host": 255,
    "git_commit": 64,
    "python_version": 64,
    "torch_version": 64,
    "cuda_version": 64,
}


def _tags(value: Any) -> list[str]:
    tags = value or []
    if type(tags) is not list:
        raise ApiError(f"must be a list of strings, got {type(tags).__name__}", "tags")
    most = settings.TRACKER_MAX_TAGS
    if len(tags) > most:
        raise ApiError(f"a run has at most {most} tags; got {len(tags)} (TRACKER_MAX_TAGS)", "tags")
    length = settings.TRACKER_MAX_TAG_LENGTH
    return [
        check_str(t, f"tags[{i}]", length, limit_name="TRACKER_MAX_TAG_LENGTH") for i, t in enumerate(tags)
    ]


LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z: what a datetime column holds


def opt_time(data: dict, name: str) -> float | None:
    """An optional point in time as unix seconds (an importer's source times)."""
    value = data.get(name)
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 <= value <= LATEST_TIME:
        raise ApiError(f"must be unix seconds from 0 to {LATEST_TIME}, got {value!r:.40}", name)
    return float(value)


def parse_run_start(data: Any) -> RunStart:
    data = _obj(data)
    return RunStart(
        project=check_project_ref(data.get("project")),
        name=_opt_str(data, "name", 200).strip(),
        group=_opt_str(data, "group", 200).strip(),
        tags=_tags(data.get("tags")),
        config=check_json_object(data.get("config"), "config", "TRACKER_MAX_CONFIG_BYTES"),
        resume_id=_opt_int(data, "id", minimum=1),
        environment={name: _opt_str(data, name, limit) for name, limit in ENVIRONMENT_FIELDS.items()},
        join_key=_opt_str(data, "join_key", 200).strip(),
        world_size=_opt_int(data, "world_size", minimum=1, maximum=1_000_000) or 1,
        started_at=opt_time(data, "started_at"),
    )


@dataclass
class Batch:
    writer: str
    seq: int
    rank: int
    keys: list[str]
    # Per key (same order as ``keys``): parallel lists of steps, values (NaN included)
    # and wall times, in the order they were logged.
    columns: list[tuple[list[int], list[float], list[float]]]
    summary: dict

    @property
    def points(self) -> int:
        return sum(len(steps) for steps, _, _ in self.columns)


def _bad_value(value: Any, where: str) -> ApiError:
    if type(value) is str:
        return ApiError(
            f'must be a number or "NaN", "Infinity", "-Infinity"; got the string {value[:40]!r}', where
        )
    return ApiError(f"must be a number, got {type(value).__name__}", where)


def parse_batch(data: Any) -> Batch:
    data = _obj(data)
    writer = data.get("writer")
    if type(writer) is not str or not 1 <= len(writer) <= 64 or "\x00" in writer:
        raise ApiError("must be a string of 1 to 64 characters identifying the client process", "writer")
    seq = _opt_int(data, "seq", minimum=0)
    if seq is None:
        raise ApiError("is required: the batch's sequence number for this writer", "seq")
    rank = _opt_int(data, "rank", minimum=0, maximum=32767) or 0
    rows = data.get("rows")
    if type(rows) is not list:
        raise ApiError("must be a list of [step, wall_time, {key: value}] rows", "rows")
    if len(rows) > settings.TRACKER_MAX_BATCH_ROWS:
        raise ApiError(
            f"a batch holds at most {settings.TRACKER_MAX_BATCH_ROWS} rows; got {len(rows)}",
            "rows",
            status=413,
        )
    max_points = settings.TRACKER_MAX_BATCH_POINTS
    max_key = settings.TRACKER_MAX_KEY_LENGTH
    max_keys = settings.TRACKER_MAX_BATCH_KEYS
    by_key: dict[str, tuple[list[int], list[float], list[float]]] = {}
    n_points = 0
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 3:
            raise ApiError("must be a list [step, wall_time, {key: value}]", f"rows[{i}]")
        step, wall_time, values = row
        if type(step) is not int or not 0 <= step <= INT64_MAX:
            raise ApiError(
                f"step must be an integer >= 0 and below 2**63 (64-bit); got {step!r:.40}", f"rows[{i}][0]"
            )
        if type(wall_time) is not float and type(wall_time) is not int:
            raise ApiError("wall_time must be a number (unix seconds)", f"rows[{i}][1]")
        if type(values) is not dict:
            raise ApiError("must be an object of {metric key: value}", f"rows[{i}][2]")
        if len(values) > max_keys:  # before reading any of them: a huge row is refused at once
            raise _too_many_keys(f"has {len(values)}", max_keys, f"rows[{i}][2]")
        for key, value in values.items():
            cols = by_key.get(key)
            if cols is None:
                if not key or len(key) > max_key or not key.isprintable():
                    raise ApiError(
                        f"metric keys must be 1 to {max_key} printable characters", f"rows[{i}][2].{key[:60]}"
                    )
                cols = by_key[key] = ([], [], [])
                if len(by_key) > max_keys:
                    raise _too_many_keys("has more than", max_keys, "rows")
            kind = type(value)
            if kind is float:
                pass
            elif kind is int:
                value = float(value)
            elif kind is str and value in NONFINITE:
                value = NONFINITE[value]
            else:
                raise _bad_value(value, f"rows[{i}][2].{key}")
            cols[0].append(step)
            cols[1].append(value)
            cols[2].append(wall_time)
        n_points += len(values)
        if n_points > max_points:
            raise ApiError(f"a batch holds at most {max_points} points", "rows", status=413)
    return Batch(
        writer=writer,
        seq=seq,
        rank=rank,
        keys=list(by_key),
        columns=list(by_key.values()),
        summary=check_json_object(data.get("summary"), "summary", "TRACKER_MAX_SUMMARY_BYTES"),
    )


def _too_many_keys(how_many: str, limit: int, where: str) -> ApiError:
    return ApiError(
        f"batch {how_many} distinct metric keys; the limit is {limit} (TRACKER_MAX_BATCH_KEYS)",
        where,
        status=413,
    )


@dataclass
class RunEnd:
    status: str
    exit_code: int | None
    error: str
    summary: dict
    dropped: int
    finished_at: float | None = None


def parse_dropped(data: dict) -> int:
    return _opt_int(data, "dropped", minimum=0) or 0


def parse_run_end(data: Any) -> RunEnd:
    data = _obj(data)
    status = data.get("status", "finished")
    if status not in RUN_STATUSES_AT_FINISH:
        raise ApiError(f"must be one of {', '.join(RUN_STATUSES_AT_FINISH)}; got {status!r}", "status")
    return RunEnd(
        status=status,
        exit_code=_opt_int(data, "exit_code", minimum=-(2**31), maximum=2**31 - 1),
        error=_opt_str(data, "error", 100_000),
        summary=check_json_object(data.get("summary"), "summary", "TRACKER_MAX_SUMMARY_BYTES"),
        dropped=parse_dropped(data),
        finished_at=opt_time(data, "finished_at"),
    )
