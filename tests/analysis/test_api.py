"""GET /api/v1/projects/NAME/analysis and the page's data.json: the values, the filter
with its errors, who may read, the OpenAPI path, and the sweep page's link."""

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from experiments.models import Run
from tests import factories
from tests.analysis.support import synthetic_runs, true_acc
from tests.helpers import auth

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner):
    project = factories.project(owner, "sweeps")
    synthetic_runs(project)
    return project


def url(name: str = "sweeps") -> str:
    return reverse("api-project-analysis", args=[name])


def test_the_api_ranks_the_learning_rate_first_with_the_runs_values(client, api_key, project):
    response = client.get(url(), {"metric": "val/acc", "agg": "last"}, **auth(api_key))
    assert response.status_code == 200
    body = response.json()
    assert body["project"] == "sweeps" and body["metric"] == "val/acc" and body["column"] == "last_value"
    assert body["runs"] == {
        "matching": 60,
        "read": 60,
        "truncated": False,
        "analysed": 60,
        "without_metric": 0,
    }
    first = body["params"][0]
    assert first["key"] == "optim.lr" and first["importance"] > 0.8 and first["log"] is True
    assert first["spearman"]["r"] > 0.99 and first["spearman"]["n"] == 60
    rows = body["rows"]
    stored = {r.pk: r for r in Run.objects.filter(project=project)}
    assert sorted(rows["id"]) == sorted(stored)
    for run_id, lr, acc in zip(rows["id"], rows["values"]["optim.lr"], rows["metric"]):
        assert lr == stored[run_id].config["optim"]["lr"]
        assert acc == pytest.approx(true_acc(lr), abs=5e-3)


def test_a_filter_error_names_q_and_its_column(client, api_key, project):
    response = client.get(url(), {"q": "config.lr > > 3"}, **auth(api_key))
    assert response.status_code == 400
    body = response.json()
    # The API's one error shape; the column is in the message.
    assert set(body) == {"error", "field"}
    assert body["field"] == "q" and "(at column 13)" in body["error"]
    for params, field in (
        ({"agg": "mean"}, "agg"),
        ({"metric": "val/f1"}, "metric"),
        ({"importance": "x"}, "importance"),
    ):
        response = client.get(url(), params, **auth(api_key))
        assert response.status_code == 400 and response.json()["field"] == field, params


def test_strangers_and_anonymous_are_refused(client, stranger_api_key, project):
    response = client.get(url(), **auth(stranger_api_key))
    assert response.status_code == 404 and response.json()["field"] == "project"
    assert client.get(url()).status_code == 401
    page = client.get(reverse("analysis-data", args=["sweeps"]))
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_the_path_is_in_the_openapi_schema(client):
    schema = client.get(reverse("openapi")).json()
    operation = schema["paths"]["/projects/{name}/analysis"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"name", "q", "metric", "agg", "importance"}


def test_the_page_json_answers_the_same_as_the_api(client, owner, api_key, project):
    client.force_login(owner)
    params = {"q": "config.batch_size >= 64", "metric": "val/loss", "agg": "best"}
    page = client.get(reverse("analysis-data", args=["sweeps"]), params).json()
    api = client.get(url(), params, **auth(api_key)).json()
    assert page == api
    assert page["direction"] == "min" and all(v >= 64 for v in page["rows"]["values"]["batch_size"])
    # The page's script also gets the column alone, to draw a caret under it.
    error = client.get(reverse("analysis-data", args=["sweeps"]), {"q": "(config.lr > 1"})
    assert error.status_code == 400 and error.json()["field"] == "q" and error.json()["column"] == 15


def test_the_sweep_page_links_to_an_analysis_of_its_runs(client, owner, project):
    sweep = factories.sweep(
        project,
        name="sweep-a",
        entry_point="examples.train_digits:train",
        objective="val/acc",
        space={"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True}},
    )
    trials = list(Run.objects.filter(project=project).order_by("pk")[:20])
    for run in trials:
        run.tags = [f"sweep:{sweep.pk}"]
    Run.objects.bulk_update(trials, ["tags"])
    client.force_login(owner)
    html = client.get(reverse("sweep", args=[sweep.pk])).content.decode()
    link = unescape(re.search(r'id="analyse-sweep" href="([^"]+)"', html).group(1))
    assert ">Analyse these runs</a>" in html
    assert client.get(link).status_code == 200
    params = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert params == {"q": f'tag = "sweep:{sweep.pk}"', "metric": "val/acc", "agg": "best"}
    body = client.get(reverse("analysis-data", args=["sweeps"]), params).json()
    assert sorted(body["rows"]["id"]) == sorted(r.pk for r in trials)
