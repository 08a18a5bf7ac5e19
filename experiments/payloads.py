"""Declarative validation of API payloads.

Each payload is checked by one function that returns plain typed data or raises
``ApiError`` naming the offending field (``rows[3][2].val/acc``). The batch parser is
on the ingest hot path: it is one tight loop with exact type checks.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from experiments.errors import ApiError

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
RUN_STATUSES_AT_FINISH = ("finished", "failed")


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
    if type(value) is not str:
        raise ApiError(f"must be a string, got {type(value).__name__}", name)
    if len(value) > max_length:
        raise ApiError(f"must be at most {max_length} characters", name)
    return value


def _opt_int(data: dict, name: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if type(value) is not int:
        raise ApiError(f"must be an integer, got {type(value).__name__}", name)
    if minimum is not None and value < minimum:
        raise ApiError(f"must be >= {minimum}", name)
    if maximum is not None and value > maximum:
        raise ApiError(f"must be <= {maximum}", name)
    return value


def _opt_dict(data: dict, name: str) -> dict:
    value = data.get(name)
    if value is None:
        return {}
    if type(value) is not dict:
        raise ApiError(f"must be a JSON object, got {type(value).__name__}", name)
    return value


@dataclass
class RunStart:
    project: str
    name: str
    group: str
    tags: list[str]
    config: dict
    resume_id: int | None
    environment: dict[str, str] = field(default_factory=dict)


ENVIRONMENT_FIELDS = {
    "host": 255,
    "git_commit": 64,
    "python_version": 64,
    "torch_version": 64,
    "cuda_version": 64,
}


def parse_run_start(data: Any) -> RunStart:
    data = _obj(data)
    project = _opt_str(data, "project", 100)
    if not project.strip():
        raise ApiError("is required: the name of the project to log to", "project")
    tags = data.get("tags") or []
    if type(tags) is not list or any(type(t) is not str or len(t) > 100 for t in tags):
        raise ApiError("must be a list of strings (each at most 100 characters)", "tags")
    return RunStart(
        project=project.strip(),
        name=_opt_str(data, "name", 200).strip(),
        group=_opt_str(data, "group", 200).strip(),
        tags=tags,
        config=_opt_dict(data, "config"),
        resume_id=_opt_int(data, "id", minimum=1),
        environment={name: _opt_str(data, name, limit) for name, limit in ENVIRONMENT_FIELDS.items()},
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
    if type(writer) is not str or not 1 <= len(writer) <= 64:
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
    by_key: dict[str, tuple[list[int], list[float], list[float]]] = {}
    n_points = 0
    for i, row in enumerate(rows):
        if type(row) is not list or len(row) != 3:
            raise ApiError("must be a list [step, wall_time, {key: value}]", f"rows[{i}]")
        step, wall_time, values = row
        if type(step) is not int or step < 0:
            raise ApiError("step must be an integer >= 0", f"rows[{i}][0]")
        if type(wall_time) is not float and type(wall_time) is not int:
            raise ApiError("wall_time must be a number (unix seconds)", f"rows[{i}][1]")
        if type(values) is not dict:
            raise ApiError("must be an object of {metric key: value}", f"rows[{i}][2]")
        for key, value in values.items():
            cols = by_key.get(key)
            if cols is None:
                if not key or len(key) > max_key or not key.isprintable():
                    raise ApiError(
                        f"metric keys must be 1 to {max_key} printable characters", f"rows[{i}][2].{key[:60]}"
                    )
                cols = by_key[key] = ([], [], [])
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
        summary=_opt_dict(data, "summary"),
    )


@dataclass
class RunEnd:
    status: str
    exit_code: int | None
    error: str
    summary: dict
    dropped: int


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
        summary=_opt_dict(data, "summary"),
        dropped=parse_dropped(data),
    )
