"""The storage format of metric points: chunks of parallel arrays (see ``PointChunk``).

Writes go through ``chunks_insert`` (binary COPY on PostgreSQL, executemany on SQLite,
on the raw DB-API connection inside the caller's transaction); reads decode chunk arrays
into numpy arrays. NaN is stored as NaN (PostgreSQL sorts NaN above every number, so SQL
over ``unnest`` filters it out explicitly).
"""

import io
import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

# A chunk holds at most CHUNK_POINTS points, all within one aligned block of
# BLOCK_STEPS steps. Charts of long series use bucket widths that are multiples of
# BLOCK_STEPS, so every chunk falls inside one bucket and its statistics stand for it:
# a full-range chart reads chunk statistics only, never the points.
# CHUNK_POINTS also keeps a chunk row (3 arrays of 8-byte elements) under PostgreSQL's
# 8 KB page, which the PLAIN (inline, uncompressed) array storage requires (migration 0002).
CHUNK_POINTS = 256
BLOCK_STEPS = 256

_DTYPES = {"d": np.dtype("<f8"), "q": np.dtype("<i8")}
_COLUMNS = (
    "metric_id, rank, step_min, step_max, count, nan_count, value_min, value_max, "
    "step_at_min, step_at_max, wall_min, wall_max, steps, vals, walls"
)


def decode_array(raw, kind: str) -> np.ndarray:
    """A stored array (PostgreSQL list, or SQLite bytes) as a numpy array."""
    if isinstance(raw, np.ndarray):
        return raw
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return np.frombuffer(raw, dtype=_DTYPES[kind])
    return np.array(raw, dtype=_DTYPES[kind].newbyteorder("="))


def encode_array(values: Sequence, kind: str, vendor: str):
    """A list of numbers as the database stores it (see ``PackedArrayField``)."""
    arr = np.asarray(values, dtype=_DTYPES[kind])
    if vendor == "postgresql":
        return arr.tolist()
    return arr.tobytes()


@dataclass
class Chunk:
    metric_id: int
    rank: int
    steps: np.ndarray  # int64
    values: np.ndarray  # float64, NaN allowed
    wall_times: np.ndarray  # float64

    def stats(self) -> tuple:
        steps, values = self.steps, self.values
        nan = np.isnan(values)
        nan_count = int(nan.sum())
        if nan_count == len(values):
            lo = hi = lo_step = hi_step = None
        else:
            finite_idx = np.flatnonzero(~nan)
            vals = values[finite_idx]
            i, j = finite_idx[int(vals.argmin())], finite_idx[int(vals.argmax())]
            lo, hi = float(values[i]), float(values[j])
            lo_step, hi_step = int(steps[i]), int(steps[j])
        return (
            int(steps.min()),
            int(steps.max()),
            len(steps),
            nan_count,
            lo,
            hi,
            lo_step,
            hi_step,
            float(self.wall_times.min()),
            float(self.wall_times.max()),
        )


def split_chunks(
    metric_id: int, rank: int, steps: Sequence[int], values: Sequence[float], wall_times: Sequence[float]
) -> list[Chunk]:
    """One metric's points of a batch, cut at step-block boundaries and at CHUNK_POINTS.

    Points keep their logged order within a block (the supersede rule relies on it)."""
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(wall_times, dtype=np.float64)
    block = s // BLOCK_STEPS
    if len(block) > 1 and (np.diff(block) < 0).any():  # out of order: group blocks, stably
        order = np.argsort(block, kind="stable")
        s, v, w, block = s[order], v[order], w[order], block[order]
    starts = [0, *(np.flatnonzero(np.diff(block)) + 1).tolist(), len(s)]
    chunks = []
    for a, b in itertools.pairwise(starts):
        for i in range(a, b, CHUNK_POINTS):
            j = min(b, i + CHUNK_POINTS)
            chunks.append(Chunk(metric_id, rank, s[i:j], v[i:j], w[i:j]))
    return chunks


# PostgreSQL's binary COPY format: no text parsing of floats on either side, and
# arrays are built with numpy in one go (each element is a 4-byte length and 8 bytes).
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_ARRAY_OID = {"d": 701, "q": 20}  # float8, int8
_PG_ELEMENT = {k: np.dtype([("n", ">i4"), ("v", ">" + t)]) for k, t in (("d", "f8"), ("q", "i8"))}
_ROW = struct.Struct(">hiqihiqiqiiii")  # fields, metric_id, rank, step_min, step_max, count, nan_count


def _pg_array(arr: np.ndarray, kind: str) -> bytes:
    elements = np.empty(len(arr), dtype=_PG_ELEMENT[kind])
    elements["n"] = 8
    elements["v"] = arr
    body = struct.pack(">iiiii", 1, 0, _PG_ARRAY_OID[kind], len(arr), 1) + elements.tobytes()
    return struct.pack(">i", len(body)) + body


def _pg_optional(value, fmt: str) -> bytes:
    return b"\xff\xff\xff\xff" if value is None else struct.pack(">i" + fmt, 8, value)


def _pg_row(c: "Chunk", stats: tuple) -> bytes:
    smin, smax, count, nan_count, lo, hi, lo_step, hi_step, wmin, wmax = stats
    return b"".join(
        (
            _ROW.pack(15, 8, c.metric_id, 2, c.rank, 8, smin, 8, smax, 4, count, 4, nan_count),
            _pg_optional(lo, "d"),
            _pg_optional(hi, "d"),
            _pg_optional(lo_step, "q"),
            _pg_optional(hi_step, "q"),
            struct.pack(">idid", 8, wmin, 8, wmax),
            _pg_array(c.steps, "q"),
            _pg_array(c.values, "d"),
            _pg_array(c.wall_times, "d"),
        )
    )


def chunks_insert(chunks: Iterable[Chunk]) -> int:
    """Insert chunks into the points table; returns the number of points."""
    raw = connection.connection
    total = 0
    if connection.vendor == "postgresql":
        parts = [_PG_COPY_HEADER]
        for c in chunks:
            stats = c.stats()
            total += stats[2]
            parts.append(_pg_row(c, stats))
        parts.append(b"\xff\xff")
        with raw.cursor() as cur:
            cur.copy_expert(
                f"COPY experiments_pointchunk ({_COLUMNS}) FROM STDIN WITH (FORMAT binary)",
                io.BytesIO(b"".join(parts)),
            )
        return total
    rows = []
    for c in chunks:
        stats = c.stats()
        total += stats[2]
        rows.append(
            (c.metric_id, c.rank, *stats, c.steps.tobytes(), c.values.tobytes(), c.wall_times.tobytes())
        )
    cur = raw.cursor()
    try:
        cur.executemany(
            f"INSERT INTO experiments_pointchunk ({_COLUMNS}) VALUES ({', '.join('?' * 15)})", rows
        )
    finally:
        cur.close()
    return total


@dataclass
class Points:
    """Decoded points, parallel numpy arrays; ``order`` grows with insertion (chunk id,
    then position), so the newest of equal (rank, step) has the highest order."""

    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    rank: np.ndarray
    order: np.ndarray

    def newest_per_step(self) -> "Points":
        """Apply the supersede rule and sort by (rank, step)."""
        if len(self.step) == 0:
            return self
        idx = np.lexsort((self.order, self.step, self.rank))
        rank, step = self.rank[idx], self.step[idx]
        last = np.ones(len(idx), dtype=bool)
        last[:-1] = (rank[1:] != rank[:-1]) | (step[1:] != step[:-1])
        keep = idx[last]
        return Points(
            self.step[keep], self.value[keep], self.wall_time[keep], self.rank[keep], self.order[keep]
        )


def chunks_read(metric_id: int, step_min: int | None = None, step_max: int | None = None) -> Points:
    """Every stored point of a metric (optionally within a step range), undeduplicated."""
    where, params = "metric_id = %s", [metric_id]
    if step_min is not None:
        where += " AND step_max >= %s"
        params.append(step_min)
    if step_max is not None:
        where += " AND step_min <= %s"
        params.append(step_max)
    rows = [row[1:] for row in chunk_rows(where, params)]
    return decode_rows(rows, step_min, step_max)


def chunk_rows(where: str, params: Sequence) -> list[tuple]:
    """(metric_id, id, rank, steps, vals, walls) of the chunks matching ``where``, by
    metric then insertion; arrays as numpy arrays.

    On PostgreSQL through a binary COPY: a float8[] read as a row comes back as text that
    the server formats and psycopg2 parses into Python floats (about 1 µs a point); binary
    it is the bytes numpy reads directly."""
    select = (
        "SELECT metric_id, id, rank, steps, vals, walls FROM experiments_pointchunk "
        f"WHERE {where} ORDER BY metric_id, id"
    )
    if connection.vendor != "postgresql":
        with connection.cursor() as cur:
            cur.execute(select, params)
            return [
                (m, i, r, decode_array(s, "q"), decode_array(v, "d"), decode_array(w, "d"))
                for m, i, r, s, v, w in cur.fetchall()
            ]
    connection.ensure_connection()
    out = io.BytesIO()
    with connection.connection.cursor() as cur:
        query = cur.mogrify(select, list(params)).decode()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", out)
    return _pg_copy_rows(out.getbuffer())


_PG_INT = {2: ">h", 4: ">i", 8: ">q"}


def _pg_copy_rows(data: memoryview) -> list[tuple]:
    """Rows of a binary COPY of (metric_id, id, rank, steps, vals, walls)."""
    (extension,) = struct.unpack_from(">i", data, len(_PG_COPY_HEADER) - 4)
    at = len(_PG_COPY_HEADER) + extension
    rows = []
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            return rows
        row = []
        for kind in (None, None, None, "q", "d", "d"):
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            if kind is None:
                row.append(struct.unpack_from(_PG_INT[length], data, at)[0])
            else:
                row.append(_pg_array_read(data, at, kind))
            at += length
        rows.append(tuple(row))


def _pg_array_read(data: memoryview, at: int, kind: str) -> np.ndarray:
    """A one-dimensional array without NULLs in PostgreSQL's binary format."""
    ndim, _has_null, _oid = struct.unpack_from(">iii", data, at)
    if ndim == 0:
        return np.array([], dtype=_DTYPES[kind])
    (size,) = struct.unpack_from(">i", data, at + 12)
    elements = np.frombuffer(data, dtype=_PG_ELEMENT[kind], count=size, offset=at + 20)
    return elements["v"].astype(_DTYPES[kind])


def decode_rows(rows: list[tuple], step_min: int | None, step_max: int | None) -> Points:
    if not rows:
        empty_i, empty_f = np.array([], dtype=np.int64), np.array([], dtype=np.float64)
        return Points(empty_i, empty_f, empty_f, empty_i, empty_i)
    steps = [decode_array(r[2], "q") for r in rows]
    sizes = [len(s) for s in steps]
    step = np.concatenate(steps)
    value = np.concatenate([decode_array(r[3], "d") for r in rows])
    wall = np.concatenate([decode_array(r[4], "d") for r in rows])
    rank = np.repeat(np.array([r[1] for r in rows], dtype=np.int64), sizes)
    # Chunk ids ascend with insertion; the position inside a chunk breaks ties.
    order = np.repeat(np.array([r[0] for r in rows], dtype=np.int64), sizes) * (1 << 20)
    order += np.concatenate([np.arange(n) for n in sizes])
    keep = np.ones(len(step), dtype=bool)
    if step_min is not None:
        keep &= step >= step_min
    if step_max is not None:
        keep &= step <= step_max
    if not keep.all():
        step, value, wall, rank, order = step[keep], value[keep], wall[keep], rank[keep], order[keep]
    return Points(step, value, wall, rank, order)
