"""GET /api/v1/projects/P/runs with the filter language, an order and pages, read through
the real SDK (``tracker.Api().runs(project, q=...)``) from a live server."""

import json
import urllib.error
import urllib.request

import pytest

import tracker
from experiments.models import Metric, Project, Run
from tracker.transport import TrackerError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk_env(server, api_key, monkeypatch):
    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)


def make_project(owner, n: int) -> Project:
    project = Project.objects.create(owner=owner, name="many")
    runs = Run.objects.bulk_create(
        Run(project=project, name=f"r{i:04d}", config={"lr": i / 1000, "seed": i % 3}) for i in range(n)
    )
    Metric.objects.bulk_create(
        Metric(run=run, key="val/acc", count=1, last_step=0, last_value=i / n, max_value=i / n, min_value=0)
        for i, run in enumerate(runs)
    )
    return project


def get(server, api_key, path: str):
    request = urllib.request.Request(f"{server.url}{path}", headers={"Authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_sdk_filters_orders_and_reads_every_page(owner, server, api_key, sdk_env):
    make_project(owner, 1205)
    api = tracker.Api()
    everything = api.runs("many")  # newest first, 1,205 runs in two pages of 1,000
    assert len(everything) == 1205 and len({r.id for r in everything}) == 1205
    found = api.runs("many", "config.lr >= 1.2 and config.seed = 0")
    assert sorted(r.name for r in found) == ["r1200", "r1203"]
    best = api.runs("many", "val/acc.max > 0.5", order="-val/acc.max", limit=3)
    assert [r.name for r in best] == ["r1204", "r1203", "r1202"]
    assert [r.name for r in api.runs("many", order="name", limit=2)] == ["r0000", "r0001"]
    with pytest.raises(TrackerError, match=r"at column 11"):
        api.runs("many", "config.lr > high")


def test_pages_total_and_next_offset(owner, server, api_key):
    make_project(owner, 25)
    status, body = get(
        server, api_key, "/api/v1/projects/many/runs?q=config.seed%20%3D%201&order=name&limit=4"
    )
    assert status == 200
    assert [r["name"] for r in body["runs"]] == ["r0001", "r0004", "r0007", "r0010"]
    assert body["total"] == 8 and body["next_offset"] == 4
    status, body = get(
        server, api_key, "/api/v1/projects/many/runs?q=config.seed%20%3D%201&order=name&offset=4"
    )
    assert [r["name"] for r in body["runs"]] == ["r0013", "r0016", "r0019", "r0022"]
    assert body["total"] == 8 and body["next_offset"] is None


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ("q=status%20%3D%20sleeping", "q", "unknown status"),
        ("order=-bogus%20field", "order", "order must be"),
        ("order=train/loss.nonfinite", "order", "cannot order by"),
        ("limit=0", "limit", "must be >= 1"),
        ("offset=-1", "offset", "must be >= 0"),
    ],
)
def test_wrong_parameters_name_the_field(owner, server, api_key, query, field, words):
    make_project(owner, 2)
    status, body = get(server, api_key, f"/api/v1/projects/many/runs?{query}")
    assert status == 400
    assert body["field"] == field and words in body["error"]
