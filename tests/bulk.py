"""Bulk writes of points given as rows, for code that has rows rather than batches
(benchmarks, data imports, tests). Ingestion uses ``experiments.chunks`` directly."""

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
