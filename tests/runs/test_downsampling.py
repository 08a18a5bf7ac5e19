"""Chart series of long metrics: bounded length, extremes and NaN kept, zoom ranges exact,
and the PostgreSQL (SQL) and SQLite (numpy) aggregations agreeing point for point."""

import math
import random

import numpy as np
import pytest
from django.db import connection, transaction

from experiments import queries
from experiments.models import Metric
from tests import factories
from tests.bulk import points_insert

pytestmark = pytest.mark.django_db


@pytest.fixture
def metric(owner) -> Metric:
    run = factories.run(owner, "r", project="p")
    return Metric.objects.create(run=run, key="train/loss")


def load(metric: Metric, values: dict[int, float], batch: int = 1000) -> None:
    """Insert in batches of ``batch`` steps (as the SDK would), so chunks vary in width."""
    steps = sorted(values)
    for start in range(0, len(steps), batch):
        with transaction.atomic():
            points_insert((metric.pk, s, values[s], 1.7e9 + s, 0) for s in steps[start : start + batch])


def curve(n: int) -> dict[int, float]:
    return {s: 1.0 / (1 + s * 1e-3) for s in range(n)}


def test_a_short_series_comes_back_exactly(metric):
    load(metric, {s: float(s) for s in range(50)})
    series = queries.metric_series(metric, max_points=100)
    assert not series.downsampled
    assert series.step == list(range(50)) and series.value == [float(s) for s in range(50)]


def test_a_long_series_is_bounded_and_keeps_a_spike_and_a_nan(metric):
    values = curve(200_000)
    values[123_457] = 1e6
    values[77_777] = math.nan
    values[150_001] = -math.inf
    load(metric, values, batch=5000)
    series = queries.metric_series(metric, max_points=300)
    assert series.downsampled and series.total == 200_000
    assert len(series.step) <= 300
    assert (123_457, 1e6) in zip(series.step, series.value)
    nan_steps = [s for s, v in zip(series.step, series.value) if v != v]
    assert nan_steps == [77_777]
    assert (150_001, -math.inf) in zip(series.step, series.value)
    assert series.step == sorted(series.step)
    assert series.step[0] == 0 and series.value[0] == 1.0  # the first point is an extreme of its bucket
    # Wall times follow the steps they belong to (interpolated within a bucket).
    assert all(abs(w - (1.7e9 + s)) < 1000 for s, w in zip(series.step, series.wall_time))


def test_zooming_returns_the_range_at_full_resolution(metric):
    load(metric, curve(100_000), batch=3000)
    series = queries.metric_series(metric, max_points=1500, step_min=50_000, step_max=50_999)
    assert not series.downsampled
    assert series.step == list(range(50_000, 51_000))
    assert series.value == [1.0 / (1 + s * 1e-3) for s in range(50_000, 51_000)]
    wide = queries.metric_series(metric, max_points=1500, step_min=10_000, step_max=59_999)
    assert wide.downsampled and wide.total == 50_000 and len(wide.step) <= 1500
    assert min(wide.step) == 10_000 and max(wide.step) == 59_999


def test_chunks_never_cross_a_step_block_so_wide_buckets_hold_whole_chunks(metric):
    from experiments.chunks import BLOCK_STEPS
    from experiments.models import PointChunk

    load(metric, {s: float(s) for s in [*range(0, 1000), 700, 3, 5000, 4999]}, batch=10_000)
    for smin, smax in PointChunk.objects.values_list("step_min", "step_max"):
        assert smin // BLOCK_STEPS == smax // BLOCK_STEPS
    origin, width = queries.bucket_grid(0, 1_000_000, 500)
    assert origin % BLOCK_STEPS == 0 and width % BLOCK_STEPS == 0 and 1_000_001 / width <= 501


def test_a_relogged_step_supersedes_in_exact_reads(metric):
    load(metric, {s: 1.0 for s in range(10)})
    load(metric, {5: 9.0})
    series = queries.metric_series(metric, max_points=100)
    assert series.step == list(range(10)) and series.value[5] == 9.0
    assert queries.metric_history(metric).value == [1.0] * 5 + [9.0] + [1.0] * 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="compares PostgreSQL's SQL with the numpy path")
def test_sql_and_numpy_aggregations_agree(metric):
    rng = random.Random(7)
    values = {s: rng.gauss(0, 1) for s in range(0, 60_000, 3)}
    for s in rng.sample(sorted(values), 20):
        values[s] = math.nan
    load(metric, values, batch=777)
    for lo, hi, nb in [(0, 59_997, 100), (1234, 45_678, 37), (30_000, 30_300, 500), (5, 59_000, 2000)]:
        origin, width = queries.bucket_grid(lo, hi, nb)
        sql = queries._buckets_sql(metric.pk, lo, hi, origin, width)
        py = queries._buckets_numpy(metric.pk, lo, hi, origin, width)
        assert len(sql) == len(py)
        for a, b in zip(sql, py):
            assert a[1:6:2] == b[1:6:2]  # steps at min / max / first
            assert a[0] == pytest.approx(b[0]) and a[2] == pytest.approx(b[2])
            assert a[8] == b[8]  # first NaN step


def comparable(series: queries.Series) -> tuple:
    """A series as plain values, NaN made comparable."""
    nan = "NaN"
    return (
        series.step,
        [nan if v != v else v for v in series.value],
        series.wall_time,
        series.rank,
        series.downsampled,
        series.total,
    )


def test_many_series_at_once_answer_what_each_would(owner, django_assert_max_num_queries):
    """A grouped chart reads its members with ``metric_series_many``: the same points as
    ``metric_series`` one by one, for every kind of series, in a few queries."""
    rng = random.Random(3)
    run = factories.run(owner, "many", project="p")
    made: dict[str, Metric] = {}

    def metric(name: str, values: dict[int, float], batch: int = 1000, rank: int = 0) -> None:
        if name not in made:
            made[name] = Metric.objects.create(run=run, key=name, count=1)
        steps = sorted(values)
        for start in range(0, len(steps), batch):
            with transaction.atomic():
                points_insert(
                    (made[name].pk, s, values[s], 1.7e9 + s + rank / 10, rank)
                    for s in steps[start : start + batch]
                )

    made["empty"] = Metric.objects.create(run=run, key="empty")
    metric("short", {s: float(s % 7) for s in range(50)})
    medium = {s: rng.gauss(0, 1) for s in range(2000)}
    medium |= {17: math.nan, 900: math.nan, 901: math.nan, 1200: math.inf, 1500: -math.inf, 1999: 50.0}
    medium |= {s: 0.25 for s in range(300, 310)}  # ties: the first step is the extreme's
    metric("medium", medium, batch=333)
    metric("all-nan-bucket", {s: (math.nan if 100 <= s < 160 else 1.0 / (s + 1)) for s in range(3000)})
    for rank in (0, 1):  # two ranks of the same steps
        metric("ranks", {s: rng.random() for s in range(1500)}, rank=rank)
    metric("resumed", {s: 1.0 / (s + 1) for s in range(1000)})
    metric("resumed", {s: 2.0 / (s + 1) for s in range(600, 1700)})  # logged again from 600
    metric("sparse", {s * 1000: float(s) for s in range(300)})
    metric("long", {s: math.sin(s / 500) for s in range(40_000)}, batch=5000)  # wide buckets
    metrics = list(made.values())
    for max_points in (400, 1200):
        one_by_one = {m.pk: comparable(queries.metric_series(m, max_points)) for m in metrics}
        with django_assert_max_num_queries(2 + 2):  # statistics, one read; "long" alone on its own
            many = queries.metric_series_many(metrics, max_points)
        assert {pk: comparable(s) for pk, s in many.items()} == one_by_one
    downsampled = {m.key for m in metrics if many[m.pk].downsampled}
    assert downsampled == {"medium", "all-nan-bucket", "ranks", "resumed", "long"}


def test_chunks_read_back_exactly_as_written(owner):
    """Every value survives the read (binary COPY on PostgreSQL, bytes on SQLite): NaN,
    both infinities, -0.0, the extremes of float64 and int64 steps, several ranks."""
    from experiments.chunks import chunk_rows, chunks_read

    run = factories.run(owner, "exact", project="p")
    metric = Metric.objects.create(run=run, key="x")
    other = Metric.objects.create(run=run, key="y")
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3]
    steps = [-(2**62), -1, 0, 1, 255, 256, 2**62]
    with transaction.atomic():
        points_insert((metric.pk, s, v, 1.7e9 + i / 7, 0) for i, (s, v) in enumerate(zip(steps, values)))
        points_insert((metric.pk, s, -v, 1.6e9, 3) for s, v in zip(steps, values))
        points_insert((other.pk, s, 2.0, 1.5e9, 0) for s in range(600))
    points = chunks_read(metric.pk)
    got = sorted(
        zip(points.rank.tolist(), points.step.tolist(), points.value.tolist(), points.wall_time.tolist())
    )
    want = sorted(
        [(0, s, v, 1.7e9 + i / 7) for i, (s, v) in enumerate(zip(steps, values))]
        + [(3, s, -v, 1.6e9) for s, v in zip(steps, values)]
    )
    assert [(r, s, repr(v), w) for r, s, v, w in got] == [(r, s, repr(v), w) for r, s, v, w in want]
    rows = chunk_rows("metric_id IN (%s, %s)", [metric.pk, other.pk])
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # by metric, then insertion
    assert sum(len(r[3]) for r in rows if r[0] == other.pk) == 600
    assert all(r[3].dtype == np.int64 and r[4].dtype == np.float64 for r in rows)
