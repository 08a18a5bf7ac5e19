"""Charts of the grouped runs table (issue #16): per group the mean curve of a metric with
a band (standard deviation, standard error, min–max) and, on demand, its runs' curves;
the same filter as the table; a wrong group or metric names its field."""

import json
import math
import os
import statistics

import pytest

from experiments.group_curves import runs_per_group
from experiments.models import Project, Run
from tests.browser import log, login
from tests.processes import ROOT

SCREENSHOT = ROOT / "static" / "screenshots" / "grouped-runs.png"  # TRACKER_SCREENSHOT=1 writes it

pytestmark = pytest.mark.django_db(transaction=True)

# opt -> the runs' loss scale: loss(step) = scale / (step + 1)
GROUPS = {"adam": [1.0, 2.0, 3.0], "sgd": [4.0, 8.0]}


def make_runs(server, api_key, owner) -> dict[str, list[Run]]:
    project = Project.objects.create(owner=owner, name="grouped")
    runs: dict[str, list[Run]] = {}
    for opt, scales in GROUPS.items():
        for i, scale in enumerate(scales):
            run = Run.objects.create(project=project, name=f"{opt}-{i}", config={"opt": opt, "scale": scale})
            log(server, api_key, run, [(s, {"train/loss": scale / (s + 1)}) for s in range(10)], seq=0)
            runs.setdefault(opt, []).append(run)
    Run.objects.create(project=project, name="no-opt", config={"scale": 1.0})  # the "(not set)" group
    return runs


def get_json(client, params: dict) -> tuple[int, dict]:
    response = client.get("/projects/grouped/groups.json", params)
    return response.status_code, json.loads(response.content)


def test_each_groups_mean_band_and_members(client, server, api_key, owner, stranger):
    make_runs(server, api_key, owner)
    client.force_login(owner)
    status, body = get_json(client, {"group_by": "config.opt", "key": "train/loss"})
    assert status == 200 and body["key"] == "train/loss" and body["group_by"] == "config.opt"
    groups = {g["label"]: g for g in body["groups"]}
    assert set(groups) == {"adam", "sgd", "(not set)"}
    adam = groups["adam"]
    assert (adam["runs"], adam["with_metric"]) == (3, 3)
    assert adam["step"] == list(range(10))
    at3 = [scale / 4 for scale in GROUPS["adam"]]  # step 3
    assert adam["mean"][3] == pytest.approx(statistics.mean(at3))
    assert adam["std"][3] == pytest.approx(statistics.stdev(at3))
    assert adam["sem"][3] == pytest.approx(statistics.stdev(at3) / math.sqrt(3))
    assert (adam["min"][3], adam["max"][3]) == (pytest.approx(0.25), pytest.approx(0.75))
    assert adam["n"][3] == 3
    assert sorted(m["name"] for m in adam["members"]) == ["adam-0", "adam-1", "adam-2"]
    member = next(m for m in adam["members"] if m["name"] == "adam-2")
    assert member["value"][1] == pytest.approx(1.5)
    assert groups["(not set)"]["with_metric"] == 0 and groups["(not set)"]["mean"] == []
    # The table's filter applies.
    status, body = get_json(client, {"group_by": "config.opt", "key": "train/loss", "q": "config.scale >= 3"})
    groups = {g["label"]: g for g in body["groups"]}
    assert (groups["adam"]["runs"], groups["sgd"]["runs"]) == (1, 2)
    assert groups["sgd"]["mean"][0] == pytest.approx(6.0)
    # Errors name the field; a stranger does not learn the project exists.
    for params, field in [
        ({"key": "train/loss"}, "group_by"),
        ({"group_by": "config.opt"}, "key"),
        ({"group_by": "val/acc", "key": "train/loss"}, "group_by"),
        ({"group_by": "config.opt", "key": "train/loss", "q": "config.scale >"}, "q"),
    ]:
        status, body = get_json(client, params)
        assert status == 400 and body["field"] == field, body
    client.force_login(stranger)
    assert client.get("/projects/grouped/groups.json", {"group_by": "group", "key": "x"}).status_code == 404


def test_the_grouped_table_draws_bands_and_runs(page, server, api_key, owner):
    make_runs(server, api_key, owner)
    login(page, server, owner, "/projects/grouped/?group_by=config.opt&cols=1&m=train%2Floss")
    chart = "[data-group-chart='train/loss'] .chart"
    page.wait_for_function(f'() => document.querySelector("{chart}")?.data?.length > 0')

    def traces(kind: str) -> dict:
        return {
            t["group"]: t["y"]
            for t in page.evaluate(
                f"""kind => document.querySelector("{chart}").data.filter(t => t.meta.kind === kind)
                    .map(t => ({{group: t.meta.group, y: Array.from(t.y)}}))""",
                kind,
            )
        }

    assert page.locator("[data-group-chart='train/loss'] .chart-loading").count() == 0
    means = traces("mean")
    assert set(means) == {"adam", "sgd"}  # "(not set)" has no run with the metric
    assert means["sgd"][1] == pytest.approx(3.0)
    assert traces("band-high")["adam"][3] == pytest.approx(0.5 + statistics.stdev([0.25, 0.5, 0.75]))
    page.select_option("#group-band", "minmax")
    high = "t => t.meta.kind === 'band-high' && t.y[3] === 0.75"
    page.wait_for_function(f'() => document.querySelector("{chart}").data.some({high})')
    assert traces("band-low")["adam"][3] == pytest.approx(0.25)
    page.check("#group-members")
    page.wait_for_function(
        f"() => document.querySelector(\"{chart}\").data.filter(t => t.meta.kind === 'member').length === 5"
    )
    if os.environ.get("TRACKER_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.select_option("#group-band", "std")
        page.wait_for_timeout(500)  # Plotly's responsive resize
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.select_option("#group-band", "none")
    page.wait_for_function(
        f"() => !document.querySelector(\"{chart}\").data.some(t => t.meta.kind.startsWith('band'))"
    )
    assert page.errors == []


def test_many_groups_read_fewer_of_their_newest_runs(client, owner):
    assert [runs_per_group(n) for n in (1, 4, 5, 12, 30)] == [50, 50, 48, 20, 10]
    project = Project.objects.create(owner=owner, name="wide-groups")
    Run.objects.bulk_create(
        Run(project=project, name=f"g{g}-r{i}", config={"opt": f"o{g:02d}"})
        for g in range(12)
        for i in range(21)
    )
    client.force_login(owner)
    params = {"group_by": "config.opt", "key": "train/loss"}
    response = client.get("/projects/wide-groups/groups.json", params)
    groups = json.loads(response.content)["groups"]
    assert len(groups) == 12
    assert {(g["runs"], g["read"]) for g in groups} == {(21, 20)}
