"""Bulk writes of points given as rows, for tests and benchmarks (``from tests.bulk import
points_insert``) that load data without going through ingestion, which uses
``experiments.chunks`` directly. Not production code: nothing in the server imports it."""

from collections import defaultdict
from collections.abc import Iterable

from experiments.chunks import chunks_insert, split_chunks


def points_insert(rows: Iterable[tuple[int, int, float, float, int]]) -> int:
    """Insert (metric_id, step, value, wall_time, rank) rows, in the caller's
    transaction; rows of one metric and rank keep their order. Returns the count.

    Metric summaries (``Metric.count``, last/min/max) are not updated here."""
    columns: dict[tuple[int, int], tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    for metric_id, step, value, wall_time, rank in rows:
        steps, values, walls = columns[metric_id, rank]
        steps.append(step)
        values.append(value)
        walls.append(wall_time)
    chunks = [c for (m, r), cols in columns.items() for c in split_chunks(m, r, *cols)]
    return chunks_insert(chunks)
