"""What keeps the runs table fast at 100,000 runs (issue #16, benchmarks/runs_scale.py):
the indexes the migration makes, PostgreSQL connections without JIT, group-by statistics
over more metrics than one query joins, the API ordering by any metric summary in the
table's order, and the one visibility check of a project's runs."""

import json
import statistics

import pytest
from django.db import connection

from experiments.grouping import KEYS_PER_QUERY, runs_groups
from experiments.models import Metric, Project, Run
from experiments.runsearch import runs_page
from experiments.selectors import runs_of_project
from experiments.tables import _rank_config_keys
from tests.processes import run_manage

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's own indexes and settings"
)
URL_OPTIONS = "postgres://t@db:5432/t?options=-c%20work_mem%3D64MB"


def _index_definitions(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


@postgres_only
def test_the_metric_summary_index_answers_without_the_table():
    indexes = _index_definitions("experiments_metric")
    assert indexes["metric_key_summary"].endswith(
        "USING btree (key, run_id) INCLUDE (count, last_value, min_value, max_value)"
    )
    # (run_id, key) serves lookups by run: the foreign key has no index of its own.
    assert sorted(indexes) == ["experiments_metric_pkey", "metric_key_summary", "metric_key_unique_per_run"]
    runs = _index_definitions("experiments_run")
    assert runs["run_project_status"].endswith("(project_id, status) WHERE (archived_at IS NULL)")


@postgres_only
def test_postgresql_connections_run_without_jit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


@pytest.mark.parametrize(
    ("env", "options"),
    [
        ({}, {"options": "-c jit=off"}),
        ({"DB_JIT": "1"}, {}),
        ({"DATABASE_URL": URL_OPTIONS}, {"options": "-c work_mem=64MB"}),
    ],
)
def test_db_jit_switch_and_url_options(tmp_path, env, options):
    env = {"DATABASE_URL": "postgres://t@db:5432/t", "SECRET_KEY": "x" * 50, **env}
    code = "import json; from django.conf import settings as s; "
    code += "print(json.dumps(s.DATABASES['default']['OPTIONS']))"
    result = run_manage(tmp_path, env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == options


def test_group_statistics_over_more_metrics_than_one_query_joins(owner):
    project = Project.objects.create(owner=owner, name="wide")
    keys = [f"val/m{i}" for i in range(KEYS_PER_QUERY * 2 + 1)]
    values: dict[tuple[str, str], list[float]] = {}
    for i in range(9):
        optimizer = ("adam", "sgd", "lion")[i % 3]
        run = Run.objects.create(project=project, name=f"r{i}", config={"optimizer": optimizer})
        for j, key in enumerate(keys):
            if (i + j) % 4 == 0:  # not every run logs every metric
                continue
            value = i * 0.1 + j
            Metric.objects.create(run=run, key=key, count=1, last_step=0, last_value=value)
            values.setdefault((optimizer, key), []).append(value)

    groups = runs_groups(Run.objects.filter(project=project), "config.optimizer", keys)

    assert [(g.value, g.count) for g in groups] == [("adam", 3), ("lion", 3), ("sgd", 3)]
    for group in groups:
        assert sorted(group.metrics) == sorted(k for k in keys if (group.value, k) in values)
        for key, stats in group.metrics.items():
            expected = values[(group.value, key)]
            assert stats.n == len(expected)
            assert stats.mean == pytest.approx(statistics.fmean(expected))
            assert (stats.min, stats.max) == (pytest.approx(min(expected)), pytest.approx(max(expected)))
            if len(expected) > 1:
                assert stats.std == pytest.approx(statistics.stdev(expected))
            else:
                assert stats.std is None


def test_the_api_orders_by_any_summary_missing_runs_last(owner):
    project = Project.objects.create(owner=owner, name="ordered")
    rows = {"a": (0.5, 0.1, 3), "b": (0.9, 0.3, 7), "c": None, "d": (0.7, 0.05, 5)}
    for name, summary in rows.items():
        run = Run.objects.create(project=project, name=name)
        if summary is not None:
            last, low, count = summary
            Metric.objects.create(
                run=run, key="train/loss", count=count, last_step=count - 1, last_value=last, min_value=low
            )
    runs = Run.objects.filter(project=project)

    def names(order: str) -> list[str]:
        return [r.name for r in runs_page(project, runs, order=order, limit=None, offset=0).runs]

    assert names("train/loss.min") == ["d", "a", "b", "c"]
    assert names("-train/loss.min") == ["b", "a", "d", "c"]
    assert names("-train/loss.count") == ["b", "d", "a", "c"]
    assert names("train/loss.last") == ["a", "d", "b", "c"]
    assert names("train/loss.best") == names("train/loss.min")  # a loss is minimised


def test_a_projects_runs_are_read_once_its_visibility_is_known(owner, django_user_model):
    project = Project.objects.create(owner=owner, name="mine")
    Run.objects.create(project=project, name="r")
    stranger = django_user_model.objects.create_user("stranger")

    assert [r.name for r in runs_of_project(owner, project)] == ["r"]
    assert list(runs_of_project(stranger, project)) == []
    assert list(runs_of_project(None, project)) == []
    query = str(runs_of_project(owner, project).query)
    # No membership subquery: PostgreSQL can then push a page's LIMIT into its sort.
    assert "teams_projectmember" not in query and "teams_teammembership" not in query


def test_default_config_columns_rank_by_runs_then_by_whether_they_vary():
    configs = [
        {"lr": 0.1, "seed": 1, "opt": "adam", "flag": True, "nan": float("nan"), "grid": [1, 2]},
        {"lr": 0.01, "seed": 1, "opt": "adam", "flag": 1, "nan": float("nan"), "grid": [1, 2]},
        {"lr": 0.1, "seed": 1.0, "opt": "sgd", "nan": float("nan"), "grid": [1, 3]},
        {"lr": 0.1, "opt": "adam"},
    ]
    # lr, opt: in 4 runs, varied; nan in 3, constant (NaN equals NaN); seed in 3, varied
    # (1 and 1.0 are different values in a config); grid in 3, varied; flag in 2: True vs 1.
    assert _rank_config_keys(configs) == ["lr", "opt", "grid", "seed", "nan", "flag"]
