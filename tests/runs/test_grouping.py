"""Group-by on the runs table (experiments.grouping): per group the run count and, per
metric, mean ± sample std, min and max of last values, in SQL, on SQLite and PostgreSQL;
and the page that shows them with links to each group's runs."""

import statistics

import pytest

from experiments.filters import FilterError
from experiments.grouping import runs_groups
from experiments.models import Metric, Project, Run

pytestmark = pytest.mark.django_db

ROWS = [  # optimizer, batch, group, val/acc last
    ("adam", 32, "a", 0.90),
    ("adam", 64, "a", 0.80),
    ("adam", 32, "b", 0.70),
    ("sgd", 32, "b", 0.50),
    ("sgd", 64, "b", 0.60),
    (None, 32, "", None),
]


@pytest.fixture
def project(owner) -> Project:
    project = Project.objects.create(owner=owner, name="groups")
    for i, (opt, batch, group, acc) in enumerate(ROWS):
        config = {"batch": batch, "opt": {"name": opt}} if opt else {"batch": batch}
        run = Run.objects.create(project=project, name=f"r{i}", group=group, config=config, status="finished")
        if acc is not None:
            Metric.objects.create(run=run, key="val/acc", count=1, last_step=0, last_value=acc)
    return project


def test_groups_by_a_nested_config_key(project):
    groups = runs_groups(Run.objects.filter(project=project), "config.opt.name", ["val/acc"])
    by_value = {g.value: g for g in groups}
    assert [(g.value, g.count) for g in groups] == [("adam", 3), ("sgd", 2), (None, 1)]
    adam = by_value["adam"].metrics["val/acc"]
    assert adam.n == 3 and adam.mean == pytest.approx(0.8)
    assert adam.std == pytest.approx(statistics.stdev([0.9, 0.8, 0.7]))
    assert (adam.min, adam.max) == (pytest.approx(0.7), pytest.approx(0.9))
    assert adam.sem == pytest.approx(adam.std / 3**0.5)
    assert by_value[None].metrics == {}


def test_groups_by_number_group_and_status(project):
    runs = Run.objects.filter(project=project)
    batch = {str(g.value).split(".")[0]: g.count for g in runs_groups(runs, "config.batch", [])}
    assert batch == {"32": 4, "64": 2}
    assert {g.value: g.count for g in runs_groups(runs, "group", [])} == {"a": 2, "b": 3, "": 1}
    assert [(g.value, g.count) for g in runs_groups(runs, "status", [])] == [("finished", 6)]
    one = next(g for g in runs_groups(runs, "group", ["val/acc"]) if g.value == "a")
    assert one.metrics["val/acc"].mean == pytest.approx(0.85)


def test_what_cannot_group_is_an_error(project):
    with pytest.raises(FilterError, match="cannot group by"):
        runs_groups(Run.objects.all(), "val/acc", [])
    with pytest.raises(FilterError, match="group by one field"):
        runs_groups(Run.objects.all(), "config.a config.b", [])


def test_the_page_shows_groups_and_links_to_their_runs(client, owner, project):
    client.force_login(owner)
    response = client.get(
        "/projects/groups/",
        {"group_by": "config.opt.name", "q": "config.batch = 32", "cols": "1", "m": "val/acc"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    groups = response.context["groups"]
    assert [(g["value"], g["count"]) for g in groups] == [("adam", 2), ("sgd", 1), ("(not set)", 1)]
    assert groups[0]["cells"][0]["mean"] == "0.8 ± 0.1414"
    assert 'href="?q=%28config.batch+%3D+32%29+and+config.opt.name+%3D+%22adam%22"' in html
    members = client.get("/projects/groups/", {"q": '(config.batch = 32) and config.opt.name = "adam"'})
    assert sorted(r.run.name for r in members.context["table"].rows) == ["r0", "r2"]
    bad = client.get("/projects/groups/", {"group_by": "val/acc"})
    assert bad.status_code == 400 and "cannot group by" in bad.content.decode()
