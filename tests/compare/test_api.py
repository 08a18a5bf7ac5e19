"""Baselines, directions and comparisons over HTTP (API key and session), the compare
page and its curves endpoint, and who may see or change what."""

import json
import re

import pytest
from django.urls import reverse

from experiments.models import Baseline, MetricDirectionOverride
from tests.compare.support import log, make_group, make_run
from tests.helpers import auth, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(owner):
    base = make_run(owner, "base", config={"lr": 0.1}, host="gpu-a")
    new = make_run(owner, "new", config={"lr": 0.05}, host="gpu-b")
    log(base, "val/loss", [1.0, 0.8, 0.6, 0.5, 0.55])
    log(base, "val/acc", [0.5, 0.6, 0.7, 0.8, 0.78])
    log(new, "val/loss", [0.9, 0.6, 0.45, 0.4, 0.42])
    log(new, "val/acc", [0.55, 0.7, 0.75, 0.74, 0.72])
    return base, new


def baseline_url(project: str = "digits") -> str:
    return reverse("api-project-baseline", args=[project])


def test_set_a_run_as_baseline_then_a_group_keeps_the_history(client, owner, api_key, runs):
    base, _ = runs
    make_group(owner, "seeds", [0.8, 0.81])
    response = post(client, baseline_url(), {"run": base.pk, "note": "first"}, api_key)
    assert response.status_code == 200
    body = response.json()
    assert body["baseline"]["kind"] == "run" and body["baseline"]["run"] == base.pk
    assert body["baseline"]["label"] == "base" and body["baseline"]["note"] == "first"

    body = post(client, baseline_url(), {"group": "seeds"}, api_key).json()
    assert body["baseline"]["kind"] == "group" and body["baseline"]["group"] == "seeds"
    assert [h["kind"] for h in body["history"]] == ["group", "run"]
    assert [h["active"] for h in body["history"]] == [True, False]

    read = client.get(baseline_url(), **auth(api_key)).json()
    assert read["baseline"]["group"] == "seeds"
    cleared = client.delete(baseline_url(), **auth(api_key)).json()
    assert cleared["baseline"] is None and len(cleared["history"]) == 2
    assert Baseline.objects.active().count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "run"),
        ({"run": 1, "group": "x"}, "run"),
        ({"run": "12"}, "run"),
        ({"group": ""}, "group"),
        ({"group": 5}, "group"),
        ({"run": 999999}, "run"),
        ({"group": "nobody"}, "group"),
        ({"run": 1, "note": 3}, "note"),
    ],
)
def test_a_bad_baseline_request_names_the_field_and_changes_nothing(client, api_key, runs, body, field):
    if body.get("run") == 1:
        body = {**body, "run": runs[0].pk}
    response = post(client, baseline_url(), body, api_key)
    assert response.status_code in (400, 404)
    assert response.json()["field"] == field
    assert Baseline.objects.count() == 0


def test_a_session_cannot_write_a_baseline_through_the_api(client, owner, runs):
    client.force_login(owner)
    response = client.post(baseline_url(), json.dumps({"run": runs[0].pk}), content_type="application/json")
    assert response.status_code == 401 and Baseline.objects.count() == 0
    assert client.get(baseline_url()).status_code == 200  # reads are fine with a session


def test_compare_over_the_api_against_the_baseline(client, owner, api_key, runs):
    base, new = runs
    post(client, baseline_url(), {"run": base.pk}, api_key)
    url = reverse("api-run-compare", args=[new.pk])
    body = client.get(url + "?metric=val/loss&metric=val/acc", **auth(api_key)).json()
    assert body["reference"]["token"] == str(base.pk) and body["sides"][0]["token"] == str(new.pk)
    rows = {row["key"]: row for row in body["metrics"]}
    assert list(rows) == ["val/loss", "val/acc"]  # the order asked for
    loss = rows["val/loss"]["sides"][0]
    assert loss["delta"]["final"]["abs"] == pytest.approx(-0.13) and loss["verdict"] == "better"
    assert loss["time_to_target"]["step"] == 2
    assert rows["val/acc"]["sides"][0]["verdict"] == "worse"
    assert body["worse"] is True  # val/acc is worse with no tolerance
    assert {row["key"] for row in body["config"]} == {"lr"}

    tolerant = client.get(url + "?metric=val/acc&tolerance=0.1", **auth(api_key)).json()
    assert tolerant["worse"] is False and tolerant["tolerance"]["relative"] == 0.1
    gate = tolerant["metrics"][0]["sides"][0]["gate"]
    assert gate["shortfall"] == pytest.approx(0.06) and gate["allowed"] == pytest.approx(0.078)


def test_compare_against_another_run_or_group_and_with_curves(client, owner, api_key, runs):
    base, new = runs
    url = reverse("api-run-compare", args=[new.pk])
    body = client.get(f"{url}?against={base.pk}&metric=val/loss&curves=1", **auth(api_key)).json()
    curve = body["curves"][0]
    assert curve["key"] == "val/loss"
    assert curve["deltas"][0]["value"] == pytest.approx([-0.1, -0.2, -0.15, -0.1, -0.13])

    make_group(owner, "seeds", [0.8, 0.82, 0.81])
    project_url = reverse("api-project-compare", args=["digits"])
    body = client.get(
        f"{project_url}?side={new.pk}&against=group:seeds&metric=val/acc", **auth(api_key)
    ).json()
    assert body["reference"]["kind"] == "group" and len(body["reference"]["runs"]) == 3
    assert body["metrics"][0]["sides"][0]["test"]["method"] == "prediction"


@pytest.mark.parametrize(
    ("query", "field", "status"),
    [
        ("?against=baseline", "against", 404),  # no baseline set
        ("?against=abc", "against", 400),
        ("?against=group:nope", "against", 404),
        ("?against={base}&metric=val/f1", "metric", 404),
        ("?against={base}&by=median", "by", 400),
        ("?against={base}&tolerance=-1", "tolerance", 400),
        ("?against={base}&abs_tolerance=x", "abs_tolerance", 400),
    ],
)
def test_bad_compare_queries_name_the_field(client, api_key, runs, query, field, status):
    base, new = runs
    url = reverse("api-run-compare", args=[new.pk]) + query.format(base=base.pk)
    response = client.get(url, **auth(api_key))
    assert response.status_code == status
    assert response.json()["field"] == field


def test_directions_are_listed_and_overridden_over_the_api(client, api_key, runs):
    url = reverse("api-project-directions", args=["digits"])
    listed = {d["key"]: d for d in client.get(url, **auth(api_key)).json()["directions"]}
    assert listed["val/acc"] == {"key": "val/acc", "direction": "max", "source": "name", "inferred": "max"}
    assert listed["val/loss"]["direction"] == "min"

    changed = post(client, url, {"key": "val/acc", "direction": "min"}, api_key).json()["directions"]
    assert {d["key"]: d["source"] for d in changed}["val/acc"] == "override"
    assert MetricDirectionOverride.objects.get(key="val/acc").direction == "min"
    body = client.get(
        reverse("api-run-compare", args=[runs[1].pk]) + f"?against={runs[0].pk}", **auth(api_key)
    )
    acc = next(row for row in body.json()["metrics"] if row["key"] == "val/acc")
    assert acc["direction"] == "min" and acc["sides"][0]["verdict"] == "better"

    bad = post(client, url, {"key": "val/acc", "direction": "up"}, api_key)
    assert bad.status_code == 400 and bad.json()["field"] == "direction"
    post(client, url, {"key": "val/acc", "direction": None}, api_key)
    assert not MetricDirectionOverride.objects.exists()


def test_the_runs_table_best_follows_the_projects_direction(client, owner, api_key, runs):
    client.force_login(owner)
    page = client.get(reverse("project", args=["digits"]) + "?cols=1&m=val/acc")
    assert re.search(r'title="at step 3">0\.8<', page.content.decode())  # max by name
    post(
        client,
        reverse("api-project-directions", args=["digits"]),
        {"key": "val/acc", "direction": "min"},
        api_key,
    )
    page = client.get(reverse("project", args=["digits"]) + "?cols=1&m=val/acc")
    assert re.search(r'title="at step 0">0\.5<', page.content.decode())  # now the minimum
    assert page.context["table"].directions["val/acc"] == "min"


def test_groups_are_found_by_name_for_the_cli(client, owner, api_key, stranger_api_key):
    make_group(owner, "seeds", [0.8, 0.81])
    make_group(owner, "seeds", [0.7], project="other")
    body = client.get(reverse("api-groups") + "?name=seeds", **auth(api_key)).json()
    assert body["groups"] == [
        {"project": "digits", "group": "seeds", "runs": 2},
        {"project": "other", "group": "seeds", "runs": 1},
    ]
    assert client.get(reverse("api-groups") + "?name=seeds", **auth(stranger_api_key)).json()["groups"] == []


# --- access control -------------------------------------------------------------------


def test_a_stranger_can_neither_compare_nor_set_a_baseline_on_the_owners_runs(
    client, owner, stranger, stranger_api_key, runs
):
    base, new = runs
    key = auth(stranger_api_key)
    assert (
        client.get(reverse("api-run-compare", args=[new.pk]) + f"?against={base.pk}", **key).status_code
        == 404
    )
    assert client.get(baseline_url(), **key).status_code == 404
    assert post(client, baseline_url(), {"run": base.pk}, stranger_api_key).status_code == 404
    assert client.delete(baseline_url(), **key).status_code == 404
    directions = reverse("api-project-directions", args=["digits"])
    assert (
        post(client, directions, {"key": "val/acc", "direction": "min"}, stranger_api_key).status_code == 404
    )
    # Their own project cannot reach the owner's runs either.
    make_run(stranger, "mine", project="theirs")
    theirs = reverse("api-project-compare", args=["theirs"])
    assert client.get(f"{theirs}?side={new.pk}&against={base.pk}", **key).status_code == 404
    assert Baseline.objects.count() == 0 and not MetricDirectionOverride.objects.exists()

    client.force_login(stranger)
    assert client.get(reverse("compare", args=["digits"]) + f"?s={new.pk}").status_code == 404
    assert client.get(reverse("compare-curves", args=["digits"]) + f"?s={new.pk}").status_code == 404
    assert client.get(reverse("run-compare", args=[new.pk])).status_code == 404
    set_form = reverse("project-set-baseline", args=["digits"])
    assert client.post(set_form, {"side": str(base.pk)}).status_code == 404
    assert Baseline.objects.count() == 0


def test_compare_pages_need_a_login(client, runs):
    for url in (
        reverse("compare", args=["digits"]) + f"?s={runs[1].pk}",
        reverse("compare-curves", args=["digits"]) + f"?s={runs[1].pk}",
        reverse("run-compare", args=[runs[1].pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- pages ----------------------------------------------------------------------------


def text(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_set_baseline_from_the_run_page_then_compare_in_one_click(client, owner, runs):
    base, new = runs
    client.force_login(owner)
    page = client.get(reverse("run", args=[base.pk]))
    assert 'id="set-baseline"' in page.content.decode()
    response = client.post(
        reverse("project-set-baseline", args=["digits"]), {"side": str(base.pk), "next": f"/runs/{base.pk}/"}
    )
    assert response.status_code == 302 and response["Location"] == f"/runs/{base.pk}/"
    page = client.get(reverse("run", args=[base.pk])).content.decode()
    assert 'id="baseline-mark"' in page and 'id="set-baseline"' not in page

    redirect = client.get(reverse("run-compare", args=[new.pk]))
    assert redirect.status_code == 302
    page = client.get(redirect["Location"])
    assert page.status_code == 200
    body = text(page)
    assert "new vs base" in body
    assert "val/loss" in body and "-0.13" in body and "-23.6%" in body
    assert "1 better" in body and "1 worse" in body
    assert "lr" in body and "0.05" in body  # config diff
    assert "gpu-a" in body and "gpu-b" in body  # environment
    curves = client.get(page.context["page_data"]["curvesUrl"] + "&key=val/loss").json()["curves"][0]
    assert [line["role"] for line in curves["lines"]] == ["reference", "side"]


def test_an_external_next_url_is_not_followed(client, owner, runs):
    client.force_login(owner)
    response = client.post(
        reverse("project-set-baseline", args=["digits"]),
        {"side": str(runs[0].pk), "next": "https://evil.example/"},
    )
    assert response["Location"] == "/projects/digits/"


def test_compare_without_a_baseline_offers_to_set_one(client, owner, runs):
    client.force_login(owner)
    page = client.get(reverse("compare", args=["digits"]) + f"?s={runs[1].pk}")
    assert page.status_code == 200 and "has no baseline yet" in text(page)
    assert "python -m tracker baseline set" in text(page)


def test_n_runs_side_by_side_against_the_first(client, owner, runs):
    base, new = runs
    third = make_run(owner, "third", config={"lr": 0.2})
    log(third, "val/loss", [0.7, 0.5])
    client.force_login(owner)
    page = client.get(reverse("compare", args=["digits"]) + f"?s={base.pk}&s={new.pk}&s={third.pk}")
    assert page.status_code == 200
    assert [c["label"] for c in page.context["columns"]] == ["base", "new", "third"]
    assert page.context["page_data"]["keys"] == ["val/loss"]  # third has no val/acc
    assert "3 side by side" in text(page)


def test_group_page_shows_mean_and_std_and_the_verdict(client, owner):
    make_group(owner, "wide", [0.91, 0.92, 0.935, 0.925])
    make_group(owner, "narrow", [0.90, 0.905, 0.899])
    client.force_login(owner)
    page = client.get(reverse("compare", args=["digits"]) + "?s=group:wide&ref=group:narrow")
    assert page.status_code == 200
    row = page.context["metrics"][0]
    assert row["key"] == "val/acc" and "±" in row["sides"][0]["final"]
    assert row["sides"][0]["verdict"] == "better" and row["sides"][0]["p"] == "0.021"
    assert "Welch" in row["sides"][0]["test"]


def test_run_series_can_return_each_rank(client, owner):
    run = make_run(owner, "ddp")
    log(run, "train/loss", [1.0, 3.0], rank=0)
    log(run, "train/loss", [3.0, 5.0], rank=1)
    client.force_login(owner)
    url = reverse("run-series", args=[run.pk])
    folded = client.get(url).json()["series"][0]
    assert folded["value"] == [2.0, 4.0] and "by_rank" not in folded
    each = client.get(url + "?ranks=each").json()["series"][0]
    assert [(line["rank"], line["value"]) for line in each["by_rank"]] == [(0, [1.0, 3.0]), (1, [3.0, 5.0])]
    assert each["value"] == [2.0, 4.0]


def test_compare_page_shows_per_class_deltas_when_both_runs_have_a_matrix(client, owner, runs):
    from experiments.models import Media

    base, new = runs
    labels = ["cat", "dog"]
    for run, matrix, uid in ((base, [[8, 2], [4, 6]], "a"), (new, [[9, 1], [2, 8]], "b")):
        Media.objects.create(
            run=run,
            kind="confusion_matrix",
            name="val",
            step=4,
            uid=uid,
            data={"labels": labels, "matrix": matrix},
        )
    client.force_login(owner)
    page = client.get(reverse("compare", args=["digits"]) + f"?s={new.pk}&ref={base.pk}")
    (block,) = page.context["classes"]
    assert block["label"] == "new"
    cat = block["classes"][0]
    assert cat["recall"]["text"] == "+0.100" and cat["recall"]["better"] == "better"
    assert "+0.100" in text(page)


def test_the_openapi_schema_describes_the_comparison_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"get", "post", "delete"} <= set(paths["/projects/{name}/baseline"])
    assert {"get", "post"} <= set(paths["/projects/{name}/directions"])
    assert {"/runs/{run_id}/compare", "/projects/{name}/compare", "/groups"} <= set(paths)
    names = {p["name"] for p in paths["/runs/{run_id}/compare"]["get"]["parameters"]}
    assert {"against", "metric", "by", "tolerance", "abs_tolerance", "curves"} <= names
