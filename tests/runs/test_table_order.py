"""The runs table orders and pages in SQL (experiments.table_order) by the same rule the
live page places rows by in Python (tables.row_sort_value): for every sortable column,
both directions, on SQLite and PostgreSQL, the SQL order equals the Python one."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Metric, Project, Run
from experiments.tables import RunRow, _sorted_rows, flatten, metric_cells, runs_table

pytestmark = pytest.mark.django_db

CONFIGS = [
    {"lr": 0.1, "opt": "Adam", "nested": {"depth": 3}, "flag": True},
    {"lr": 0.001, "opt": "sgd", "nested": {"depth": 1}, "flag": False},
    {"lr": "high", "opt": "adamw", "nested.depth": 2},
    {"lr": 5, "opt": ""},
    {},
    {"lr": 0.001, "opt": "SGD", "flag": True},
]
# (last, min, max, count) per run for val/acc and train/loss; None: not logged
ACC = [
    (0.9, 0.1, 0.95, 3),
    (None, 0.2, 0.8, 4),
    (0.5, 0.5, 0.5, 1),
    None,
    (0.7, 0.3, 0.99, 2),
    (0.9, 0.1, 0.9, 5),
]
LOSS = [
    (0.2, 0.1, 2.0, 3),
    (0.3, 0.05, 1.0, 3),
    None,
    (0.1, 0.1, 0.1, 1),
    (None, None, None, 2),
    (0.4, 0.2, 0.9, 3),
]
GROUPS = ["b", "", "a", "B", "c", ""]
STATUSES = ["finished", "failed", "running", "finished", "crashed", "finished"]


@pytest.fixture
def project(owner) -> Project:
    project = Project.objects.create(owner=owner, name="order")
    now = timezone.now()
    for i, config in enumerate(CONFIGS):
        run = Run.objects.create(
            project=project,
            name=["zeta", "Alpha", "beta", "alpha2", "Gamma", "delta"][i],
            group=GROUPS[i],
            status=STATUSES[i],
            config=config,
            created_at=now - timedelta(minutes=10 * i),
            started_at=now - timedelta(hours=i + 1),
            finished_at=None
            if STATUSES[i] == "running"
            else now - timedelta(hours=i + 1) + timedelta(minutes=7 * (i % 4) + 1),
            heartbeat_at=now,
        )
        for key, spec in (("val/acc", ACC[i]), ("train/loss", LOSS[i])):
            if spec is None:
                continue
            last, lo, hi, count = spec
            Metric.objects.create(
                run=run,
                key=key,
                count=count,
                last_step=count - 1,
                last_value=last,
                min_value=lo,
                max_value=hi,
            )
    return project


SORTS = [
    "created",
    "name",
    "group",
    "status",
    "duration",
    "config:lr",
    "config:opt",
    "config:nested.depth",
    "config:flag",
    "last:val/acc",
    "best:val/acc",
    "last:train/loss",
    "best:train/loss",
]


@pytest.mark.parametrize("sort", [*SORTS, *(f"-{s}" for s in SORTS)])
def test_sql_order_is_the_python_order(project, sort):
    runs = Run.objects.filter(project=project)
    keys = ["val/acc", "train/loss"]
    table = runs_table(project=project, runs=runs, metric_keys=keys, sort=sort)
    cells = metric_cells(runs, keys, table.directions)
    python_rows = [
        RunRow(run=r, config=flatten(r.config), metrics=cells.get(r.pk, {})) for r in runs.order_by("-pk")
    ]
    expected, _ = _sorted_rows(python_rows, sort)
    from experiments.tables import row_sort_value

    sql_keys = [row_sort_value(row, sort) for row in table.rows]
    python_keys = [row_sort_value(row, sort) for row in expected]
    assert _comparable(sql_keys) == _comparable(python_keys), sort


def _comparable(keys: list[tuple]) -> list[tuple]:
    """Sort values with NaN made equal to itself, rounded (durations are read at two times)."""
    out = []
    for rank, number, text in keys:
        number = (
            "nan"
            if isinstance(number, float) and math.isnan(number)
            else round(number, -1 if number > 1e6 else 3)
        )
        out.append((rank, number, text))
    return out


def test_a_page_holds_its_slice_and_the_counts_hold_every_run(project):
    runs = Run.objects.filter(project=project)
    table = runs_table(project=project, runs=runs, sort="name", limit=4)
    assert [r.run.name for r in table.rows] == ["Alpha", "alpha2", "beta", "delta"]
    assert table.total == 6 and table.status_counts == {
        "running": 1,
        "finished": 3,
        "failed": 1,
        "crashed": 1,
    }
    second = runs_table(project=project, runs=runs, sort="name", limit=4, offset=4)
    assert [r.run.name for r in second.rows] == ["Gamma", "zeta"]
