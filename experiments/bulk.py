"""Backend-specific bulk insert of points: COPY on PostgreSQL, executemany on SQLite.

Both run on the raw DB-API connection inside the caller's transaction, skipping the ORM
(which would build one model instance per point).
"""

import io
import math
from collections.abc import Iterable

from django.db import connection

COLUMNS = "(metric_id, step, value, wall_time, rank)"


def _copy_value(value: float) -> str:
    if value != value:
        return "\\N"  # NaN is stored as NULL (see Point)
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return repr(value)


def points_insert(rows: Iterable[tuple[int, int, float, float, int]]) -> None:
    """Insert (metric_id, step, value, wall_time, rank) rows into the points table."""
    raw = connection.connection
    if connection.vendor == "postgresql":
        buf = io.StringIO()
        buf.writelines(f"{m}\t{s}\t{_copy_value(v)}\t{w!r}\t{r}\n" for m, s, v, w, r in rows)
        buf.seek(0)
        with raw.cursor() as cur:
            cur.copy_expert(f"COPY experiments_point {COLUMNS} FROM STDIN", buf)
        return
    cur = raw.cursor()
    try:
        cur.executemany(
            f"INSERT INTO experiments_point {COLUMNS} VALUES (?, ?, ?, ?, ?)",
            ((m, s, None if v != v else v, w, r) for m, s, v, w, r in rows),
        )
    finally:
        cur.close()
