"""Distributed runs: every rank POSTs /runs with the job's ``join_key``; the first creates
the run, the others join it, and a key reused by a later job starts a new run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Run
from tests.helpers import post

pytestmark = pytest.mark.django_db


def start(client, api_key, rank: int, key: str = "torchelastic:job-1/0", project: str = "dist"):
    return post(client, "/api/v1/runs", {"project": project, "join_key": key, "world_size": 2}, api_key)


def test_every_rank_of_a_job_gets_the_same_run(client, api_key):
    first, second = start(client, api_key, 0), start(client, api_key, 1)
    assert first.status_code == 201 and second.status_code == 200, (first.content, second.content)
    assert first.json()["id"] == second.json()["id"]
    assert second.json()["resumed"] is True and second.json()["world_size"] == 2
    assert Run.objects.count() == 1


def test_the_key_is_per_project_and_per_job(client, api_key):
    a = start(client, api_key, 0)
    b = start(client, api_key, 0, project="other")
    c = start(client, api_key, 0, key="torchelastic:job-2/0")
    assert len({a.json()["id"], b.json()["id"], c.json()["id"]}) == 3


def test_a_late_rank_joins_a_run_that_just_ended_but_a_reused_key_starts_a_new_run(client, api_key):
    run_id = start(client, api_key, 0).json()["id"]
    assert post(client, f"/api/v1/runs/{run_id}/finish", {"status": "finished"}, api_key).status_code == 200
    late = start(client, api_key, 1)
    assert late.status_code == 200 and late.json()["id"] == run_id
    assert Run.objects.get(pk=run_id).status == "finished"  # joining does not reopen it

    Run.objects.filter(pk=run_id).update(finished_at=timezone.now() - timedelta(hours=1))
    again = start(client, api_key, 0)
    assert again.status_code == 201 and again.json()["id"] != run_id
    assert Run.objects.get(pk=run_id).join_key == ""


@pytest.mark.parametrize("body", [{"join_key": 5}, {"join_key": "x" * 201}, {"world_size": 0}])
def test_a_bad_join_field_is_refused_with_its_name(client, api_key, body):
    r = post(client, "/api/v1/runs", {"project": "dist", **body}, api_key)
    assert r.status_code == 400
    assert r.json()["field"] in body
