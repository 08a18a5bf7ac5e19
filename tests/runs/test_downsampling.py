"""Chart series of long metrics: bounded length, extremes and NaN kept, zoom ranges exact,
and the PostgreSQL (SQL) and SQLite (numpy) aggregations agreeing point for point."""

import math
import random

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
