"""Projects addressed as ``entity/name`` (issue #15): a team's project and a personal one of
the same name are told apart in page URLs, the API and the SDK; a team project's pages link
to it by entity; its old bare URL redirects; names that would clash with a project's own
pages are refused. (The persona matrix walks every route with ``vision/resnet``.)"""

import json

import pytest
from django.test import Client

import tracker
from experiments.models import ApiKey, Project, Run
from tests.teams.world import build

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_team_project_and_a_personal_one_of_the_same_name(django_user_model):
    world = build(django_user_model)
    mia = world.people["mia"]
    mine = Project.objects.create(owner=mia, name="resnet")
    Run.objects.create(project=mine, name="mias-own-run")
    client = signed_in(mia)
    own = client.get("/projects/resnet/").content.decode()
    assert "mias-own-run" in own and "run-two" not in own
    team = client.get("/projects/vision/resnet/").content.decode()
    assert "run-two" in team and "mias-own-run" not in team
    # The team project's page links to itself and its other pages by entity.
    for link in (
        'href="/projects/vision/resnet/"',
        'href="/projects/vision/resnet/alerts/"',
        'href="/projects/vision/resnet/analysis/"',
        'action="/projects/vision/resnet/views/"',
    ):
        assert link in team, link
    assert client.get(f"/projects/vision/resnet/compare/?s={world.second.pk}").status_code == 200
    # A personal project by entity too; its own URL is the short one.
    assert client.get("/projects/mia/resnet/")["Location"] == "/projects/resnet/"
    # The projects list links each where it is.
    listing = client.get("/").content.decode()
    assert 'href="/projects/vision/resnet/"' in listing and 'href="/projects/resnet/"' in listing


def test_a_team_projects_old_url_redirects_to_its_entity_url(django_user_model):
    world = build(django_user_model)
    response = signed_in(world.people["vic"]).get("/projects/resnet/?q=config.lr+%3E+0.1")
    assert response.status_code == 302
    assert response["Location"] == "/projects/vision/resnet/?q=config.lr+%3E+0.1"
    # Someone outside the team learns nothing from either address.
    stranger = signed_in(world.people["sam"])
    assert stranger.get("/projects/resnet/").status_code == 404
    assert stranger.get("/projects/vision/resnet/").status_code == 404


def test_the_api_and_the_sdk_address_a_team_project_by_entity(django_user_model, live_server, monkeypatch):
    world = build(django_user_model)
    key = ApiKey.issue(world.people["mia"])[1]
    Run.objects.create(project=Project.objects.create(owner=world.people["mia"], name="resnet"), name="own")
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    runs = json.loads(client.get("/api/v1/projects/vision%2Fresnet/runs", **auth).content)["runs"]
    assert sorted(r["name"] for r in runs) == sorted([world.run.name, world.second.name])
    assert [
        r["name"] for r in json.loads(client.get("/api/v1/projects/resnet/runs", **auth).content)["runs"]
    ] == ["own"]
    monkeypatch.setenv("TRACKER_SERVER", live_server.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    assert {r.name for r in tracker.Api().runs("vision/resnet")} == {world.run.name, world.second.name}
    assert [r.project for r in tracker.Api().runs("vision/resnet", limit=1)] == ["resnet"]


def test_names_that_clash_with_a_projects_pages_are_refused(django_user_model):
    world = build(django_user_model)
    key = ApiKey.issue(world.people["mia"])[1]
    response = Client().post(
        "/api/v1/runs",
        json.dumps({"project": "vision/compare"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "project" and "'compare' is reserved" in body["error"]
    assert not Project.objects.filter(name="compare").exists()
