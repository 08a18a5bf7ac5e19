"""Read paths over the points table: full history and chart series.

The supersede rule lives here: a step logged again for the same metric and rank (a run
resumed from a checkpoint) counts once, with its newest value (highest id).
"""

import math
from dataclasses import dataclass

from django.db import connection

from experiments.models import Metric

# Newest row per (rank, step) of one metric. Window functions run on SQLite >= 3.25 and
# PostgreSQL alike, and the (metric, step, rank) index keeps the scan to this metric.
_LATEST_PER_STEP = """
    SELECT step, value, wall_time, rank FROM (
        SELECT step, value, wall_time, rank,
               ROW_NUMBER() OVER (PARTITION BY rank, step ORDER BY id DESC) AS newest
        FROM experiments_point
        WHERE metric_id = %s {where}
    ) AS p
    WHERE newest = 1
    ORDER BY {order}
"""


@dataclass
class Series:
    """Column arrays of one metric's points. ``value`` holds floats with NaN as NaN."""

    step: list[int]
    value: list[float]
    wall_time: list[float]
    rank: list[int]
    downsampled: bool = False
    total: int = 0


def _value(v: float | None) -> float:
    return math.nan if v is None else v


def metric_history(metric: Metric, rank: int | None = None) -> Series:
    """Every point of a metric (supersede rule applied), ordered by rank then step."""
    where, params = ("AND rank = %s", [rank]) if rank is not None else ("", [])
    sql = _LATEST_PER_STEP.format(where=where, order="rank, step")
    with connection.cursor() as cur:
        cur.execute(sql, [metric.pk, *params])
        rows = cur.fetchall()
    return Series(
        step=[r[0] for r in rows],
        value=[_value(r[1]) for r in rows],
        wall_time=[r[2] for r in rows],
        rank=[r[3] for r in rows],
        total=len(rows),
    )


# Min and max row of each step bucket, plus one row per bucket holding a NaN, so that a
# single spike or NaN among millions of points stays visible after downsampling.
_BUCKET_EXTREMES = """
    WITH pts AS (
        SELECT step, value, wall_time, rank, (step - %(lo)s) * %(nb)s / %(span)s AS b
        FROM experiments_point
        WHERE metric_id = %(metric)s AND step >= %(lo)s AND step <= %(hi)s
    ), ranked AS (
        SELECT step, value, wall_time, rank,
               ROW_NUMBER() OVER (PARTITION BY b, value IS NULL ORDER BY value ASC, step) AS lo_rank,
               ROW_NUMBER() OVER (PARTITION BY b, value IS NULL ORDER BY value DESC, step) AS hi_rank
        FROM pts
    )
    SELECT step, value, wall_time, rank FROM ranked
    WHERE lo_rank = 1 OR hi_rank = 1
    ORDER BY step, rank
"""


def metric_series(
    metric: Metric, max_points: int, step_min: int | None = None, step_max: int | None = None
) -> Series:
    """A chart's view of a metric: exact when it fits in ``max_points``, otherwise the
    extremes of ``max_points // 2`` step buckets between ``step_min`` and ``step_max``."""
    where, params = "", []
    if step_min is not None:
        where += " AND step >= %s"
        params.append(step_min)
    if step_max is not None:
        where += " AND step <= %s"
        params.append(step_max)
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT COUNT(*), MIN(step), MAX(step) FROM experiments_point WHERE metric_id = %s{where}",
            [metric.pk, *params],
        )
        total, lo, hi = cur.fetchone()
        if total <= max_points:
            sql = _LATEST_PER_STEP.format(where=where, order="step, rank")
            cur.execute(sql, [metric.pk, *params])
            rows = cur.fetchall()
            downsampled = False
        else:
            buckets = max(1, max_points // 2)
            cur.execute(
                _BUCKET_EXTREMES,
                {"lo": lo, "hi": hi, "span": hi - lo + 1, "nb": buckets, "metric": metric.pk},
            )
            rows = cur.fetchall()
            downsampled = True
    return Series(
        step=[r[0] for r in rows],
        value=[_value(r[1]) for r in rows],
        wall_time=[r[2] for r in rows],
        rank=[r[3] for r in rows],
        downsampled=downsampled,
        total=total,
    )
