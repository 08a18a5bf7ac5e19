"""Read paths over the points table (``PointChunk``): full history and chart series.

The supersede rule lives here: a step logged again for the same metric and rank (a run
resumed from a checkpoint) counts once, with its newest value. Exact reads apply it;
downsampled chart views (min/max envelopes of long series) may include superseded values.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

from experiments.chunks import BLOCK_STEPS, Points, chunk_rows, chunks_read, decode_array, decode_rows
from experiments.models import Metric


@dataclass
class Series:
    """Column arrays of one metric's points. ``value`` holds floats with NaN as NaN."""

    step: list[int]
    value: list[float]
    wall_time: list[float]
    rank: list[int]
    downsampled: bool = False
    total: int = 0


def _series(points: Points, downsampled: bool = False, total: int | None = None) -> Series:
    return Series(
        step=points.step.tolist(),
        value=points.value.tolist(),
        wall_time=points.wall_time.tolist(),
        rank=points.rank.tolist(),
        downsampled=downsampled,
        total=len(points.step) if total is None else total,
    )


def metric_history(metric: Metric, rank: int | None = None) -> Series:
    """Every point of a metric (supersede rule applied), ordered by rank then step."""
    points = chunks_read(metric.pk).newest_per_step()
    if rank is not None:
        keep = points.rank == rank
        points = Points(
            *(a[keep] for a in (points.step, points.value, points.wall_time, points.rank, points.order))
        )
    return _series(points)


def metric_series(
    metric: Metric, max_points: int, step_min: int | None = None, step_max: int | None = None
) -> Series:
    """A chart's view of a metric: exact when it fits in ``max_points``, otherwise the
    extremes of at most ``max_points // 3`` step buckets between ``step_min`` and ``step_max``
    (at most ``max_points`` points: per bucket its min, its max and its first NaN, so a
    spike or NaN anywhere stays visible). Ordered by step, then rank."""
    total, lo, hi = _count_in_range(metric.pk, step_min, step_max)
    if total <= max_points:
        return _exact(chunks_read(metric.pk, step_min, step_max))
    return _downsampled(metric.pk, total, lo, hi, max_points)


def _downsampled(metric_id: int, total: int, lo: int, hi: int, max_points: int) -> Series:
    """The bucketed view of a metric's steps ``lo``..``hi``, aggregated by the database."""
    origin, width = bucket_grid(lo, hi, _buckets(max_points))
    aggregate = _buckets_sql if connection.vendor == "postgresql" else _buckets_numpy
    rows = aggregate(metric_id, lo, hi, origin, width)
    return _series(_bucket_points(rows), downsampled=True, total=total)


# metric_series_many: metrics per statistics query, and stored points per query of
# whole chunks (about 24 bytes each: step, value and wall time).
IDS_PER_QUERY = 500
POINTS_PER_READ = 1_000_000


def metric_series_many(metrics: Sequence[Metric], max_points: int) -> dict[int, Series]:
    """``metric_series`` of many metrics (a grouped chart's members), by metric id, in a
    few queries instead of two or more each.

    The series that ``metric_series`` would unnest anyway (short ones, and buckets
    narrower than half a block) are read whole, many metrics per query, and bucketed
    here with the same rule; longer ones are aggregated by the database one by one, as
    ``metric_series`` does, where wide buckets read chunk statistics alone."""
    ids = [m.pk for m in metrics]
    stats: dict[int, tuple[int, int, int]] = {}
    with connection.cursor() as cur:
        for start in range(0, len(ids), IDS_PER_QUERY):
            part = ids[start : start + IDS_PER_QUERY]
            cur.execute(
                "SELECT metric_id, SUM(count), MIN(step_min), MAX(step_max) FROM experiments_pointchunk "
                f"WHERE metric_id IN ({_placeholders(part)}) GROUP BY metric_id",
                part,
            )
            stats.update({m: (int(total), lo, hi) for m, total, lo, hi in cur.fetchall()})
    out: dict[int, Series] = {}
    whole: list[int] = []
    for metric in metrics:
        total, lo, hi = stats.get(metric.pk, (0, 0, 0))
        if total <= max_points or bucket_grid(lo, hi, _buckets(max_points))[1] < BLOCK_STEPS // 2:
            whole.append(metric.pk)
        else:
            out[metric.pk] = _downsampled(metric.pk, total, lo, hi, max_points)
    for part in _reads(whole, stats):
        for metric_id, points in _chunks_read_many(part).items():
            total, lo, hi = stats[metric_id]
            out[metric_id] = _series_of(points, total, lo, hi, max_points)
    for metric_id in whole:
        if metric_id not in out:  # no points stored
            out[metric_id] = _exact(decode_rows([], None, None))
    return out


def _placeholders(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


def _buckets(max_points: int) -> int:
    """How many step buckets a downsampled series of ``max_points`` has (3 points each)."""
    return max(1, max_points // 3 - 1)


def _exact(points: Points) -> Series:
    """Every point, the supersede rule applied, ordered by step then rank."""
    points = points.newest_per_step()
    idx = np.lexsort((points.rank, points.step))
    return _series(
        Points(*(a[idx] for a in (points.step, points.value, points.wall_time, points.rank, points.order)))
    )


def _reads(ids: list[int], stats: dict[int, tuple[int, int, int]]) -> list[list[int]]:
    """``ids`` cut into reads of at most POINTS_PER_READ stored points (one metric more
    if a single one is larger) and IDS_PER_QUERY metrics."""
    reads: list[list[int]] = []
    points = 0
    for metric_id in ids:
        n = stats.get(metric_id, (0, 0, 0))[0]
        if not reads or len(reads[-1]) >= IDS_PER_QUERY or (points + n > POINTS_PER_READ and reads[-1]):
            reads.append([])
            points = 0
        reads[-1].append(metric_id)
        points += n
    return reads


def _chunks_read_many(ids: list[int]) -> dict[int, Points]:
    """``chunks_read`` of several metrics in one query."""
    rows: dict[int, list[tuple]] = defaultdict(list)
    for metric_id, *row in chunk_rows(f"metric_id IN ({_placeholders(ids)})", ids):
        rows[metric_id].append(tuple(row))
    return {metric_id: decode_rows(r, None, None) for metric_id, r in rows.items()}


def _series_of(points: Points, total: int, lo: int, hi: int, max_points: int) -> Series:
    """What ``metric_series`` answers for a whole metric, from its decoded points."""
    if total <= max_points:
        return _exact(points)
    origin, width = bucket_grid(lo, hi, _buckets(max_points))
    return _series(_bucket_points(_bucket_rows(points, origin, width)), downsampled=True, total=total)


def _bucket_rows(points: Points, origin: int, width: int) -> list[tuple]:
    """``_BUCKETS_SQL``'s rows from decoded points: per bucket the lowest value with its
    step (ties: the first step), the highest (ties: the first step), the first and last
    step and wall time, and the first NaN's step. Every stored point counts, superseded
    ones too, as there."""
    bucket = (points.step - origin) // width
    order = np.argsort(bucket, kind="stable")
    b, s, t = bucket[order], points.step[order], points.wall_time[order]
    buckets, start = np.unique(b, return_index=True)
    first_s, last_s = np.minimum.reduceat(s, start), np.maximum.reduceat(s, start)
    first_t, last_t = np.minimum.reduceat(t, start), np.maximum.reduceat(t, start)
    nan = np.isnan(points.value)
    lo_v: list = [None] * len(buckets)
    lo_s, hi_v, hi_s, nan_s = list(lo_v), list(lo_v), list(lo_v), list(lo_v)
    if (~nan).any():
        bv, sv, vv = bucket[~nan], points.step[~nan], points.value[~nan]
        low = np.lexsort((sv, vv, bv))  # by bucket, value, step: the first of each bucket
        high = np.lexsort((-sv, vv, bv))  # by bucket, value, -step: the last of each bucket
        at, first = np.unique(bv[low], return_index=True)
        last = np.append(first[1:], len(low)) - 1
        where = np.searchsorted(buckets, at).tolist()
        for i, lo_i, hi_i in zip(where, low[first].tolist(), high[last].tolist(), strict=True):
            lo_v[i], lo_s[i] = float(vv[lo_i]), int(sv[lo_i])
            hi_v[i], hi_s[i] = float(vv[hi_i]), int(sv[hi_i])
    if nan.any():
        bn, sn = bucket[nan], points.step[nan]
        first_nan = np.lexsort((sn, bn))  # by bucket, step
        at, first = np.unique(bn[first_nan], return_index=True)
        for i, step in zip(np.searchsorted(buckets, at).tolist(), sn[first_nan][first].tolist(), strict=True):
            nan_s[i] = step
    return list(
        zip(
            lo_v,
            lo_s,
            hi_v,
            hi_s,
            first_s.tolist(),
            last_s.tolist(),
            first_t.tolist(),
            last_t.tolist(),
            nan_s,
            strict=True,
        )
    )


@dataclass
class RankMean:
    """A metric's points as one line, sorted by step: with several ranks, per step their
    mean, population std and newest wall time (``std`` is None with one rank)."""

    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    std: np.ndarray | None
    ranks: int


def fold_ranks(series: Series) -> RankMean:
    """The mean across ranks per step, the one fold of charts, comparisons and diagnostics.

    The mean is IEEE arithmetic over every rank's value: a NaN on any rank makes it NaN
    and an infinity makes it that infinity (both infinities: NaN), so one diverged rank is
    never averaged away. ``std`` is the ranks' population std where all of them are
    finite and there are two or more, NaN elsewhere. One rank: the points as they are."""
    step = np.asarray(series.step, dtype=np.int64)
    value = np.asarray(series.value, dtype=np.float64)
    wall = np.asarray(series.wall_time, dtype=np.float64)
    ranks = len(set(series.rank))
    order = np.argsort(step, kind="stable")
    step, value, wall = step[order], value[order], wall[order]
    if ranks <= 1:
        return RankMean(step, value, wall, None, ranks)
    steps, start, count = np.unique(step, return_index=True, return_counts=True)
    at = np.repeat(np.arange(len(steps)), count)
    finite = np.isfinite(value)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = np.add.reduceat(value, start) / count
        deviation = np.where(finite, value - mean[at], 0.0)
        std = np.sqrt(np.add.reduceat(deviation * deviation, start) / count)
    std[(np.add.reduceat(finite, start) < count) | (count < 2)] = np.nan
    return RankMean(steps, mean, np.maximum.reduceat(wall, start), std, ranks)


def bucket_grid(lo: int, hi: int, buckets: int) -> tuple[int, int]:
    """(origin, width) of at most ``buckets + 1`` step buckets covering [lo, hi].

    Widths from half a block up are rounded up to a multiple of BLOCK_STEPS and aligned,
    so that stored chunks never straddle a bucket and their statistics stand for them
    (the chart may then get as few as half the points asked for). Narrower buckets
    (short ranges: a zoom) unnest the chunks they cross."""
    width = max(1, -(-(hi - lo + 1) // buckets))
    if width < BLOCK_STEPS // 2:
        return lo, width
    width = -(-width // BLOCK_STEPS) * BLOCK_STEPS
    return lo - lo % BLOCK_STEPS, width


def _count_in_range(metric_id: int, step_min: int | None, step_max: int | None) -> tuple[int, int, int]:
    """(points, lowest step, highest step) of a metric within an optional step range:
    chunks inside the range count whole, the few crossing its ends are decoded."""
    lo_bound = -(2**62) if step_min is None else step_min
    hi_bound = 2**62 if step_max is None else step_max
    inside = "step_min >= %s AND step_max <= %s"
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT COALESCE(SUM(CASE WHEN {inside} THEN count ELSE 0 END), 0), "
            "MIN(step_min), MAX(step_max) "
            "FROM experiments_pointchunk WHERE metric_id = %s AND step_max >= %s AND step_min <= %s",
            [lo_bound, hi_bound, metric_id, lo_bound, hi_bound],
        )
        total, lo, hi = cur.fetchone()
        if lo is None:
            return 0, 0, 0
        lo, hi = max(lo, lo_bound), min(hi, hi_bound)
        if step_min is None and step_max is None:
            return total, lo, hi
        cur.execute(
            "SELECT steps FROM experiments_pointchunk WHERE metric_id = %s AND step_max >= %s "
            f"AND step_min <= %s AND NOT ({inside})",
            [metric_id, lo_bound, hi_bound, lo_bound, hi_bound],
        )
        for (raw,) in cur.fetchall():
            steps = decode_array(raw, "q")
            total += int(((steps >= lo_bound) & (steps <= hi_bound)).sum())
    return total, lo, hi


# Chunks that lie inside one bucket stand for themselves through their statistics; only
# chunks that straddle a bucket boundary (or hold a NaN, or cross the range's ends) are
# unnested, and each of those is aggregated on its own (a few hundred points) before the
# final per-bucket aggregation, which so sees one row per chunk and bucket. MIN/MAX over
# ARRAY[value, step] give the extremes with their step without sorting points.
_BUCKETS_SQL = """
WITH c AS (
    SELECT id, step_min, step_max, value_min, value_max, step_at_min, step_at_max, wall_min, wall_max,
           (step_min - %(origin)s) / %(width)s AS b0,
           nan_count = 0 AND step_min >= %(lo)s AND step_max <= %(hi)s
               AND (step_min - %(origin)s) / %(width)s = (step_max - %(origin)s) / %(width)s AS whole
    FROM experiments_pointchunk
    WHERE metric_id = %(metric)s AND step_max >= %(lo)s AND step_min <= %(hi)s
), cand AS (
    SELECT b0 AS b, ARRAY[value_min, step_at_min::double precision] AS lo_a,
           ARRAY[value_max, -step_at_max::double precision] AS hi_a,
           step_min AS first_s, step_max AS last_s, wall_min AS first_t, wall_max AS last_t,
           NULL::bigint AS nan_s
    FROM c WHERE whole
    UNION ALL
    SELECT a.* FROM c JOIN experiments_pointchunk p ON p.id = c.id AND NOT c.whole
    CROSS JOIN LATERAL (
        SELECT (x.s - %(origin)s) / %(width)s AS b,
               MIN(ARRAY[x.v, x.s::double precision]) FILTER (WHERE x.v <> 'NaN'),
               MAX(ARRAY[x.v, -x.s::double precision]) FILTER (WHERE x.v <> 'NaN'),
               MIN(x.s), MAX(x.s), MIN(x.t), MAX(x.t), MIN(x.s) FILTER (WHERE x.v = 'NaN')
        FROM unnest(p.steps, p.vals, p.walls) AS x(s, v, t)
        WHERE x.s BETWEEN %(lo)s AND %(hi)s
        GROUP BY 1
    ) AS a
)
SELECT b, MIN(lo_a), MAX(hi_a), MIN(first_s), MAX(last_s), MIN(first_t), MAX(last_t), MIN(nan_s)
FROM cand
GROUP BY b
ORDER BY b
"""


def _buckets_sql(metric_id: int, lo: int, hi: int, origin: int, width: int) -> list[tuple]:
    params = {"metric": metric_id, "lo": lo, "hi": hi, "origin": origin, "width": width}
    with connection.cursor() as cur:
        cur.execute(_BUCKETS_SQL, params)
        out = []
        for _b, low, high, first_s, last_s, first_t, last_t, nan_s in cur.fetchall():
            lo_v, lo_s = (low[0], int(low[1])) if low else (None, None)
            hi_v, hi_s = (high[0], int(-high[1])) if high else (None, None)
            out.append((lo_v, lo_s, hi_v, hi_s, first_s, last_s, first_t, last_t, nan_s))
        return out


def _buckets_numpy(metric_id: int, lo: int, hi: int, origin: int, width: int) -> list[tuple]:
    """The same aggregation as ``_BUCKETS_SQL``, for SQLite (which cannot unnest)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, step_min, step_max, nan_count, value_min, value_max, step_at_min, step_at_max, "
            "wall_min, wall_max FROM experiments_pointchunk "
            "WHERE metric_id = %s AND step_max >= %s AND step_min <= %s",
            [metric_id, lo, hi],
        )
        stats = cur.fetchall()
    whole, split_ids = [], []
    for row in stats:
        _id, smin, smax, nans = row[:4]
        if nans == 0 and smin >= lo and smax <= hi and (smin - origin) // width == (smax - origin) // width:
            whole.append(row)
        else:
            split_ids.append(_id)
    cols: list[list] = [
        [] for _ in range(10)
    ]  # b, lo_v, lo_s, hi_v, hi_s, first_s, last_s, first_t, last_t, nan_s
    for _id, smin, smax, _n, vmin, vmax, smin_at, smax_at, tmin, tmax in whole:
        for col, v in zip(
            cols,
            ((smin - origin) // width, vmin, smin_at, vmax, smax_at, smin, smax, tmin, tmax, None),
            strict=True,
        ):
            col.append(v)
    for start in range(0, len(split_ids), 500):
        ids = split_ids[start : start + 500]
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT steps, vals, walls FROM experiments_pointchunk WHERE id IN ({_placeholders(ids)})",
                ids,
            )
            for steps_raw, values_raw, walls_raw in cur.fetchall():
                s, v, t = (
                    decode_array(steps_raw, "q"),
                    decode_array(values_raw, "d"),
                    decode_array(walls_raw, "d"),
                )
                inside = (s >= lo) & (s <= hi)
                s, v, t = s[inside], v[inside], t[inside]
                nan = np.isnan(v)
                b = (s - origin) // width
                vv = [None if n else x for n, x in zip(nan.tolist(), v.tolist(), strict=True)]
                ss = s.tolist()
                for col, values in zip(
                    cols,
                    (
                        b.tolist(),
                        vv,
                        ss,
                        vv,
                        ss,
                        ss,
                        ss,
                        t.tolist(),
                        t.tolist(),
                        [x if n else None for n, x in zip(nan.tolist(), ss, strict=True)],
                    ),
                    strict=True,
                ):
                    col.extend(values)
    by_bucket: dict[int, list] = {}
    for b, lo_v, lo_s, hi_v, hi_s, first_s, last_s, first_t, last_t, nan_s in zip(*cols, strict=True):
        cur_b = by_bucket.get(b)
        if cur_b is None:
            by_bucket[b] = [lo_v, lo_s, hi_v, hi_s, first_s, last_s, first_t, last_t, nan_s]
            continue
        if lo_v is not None and (cur_b[0] is None or (lo_v, lo_s) < (cur_b[0], cur_b[1])):
            cur_b[0], cur_b[1] = lo_v, lo_s
        if hi_v is not None and (cur_b[2] is None or (hi_v, -hi_s) > (cur_b[2], -cur_b[3])):
            cur_b[2], cur_b[3] = hi_v, hi_s
        cur_b[4], cur_b[5] = min(cur_b[4], first_s), max(cur_b[5], last_s)
        cur_b[6], cur_b[7] = min(cur_b[6], first_t), max(cur_b[7], last_t)
        if nan_s is not None and (cur_b[8] is None or nan_s < cur_b[8]):
            cur_b[8] = nan_s
    return [tuple(by_bucket[b]) for b in sorted(by_bucket)]


def _bucket_points(rows: list[tuple]) -> Points:
    """Per bucket: its min and max at their steps (in step order) and a NaN at the
    bucket's first NaN step. Wall times are interpolated from the buckets' first and
    last points, which is exact at the ends and monotone in between."""
    steps, values = [], []
    knots_s, knots_t = [], []
    for lo_v, lo_s, hi_v, hi_s, first_s, last_s, first_t, last_t, nan_s in rows:
        knots_s += [first_s, last_s]
        knots_t += [first_t, last_t]
        if lo_v is not None:
            pair = sorted([(lo_s, lo_v), (hi_s, hi_v)])
            steps.append(pair[0][0])
            values.append(pair[0][1])
            if pair[1] != pair[0]:
                steps.append(pair[1][0])
                values.append(pair[1][1])
        if nan_s is not None:
            steps.append(nan_s)
            values.append(np.nan)
    order = np.argsort(np.asarray(steps, dtype=np.int64), kind="stable")
    step = np.asarray(steps, dtype=np.int64)[order]
    value = np.asarray(values, dtype=np.float64)[order]
    ks = np.asarray(knots_s, dtype=np.float64)
    k_order = np.argsort(ks, kind="stable")
    wall = np.interp(step.astype(np.float64), ks[k_order], np.asarray(knots_t, dtype=np.float64)[k_order])
    zeros = np.zeros(len(step), dtype=np.int64)
    return Points(step, value, wall, zeros, zeros)
