"""The runs table as a file: every run that passes the page's filter, in the page's
order, with the page's columns (CSV, or Parquet when pyarrow is installed).

Rows are read with one ordered query streamed in chunks (a server-side cursor on
PostgreSQL), and the chosen metrics per chunk, so 100,000 runs never sit in memory as
model instances and a CSV starts downloading at once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from experiments.errors import ApiError
from experiments.models import Run
from experiments.table_order import order_runs
from experiments.tables import RunsTable, flatten, metric_cells

CHUNK = 2_000
RUN_FIELDS = (
    "id",
    "name",
    "status",
    "group",
    "tags",
    "created_at",
    "started_at",
    "finished_at",
    "duration_s",
)
_COLUMNS = ("id", "name", "status", "group", "tags", "config", "created_at", "started_at", "finished_at")


def header(table: RunsTable) -> list[str]:
    """Column names: the run's fields, ``config.<key>``, then ``<metric>.<summary>`` for
    each metric column and each summary the table shows (``last`` and ``best`` unless
    chosen otherwise; best by the metric's direction)."""
    metrics = [f"{key}.{summary}" for key in table.metric_keys for summary in table.summaries]
    return [*RUN_FIELDS, *(f"config.{key}" for key in table.config_keys), *metrics]


def _cell(value: Any) -> Any:
    """A config value as a file holds it: numbers, booleans and text as they are;
    lists and dicts as their JSON-ish text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def records(table: RunsTable, runs: QuerySet[Run]) -> Iterator[list[Any]]:
    """One list per run of ``runs`` (already the user's view, filtered), in ``table.sort``
    order, matching ``header(table)``."""
    ordered = order_runs(runs.select_related(None), table.sort, table.directions)
    ordered = ordered.only(*_COLUMNS, "heartbeat_at")
    chunk: list[Run] = []
    for run in ordered.iterator(chunk_size=CHUNK):
        chunk.append(run)
        if len(chunk) == CHUNK:
            yield from _rows(table, chunk)
            chunk = []
    if chunk:
        yield from _rows(table, chunk)


def _rows(table: RunsTable, runs: list[Run]) -> Iterator[list[Any]]:
    cells = metric_cells([run.pk for run in runs], table.metric_keys, table.directions)
    for run in runs:
        config = flatten(run.config)
        metrics = cells.get(run.pk, {})
        row: list[Any] = [
            run.pk,
            run.name,
            run.status,
            run.group,
            ",".join(run.tags or []),
            run.created_at.isoformat() if run.created_at else None,
            run.started_at.isoformat() if run.started_at else None,
            run.finished_at.isoformat() if run.finished_at else None,
            round(run.duration_seconds, 3) if run.started_at else None,
        ]
        row.extend(_cell(config.get(key)) for key in table.config_keys)
        for key in table.metric_keys:
            cell = metrics.get(key)
            row.extend(getattr(cell, summary) if cell else None for summary in table.summaries)
        yield row


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


def csv_lines(table: RunsTable, runs: QuerySet[Run]) -> Iterator[str]:
    """The CSV file, a line at a time (NaN written as ``nan``, missing as empty)."""
    writer = csv.writer(_Line())
    yield writer.writerow(header(table))
    for row in records(table, runs):
        yield writer.writerow(["nan" if isinstance(v, float) and math.isnan(v) else v for v in row])


def parquet_bytes(table: RunsTable, runs: QuerySet[Run]) -> bytes:
    """The Parquet file. Config columns whose values mix types are written as text.
    Raises ApiError when pyarrow is not installed on the server."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ApiError(
            "Parquet export needs pyarrow on the server (pip install pyarrow); CSV works without it",
            "format",
            status=400,
        ) from None
    names = header(table)
    columns: list[list[Any]] = [[] for _ in names]
    for row in records(table, runs):
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    arrays = []
    for values in columns:
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in one config key
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), sink)
    return sink.getvalue()
