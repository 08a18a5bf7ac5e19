"""The run filter language (experiments.filters), compiled to SQL and run against the
real database (SQLite and PostgreSQL): every field kind, the operators, precedence, and
errors that name the column that is wrong."""

from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.filters import FilterError, compile_filter, filter_runs, parse
from experiments.models import Metric, Run
from tests import factories

pytestmark = pytest.mark.django_db


def metric(run: Run, key: str, last: float | None, lo: float | None = None, hi: float | None = None, **extra):
    lo = last if lo is None else lo
    hi = last if hi is None else hi
    return Metric.objects.create(
        run=run,
        key=key,
        count=extra.pop("count", 3),
        last_step=2,
        last_value=last,
        min_value=lo,
        max_value=hi,
        **extra,
    )


@pytest.fixture
def runs(owner):
    now = timezone.now()
    a = factories.run(
        owner,
        "resnet-a",
        config={"lr": 0.01, "optimizer": "adam", "optim": {"momentum": 0.9}, "flag": True, "seed": 1},
        tags=["baseline", "vision"],
        group="sweep-1",
        status="finished",
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=1),
        created_at=now - timedelta(days=10),
    )
    b = factories.run(
        owner,
        "resnet-b",
        config={"lr": 0.0001, "optimizer": "sgd", "optim.momentum": 0.5, "flag": False, "seed": "2"},
        tags=["vision"],
        group="sweep-1",
        status="failed",
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=20),
    )
    c = factories.run(
        owner,
        "vit-c",
        config={"lr": "0.1", "optimizer": "adam"},
        tags=[],
        status="running",
        started_at=now - timedelta(hours=5),
        notes="Tried the Warmup idea",
    )
    metric(a, "val/acc", 0.96, 0.5, 0.97)
    metric(a, "train/loss", 0.05, 0.04, 2.0)
    metric(b, "val/acc", 0.70, 0.4, 0.71)
    metric(b, "train/loss", None, 0.3, 2.0, nonfinite_count=2)
    metric(c, "val/acc", 0.90, 0.2, 0.955)
    other = factories.run(owner, "elsewhere", project="other", config={"lr": 0.01})
    return {"a": a, "b": b, "c": c, "other": other}


def names(query: str, directions=None) -> list[str]:
    return sorted(
        filter_runs(Run.objects.filter(project__name="digits"), query, directions).values_list(
            "name", flat=True
        )
    )


def test_config_numbers_strings_booleans_and_nested_paths(runs):
    assert names("config.lr > 1e-3") == ["resnet-a"]  # "0.1" is a string: never an order match
    assert names("config.lr <= 0.01") == ["resnet-a", "resnet-b"]
    assert names('config.optimizer = "adam"') == ["resnet-a", "vit-c"]
    assert names("config.optimizer = adam") == ["resnet-a", "vit-c"]
    assert names("config.optimizer != adam") == ["resnet-b"]
    assert names("config.optimizer ~ AD") == ["resnet-a", "vit-c"]
    assert names("config.lr = '0.1'") == ["vit-c"]
    assert names("config.optim.momentum > 0.6") == ["resnet-a"]  # nested dict
    assert names("config.optim.momentum < 0.6") == ["resnet-b"]  # a key holding a dot
    assert names("config.flag = true") == ["resnet-a"]
    assert names("config.flag = false") == ["resnet-b"]
    assert names("config.flag = null") == []
    assert names("config.seed = 1") == ["resnet-a"]
    assert names("config.seed = '2'") == ["resnet-b"]
    assert names("config.missing = 1") == []


def test_metric_summaries_and_aggregates(runs):
    assert names("val/acc.max >= 0.95") == ["resnet-a", "vit-c"]
    assert names("val/acc >= 0.95") == ["resnet-a"]  # last by default
    assert names("val/acc.last >= 0.95") == ["resnet-a"]
    assert names("val/acc.min < 0.45") == ["resnet-b", "vit-c"]
    assert names("train/loss.last < 0.1") == ["resnet-a"]
    assert names("train/loss = nan") == ["resnet-b"]
    assert names("train/loss.nonfinite > 0") == ["resnet-b"]
    assert names("val/acc.count = 3") == ["resnet-a", "resnet-b", "vit-c"]
    # best: the max of an accuracy, the min of a loss; a project's override wins
    assert names("val/acc.best > 0.96") == ["resnet-a"]
    assert names("train/loss.best < 0.1") == ["resnet-a"]
    assert names("train/loss.best >= 2", {"train/loss": "max"}) == ["resnet-a", "resnet-b"]
    assert names("`val/acc`.max > 0.96") == ["resnet-a"]


def test_attributes(runs):
    assert names("name ~ resnet") == ["resnet-a", "resnet-b"]
    assert names('name = "vit-c"') == ["vit-c"]
    assert names("group = sweep-1") == ["resnet-a", "resnet-b"]
    assert names("status = running") == ["vit-c"]
    assert names("status in (failed, crashed, running)") == ["resnet-b", "vit-c"]
    assert names("status not in (failed, running)") == ["resnet-a"]
    assert names("tag = baseline") == ["resnet-a"]
    assert names("tag = vision") == ["resnet-a", "resnet-b"]
    assert names("tag != baseline") == ["resnet-b", "vit-c"]
    assert names("tag ~ VIS") == ["resnet-a", "resnet-b"]
    assert names("notes ~ warmup") == ["vit-c"]
    assert names(f"id = {runs['b'].pk}") == ["resnet-b"]
    assert names("duration > 1h") == ["resnet-a", "vit-c"]  # vit-c still running: 5 h so far
    assert names("duration < 15m") == ["resnet-b"]
    assert names("duration >= 7200") == ["resnet-a", "vit-c"]
    day = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert names(f"created = {day}") == ["resnet-a"]
    assert names(f"created > {day}") == ["resnet-b", "vit-c"]


def test_boolean_logic_precedence_and_parentheses(runs):
    assert names("config.optimizer = adam and val/acc.max > 0.96 or status = failed") == [
        "resnet-a",
        "resnet-b",
    ]
    assert names("config.optimizer = adam and (val/acc.max > 0.96 or status = failed)") == ["resnet-a"]
    assert names("not status = running") == ["resnet-a", "resnet-b"]
    assert names("not (tag = vision or name ~ vit)") == []
    assert names("") == ["resnet-a", "resnet-b", "vit-c"]  # all the project's runs
    assert names("  ") == ["resnet-a", "resnet-b", "vit-c"]


@pytest.mark.parametrize(
    ("query", "column", "words"),
    [
        ("config.lr >", 12, "expected a value"),
        ("config.lr 0.1", 11, "expected an operator"),
        ("val/acc.max >= high", 16, "compares with a number"),
        ("(status = running", 18, "expected ')'"),
        ("status = sleeping", 10, "unknown status 'sleeping'"),
        ("name > 3", 6, "name compares with"),
        ("created > yesterday", 11, "a date such as"),
        ("duration > soon", 12, "a time such as"),
        ("config.lr ~ 1", 11, "is for text"),
        ("status = running extra", 18, "expected 'and', 'or'"),
        ("config. = 1", 1, "needs a key"),
        ("val/acc > 1 and", 16, "expected a field"),
        ("tag in vision", 8, "expected '(' after 'in'"),
        ("`val/acc`.median > 1", 1, "unknown metric aggregate"),
        ("name = )", 8, "expected a value"),
    ],
)
def test_errors_name_the_column(runs, query, column, words):
    with pytest.raises(FilterError) as caught:
        compile_filter(query)
    assert caught.value.column == column, caught.value
    assert words in caught.value.message
    assert f"at column {column}" in str(caught.value)


def test_parse_gives_the_tree_without_touching_the_database():
    tree = parse("a > 1 and (b < 2 or not c.max = 3)")
    assert type(tree).__name__ == "BoolOp" and tree.op == "and"
    assert tree.nodes[0].field.name == "a" and tree.nodes[0].field.agg == "last"
    assert tree.nodes[1].nodes[1].node.field.agg == "max"


def test_metric_filters_are_one_sql_query_whatever_the_number_of_runs(runs, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(names("val/acc.max > 0.5 and config.lr > 0 and tag = vision and duration > 1s")) == 2


def test_limits_keep_a_hostile_query_a_4xx():
    with pytest.raises(FilterError, match="nested parentheses"):
        parse("(" * 60 + "a > 1" + ")" * 60)
    with pytest.raises(FilterError, match="NUL") as caught:
        parse("name = 'a\x00b'")
    assert caught.value.column == 10
    with pytest.raises(FilterError, match="the limit is 10000"):
        parse("a > 1 and " * 1200 + "a > 1")
    tree = parse("not " * 1001 + "a > 1")  # no recursion per "not"
    assert type(tree).__name__ == "Not"
