"""Stored runs for comparison tests: runs started at ``T0`` whose points go through the
ingestion service, and groups of seeds."""

from datetime import UTC, datetime

from experiments.models import Run
from experiments.payloads import parse_batch
from experiments.services import batch_ingest
from tests import factories

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_run(owner, name: str, project: str = "digits", **fields) -> Run:
    return factories.run(owner, name, project=project, started_at=T0, **fields)


def log(run: Run, key: str, values: list[float], steps: list[int] | None = None, rank: int = 0) -> None:
    """Points of one metric, 10 seconds apart from the run's start."""
    steps = list(range(len(values))) if steps is None else steps
    start = run.started_at.timestamp()
    rows = [[s, start + 10 * s, {key: v}] for s, v in zip(steps, values, strict=True)]
    seq = Run.objects.get(pk=run.pk).points_count + rank * 1000
    batch_ingest(run=run, batch=parse_batch({"writer": f"w{rank}", "seq": seq, "rank": rank, "rows": rows}))


def make_group(owner, group: str, finals: list[float], project: str = "digits") -> list[Run]:
    """Seeds of one group: val/acc rises linearly to each run's final value over 5 steps."""
    runs = []
    for i, final in enumerate(finals):
        run = make_run(owner, f"{group}-{i}", project=project, group=group, config={"seed": i, "width": 64})
        log(run, "val/acc", [final * (s + 1) / 5 for s in range(5)])
        runs.append(run)
    return runs
