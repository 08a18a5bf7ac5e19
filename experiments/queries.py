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


# One pass over the metric's index range, grouped into step buckets: each bucket gives
# its first and last step, min and max (NaN is NULL and ignored by MIN/MAX), how many
# NaNs it holds, and the sign of its trend (covariance of step and value), so the two
# extremes can be drawn in the order they most likely occurred.
_BUCKET_EXTREMES = """
    SELECT MIN(step), MAX(step), MIN(value), MAX(value), COUNT(*) - COUNT(value),
           AVG(x * value) - AVG(x) * AVG(value), MIN(wall_time), MAX(wall_time),
           MIN(CASE WHEN value IS NULL THEN step END)
    FROM (
        SELECT step, CAST(step AS DOUBLE PRECISION) AS x, value, wall_time, (step - %s) * %s / %s AS b
        FROM experiments_point
        WHERE metric_id = %s AND step >= %s AND step <= %s
    ) AS p
    GROUP BY b
    ORDER BY b
"""


def _bucket_points(rows: list[tuple]) -> list[tuple]:
    """Turn bucket aggregates into chart points: (step, value, wall_time, rank)."""
    out = []
    for first, last, lo, hi, nans, trend, t_first, t_last, nan_step in rows:
        if lo is not None:
            falling = trend is not None and trend == trend and trend < 0
            a, b = (hi, lo) if falling else (lo, hi)
            out.append((first, a, t_first, 0))
            if last != first or a != b:
                out.append((last, b, t_last, 0))
        if nans:
            out.append((nan_step, None, t_last, 0))
    out.sort(key=lambda p: p[0])
    return out


def metric_series(
    metric: Metric, max_points: int, step_min: int | None = None, step_max: int | None = None
) -> Series:
    """A chart's view of a metric: exact when it fits in ``max_points``, otherwise the
    extremes of ``max_points // 3`` step buckets between ``step_min`` and ``step_max``
    (at most ``max_points`` points; a spike or NaN anywhere stays visible).

    Downsampled views include superseded values of re-logged steps; exact views do not.
    """
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
            # Up to three points per bucket (min, max, a NaN marker).
            buckets = max(1, max_points // 3)
            cur.execute(_BUCKET_EXTREMES, [lo, buckets, hi - lo + 1, metric.pk, lo, hi])
            rows = _bucket_points(cur.fetchall())
            downsampled = True
    return Series(
        step=[r[0] for r in rows],
        value=[_value(r[1]) for r in rows],
        wall_time=[r[2] for r in rows],
        rank=[r[3] for r in rows],
        downsampled=downsampled,
        total=total,
    )
