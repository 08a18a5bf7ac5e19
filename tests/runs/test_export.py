"""Exporting the runs table (issue #16): every run passing the filter, not one page, in the
table's order, with its columns, as CSV and as Parquet; a wrong query names its column,
and another user's project is not found."""

import csv
import io
import math

import pyarrow.parquet as pq
import pytest

from experiments.models import Metric, Project, Run
from experiments.tables import TABLE_PAGE
from tests import factories

pytestmark = pytest.mark.django_db

COLUMNS = {"cols": "1", "c": ["lr", "opt"], "m": ["val/acc", "train/loss"]}


def make_runs(owner, n: int) -> Project:
    project = Project.objects.create(owner=owner, name="grid")
    for i in range(n):
        run = Run.objects.create(
            project=project,
            name=f"r{i:03d}",
            config={"lr": 10.0 ** -(i % 4), "opt": "adam" if i % 2 else "sgd", "seed": i},
            status="finished",
            tags=["export"] if i % 3 == 0 else [],
        )
        acc = i / (n + 1)
        Metric.objects.create(
            run=run, key="val/acc", count=2, last_step=1, last_value=acc - 0.01, max_value=acc, max_step=0
        )
        loss = math.nan if i == 7 else 1.0 - acc
        Metric.objects.create(
            run=run,
            key="train/loss",
            count=3,
            last_step=2,
            last_value=None if i == 7 else loss,  # NaN is stored as NULL with points counted
            min_value=0.5 if i == 7 else loss,
            min_step=2,
        )
    return project


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_csv_holds_every_matching_run_in_the_tables_order_with_its_columns(client, owner):
    n = TABLE_PAGE + 50  # more than one page of the table
    make_runs(owner, n)
    client.force_login(owner)
    response = client.get(
        "/projects/grid/runs.csv", {"q": "config.opt = sgd", "sort": "-best:val/acc", **COLUMNS}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="grid-runs.csv"'
    rows = read_csv(response)
    assert len(rows) == n // 2  # every sgd run, across pages
    assert list(rows[0]) == [
        "id",
        "name",
        "status",
        "group",
        "tags",
        "created_at",
        "started_at",
        "finished_at",
        "duration_s",
        "config.lr",
        "config.opt",
        "val/acc.last",
        "val/acc.best",
        "train/loss.last",
        "train/loss.best",
    ]
    best = [float(r["val/acc.best"]) for r in rows]
    assert best == sorted(best, reverse=True)
    top = rows[0]
    i = n - 1 if (n - 1) % 2 == 0 else n - 2  # the sgd run with the highest accuracy
    assert top["name"] == f"r{i:03d}" and top["config.opt"] == "sgd"
    assert float(top["config.lr"]) == 10.0 ** -(i % 4)
    assert float(top["val/acc.best"]) == pytest.approx(i / (n + 1))
    assert float(top["val/acc.last"]) == pytest.approx(i / (n + 1) - 0.01)
    assert {r["tags"] for r in rows} == {"", "export"}
    assert "seed" not in ",".join(rows[0])  # only the chosen config columns


def test_nan_and_missing_values_are_told_apart(client, owner):
    make_runs(owner, 10)
    client.force_login(owner)
    rows = {r["name"]: r for r in read_csv(client.get("/projects/grid/runs.csv", COLUMNS))}
    assert rows["r007"]["train/loss.last"] == "nan"  # the newest point was NaN
    assert float(rows["r007"]["train/loss.best"]) == 0.5
    client.get("/projects/grid/runs.csv")  # default columns work too
    other = Run.objects.create(project=Project.objects.get(name="grid"), name="no-metrics")
    rows = {r["name"]: r for r in read_csv(client.get("/projects/grid/runs.csv", COLUMNS))}
    assert rows[other.name]["val/acc.best"] == "" and rows[other.name]["config.lr"] == ""


def test_parquet_reads_back_with_types(client, owner):
    make_runs(owner, 30)
    client.force_login(owner)
    response = client.get(
        "/projects/grid/runs.parquet", {"q": "val/acc.max >= 0.5", "sort": "name", **COLUMNS}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="grid-runs.parquet"'
    table = pq.read_table(io.BytesIO(response.content))
    data = table.to_pydict()
    expected = [f"r{i:03d}" for i in range(30) if i / 31 >= 0.5]
    assert data["name"] == expected
    assert str(table.schema.field("config.lr").type) == "double"
    assert str(table.schema.field("val/acc.best").type) == "double"
    assert data["val/acc.best"][0] == pytest.approx(16 / 31)


def test_a_wrong_query_is_refused_with_its_column(client, owner):
    make_runs(owner, 3)
    client.force_login(owner)
    response = client.get("/projects/grid/runs.csv", {"q": "config.lr > fast"})
    assert response.status_code == 400
    assert response.content.decode() == "q: config.lr > needs a number, got 'fast' at column 11"


def test_another_users_project_is_not_found(client, owner, django_user_model):
    make_runs(owner, 3)
    stranger = django_user_model.objects.create_user("stranger", password="pw-stranger-1")
    client.force_login(stranger)
    assert client.get("/projects/grid/runs.csv").status_code == 404
    assert client.get("/projects/grid/runs.parquet").status_code == 404
    client.logout()
    assert client.get("/projects/grid/runs.csv").status_code == 302  # to sign in


def test_the_table_page_links_to_the_export_with_its_state(client, owner):
    make_runs(owner, 3)
    factories.project(owner, name="empty")
    client.force_login(owner)
    html = client.get(
        "/projects/grid/", {"q": "config.lr > 0.01", "sort": "name", "offset": "0"}
    ).content.decode()
    assert 'href="/projects/grid/runs.csv?q=config.lr+%3E+0.01&amp;sort=name"' in html
    assert 'href="/projects/grid/runs.parquet?q=config.lr+%3E+0.01&amp;sort=name"' in html
