"""The analysis over a synthetic sweep whose answer is known (tests/analysis/support.py):
the learning rate ranks first with most of the importance, correlation signs and
intervals are right, aggregates read the right column, and bad input is named."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from experiments.analysis import QueryError, analyse, param_table
from experiments.errors import ApiError
from experiments.models import Run
from tests import factories
from tests.analysis.support import synthetic_runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner):
    project = factories.project(owner, "sweeps")
    synthetic_runs(project)
    return project


def by_key(result: dict) -> dict[str, dict]:
    return {p["key"]: p for p in result["params"]}


@pytest.mark.parametrize("evaluator", ["mdi", "fanova"])
def test_the_learning_rate_ranks_first_with_most_of_the_importance(project, evaluator):
    result = analyse(Run.objects.filter(project=project), metric="val/acc", agg="last", importance=evaluator)
    ranked = [p for p in result["params"] if p["importance"] is not None]
    assert ranked[0]["key"] == "optim.lr"
    assert ranked[0]["importance"] > 0.8
    assert sum(p["importance"] for p in ranked) == pytest.approx(1.0)
    assert {p["key"] for p in ranked} == {"optim.lr", "optim.name", "dropout", "batch_size", "seed"}
    assert result["importance"]["runs"] == 60
    assert result["importance"]["evaluator"] == evaluator


def test_the_parameter_table_knows_numeric_log_and_categorical_keys(project):
    params = by_key(analyse(Run.objects.filter(project=project), metric="val/acc"))
    assert params["optim.lr"]["kind"] == "numeric" and params["optim.lr"]["log"] is True
    assert params["dropout"]["kind"] == "numeric" and params["dropout"]["log"] is False
    assert params["batch_size"]["integer"] is True and params["batch_size"]["log"] is False
    assert params["optim.name"]["kind"] == "categorical"
    assert params["optim.name"]["choices"] == ["adam", "rmsprop", "sgd"]
    assert params["epochs"]["note"] == "the same in every run" and params["epochs"]["importance"] is None


def test_correlations_have_the_right_sign_and_intervals(project):
    result = analyse(Run.objects.filter(project=project), metric="val/acc", agg="last")
    params = by_key(result)
    lr = params["optim.lr"]
    # acc rises with log10(lr) almost exactly: both r near +1, intervals tight above 0.
    assert lr["spearman"]["r"] > 0.99 and lr["pearson"]["r"] > 0.99
    assert 0.97 < lr["spearman"]["low"] < lr["spearman"]["r"] < lr["spearman"]["high"] <= 1
    assert 0.97 < lr["pearson"]["low"] < lr["pearson"]["r"] < lr["pearson"]["high"] <= 1
    assert lr["spearman"]["n"] == 60
    for key in ("dropout", "batch_size"):
        for kind in ("spearman", "pearson"):
            interval = params[key][kind]
            assert interval["low"] < 0 < interval["high"], (key, kind, interval)
            assert abs(interval["r"]) < 0.35
    assert params["optim.name"]["spearman"] is None  # categorical: no correlation
    # The loss falls as the learning rate rises.
    loss = by_key(analyse(Run.objects.filter(project=project), metric="val/loss", agg="last"))
    assert loss["optim.lr"]["spearman"]["r"] < -0.99
    assert loss["optim.lr"]["spearman"]["high"] < -0.97


def test_each_aggregate_reads_its_column_and_best_follows_the_direction(project):
    runs = Run.objects.filter(project=project)
    last = analyse(runs, metric="val/acc", agg="last")["rows"]["metric"]
    low = analyse(runs, metric="val/acc", agg="min")["rows"]["metric"]
    high = analyse(runs, metric="val/acc", agg="max")["rows"]["metric"]
    best = analyse(runs, metric="val/acc", agg="best")
    assert low == pytest.approx([v - 0.3 for v in last])
    assert high == pytest.approx([v + 0.01 for v in last])
    assert best["rows"]["metric"] == high and best["direction"] == "max"
    loss = analyse(runs, metric="val/loss", agg="best")
    assert loss["direction"] == "min" and loss["column"] == "min_value"
    flipped = analyse(runs, metric="val/loss", agg="best", directions={"val/loss": "max"})
    assert flipped["column"] == "max_value"


def test_a_filter_narrows_the_runs(project, owner):
    other = factories.project(owner, "elsewhere")
    synthetic_runs(other, n=5, seed=1)
    result = analyse(Run.objects.filter(project=project), q="config.optim.lr > 1e-3", metric="val/acc")
    assert 0 < result["runs"]["analysed"] == result["runs"]["matching"] < 60
    assert all(v > 1e-3 for v in result["rows"]["values"]["optim.lr"])
    grouped = analyse(Run.objects.filter(project=project), q='group = "nope"', metric="val/acc")
    assert grouped["runs"]["matching"] == 0 and grouped["params"] == []


def test_the_default_metric_is_a_main_one_and_runs_without_it_are_counted(project, owner):
    factories.run(owner, "no-metric", project="sweeps", config={"optim": {"lr": 0.1}})
    result = analyse(Run.objects.filter(project=project))
    assert result["metric"] == "val/acc"
    assert result["runs"]["without_metric"] == 1 and result["runs"]["analysed"] == 60
    chosen = analyse(Run.objects.filter(project=project), objectives=["val/loss"])
    assert chosen["metric"] == "val/loss"


def test_it_reads_a_bounded_number_of_queries(project):
    with CaptureQueriesContext(connection) as few:
        analyse(Run.objects.filter(project=project), metric="val/acc")
    synthetic_runs(project, n=60, seed=2, group="sweep-b")
    with CaptureQueriesContext(connection) as many:
        analyse(Run.objects.filter(project=project), metric="val/acc")
    assert len(many.captured_queries) == len(few.captured_queries) <= 4


def test_bad_input_is_named(project):
    runs = Run.objects.filter(project=project)
    with pytest.raises(QueryError) as error:
        analyse(runs, q="config.lr >> 3")
    assert error.value.field == "q" and error.value.column == 12
    with pytest.raises(ApiError) as error:
        analyse(runs, agg="median")
    assert error.value.field == "agg" and "last, min, max, best" in error.value.message
    with pytest.raises(ApiError) as error:
        analyse(runs, metric="val/f1")
    assert error.value.field == "metric" and "val/acc" in error.value.message
    with pytest.raises(ApiError) as error:
        analyse(runs, importance="shap")
    assert error.value.field == "importance"


def test_unranked_keys_say_why():
    configs = [{"name": f"run-{i}", "lr": 0.1 * (i + 1), "rare": i if i < 5 else None} for i in range(40)]
    params = {p.key: p for p in param_table(configs)}
    assert "too many to rank" in params["name"].note
    assert params["lr"].note == ""
    assert params["rare"].note == "set in only 5 of 40 runs"


def test_odd_values_are_read_as_categories_not_errors():
    configs = [
        {"big": 10**400 if i % 2 else 1, "x": float("nan") if i == 0 else i, "l": [i % 2]} for i in range(10)
    ]
    params = {p.key: p for p in param_table(configs)}
    assert params["big"].kind == "categorical" and params["big"].distinct == 2
    assert params["x"].kind == "categorical"  # NaN is not a number one can rank on
    assert params["l"].kind == "categorical" and params["l"].choices == ["[0]", "[1]"]
