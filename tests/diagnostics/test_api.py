"""The findings API: reading (API key or session), dismissing (API key, or session with
its CSRF token), the project's per-run summary, the schema, and the admin."""

import json

import pytest
from django.test import Client

from experiments.diagnostics.models import AnalyzerSettings, Finding, FindingDismissal
from experiments.diagnostics.runner import run_diagnose
from tests.diagnostics.support import ingest, make_run, overfitting_series
from tests.helpers import auth, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def diagnosed(owner):
    """A run with an overfitting finding, and a healthy one, in project "diag"."""
    run = make_run(owner, name="overfit")
    ingest(run, overfitting_series())
    run_diagnose(run_id=run.pk)
    healthy = make_run(owner, name="healthy")
    ingest(healthy, {"train/loss": ([0, 1, 2], [2.0, 1.0, 0.5])})
    run_diagnose(run_id=healthy.pk)
    return run, healthy


def test_the_owner_reads_a_runs_findings_with_the_remedies_and_what_to_try_next(client, api_key, diagnosed):
    run, healthy = diagnosed
    response = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key))
    assert response.status_code == 200
    body = response.json()
    assert body["run"] == run.pk and body["total"] == 1 and body["dismissed"] == 0
    assert body["counts"] == {"critical": 1, "warning": 0, "info": 0}
    (finding,) = body["findings"]
    row = Finding.objects.get(run=run)
    assert finding["id"] == row.pk and finding["kind"] == "overfitting" and finding["severity"] == "critical"
    assert (finding["step_start"], finding["step_end"]) == (40, 150)
    assert finding["evidence"]["best_step"] == 40
    assert finding["remedies"][0].startswith("Early stopping at step 40")
    assert body["next"] == [
        {"finding": row.pk, "severity": "critical", "title": row.title, "action": finding["remedies"][0]}
    ]
    assert body["diagnosed_step"] == 150 and body["analyzer_errors"] == {}

    empty = client.get(f"/api/v1/runs/{healthy.pk}/findings", **auth(api_key)).json()
    assert empty["findings"] == [] and empty["total"] == 0 and empty["diagnosed_at"] is not None


def test_a_stranger_or_no_key_cannot_read_findings(client, stranger_api_key, diagnosed):
    run, _ = diagnosed
    response = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(stranger_api_key))
    assert response.status_code == 404 and response.json()["field"] == "run"
    assert client.get(f"/api/v1/runs/{run.pk}/findings").status_code == 401


def test_dismissing_with_an_api_key_and_restoring(client, api_key, diagnosed, owner):
    run, _ = diagnosed
    row = Finding.objects.get(run=run)
    url = f"/api/v1/runs/{run.pk}/findings/{row.pk}/dismiss"
    response = post(client, url, {"note": "small data set"}, api_key)
    assert response.status_code == 200
    assert response.json()["dismissed"] is True and response.json()["dismiss_note"] == "small data set"
    dismissal = FindingDismissal.objects.get(run=run)
    assert (dismissal.fingerprint, dismissal.dismissed_by) == (row.fingerprint, owner)
    body = client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key)).json()
    assert body["total"] == 0 and body["dismissed"] == 1 and body["next"] == []
    assert body["findings"][0]["dismissed_by"] == "owner"

    run_diagnose(run_id=run.pk)  # a later pass keeps it dismissed
    assert client.get(f"/api/v1/runs/{run.pk}/findings", **auth(api_key)).json()["dismissed"] == 1

    response = post(client, url, {"dismissed": False}, api_key)
    assert response.json()["dismissed"] is False
    assert not FindingDismissal.objects.exists()


def test_bad_dismissals_are_refused_naming_the_field(client, api_key, stranger_api_key, diagnosed):
    run, _ = diagnosed
    row = Finding.objects.get(run=run)
    url = f"/api/v1/runs/{run.pk}/findings/{row.pk}/dismiss"
    response = post(client, url, {"dismissed": "yes"}, api_key)
    assert (response.status_code, response.json()["field"]) == (400, "dismissed")
    response = post(client, url, {"note": "x" * 2001}, api_key)
    assert (response.status_code, response.json()["field"]) == (400, "note")
    response = post(client, f"/api/v1/runs/{run.pk}/findings/999999/dismiss", {}, api_key)
    assert (response.status_code, response.json()["field"]) == (404, "finding")
    response = post(client, url, {}, stranger_api_key)
    assert (response.status_code, response.json()["field"]) == (404, "run")
    assert client.get(url, **auth(api_key)).status_code == 405
    assert not FindingDismissal.objects.exists()


def test_the_run_page_dismisses_with_its_session_and_csrf_token(owner, diagnosed):
    run, _ = diagnosed
    row = Finding.objects.get(run=run)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    url = f"/api/v1/runs/{run.pk}/findings/{row.pk}/dismiss"
    body = json.dumps({"dismissed": True})
    forged = browser.post(url, body, content_type="application/json")
    assert forged.status_code == 403 and forged.json()["field"] == "X-CSRFToken"
    assert not FindingDismissal.objects.exists()

    page = browser.get(f"/runs/{run.pk}/")
    token = page.cookies["csrftoken"].value
    response = browser.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["dismissed"] is True
    assert FindingDismissal.objects.get().dismissed_by == owner


def test_the_projects_findings_summarise_each_run_for_the_runs_table(client, api_key, diagnosed, owner):
    run, healthy = diagnosed
    body = client.get("/api/v1/projects/diag/findings", **auth(api_key)).json()
    row = Finding.objects.get(run=run)
    assert body == {
        "project": "diag",
        "runs": {
            str(run.pk): {
                "counts": {"critical": 1, "warning": 0, "info": 0},
                "worst": "critical",
                "titles": [row.title],
            }
        },
    }
    only = client.get(f"/api/v1/projects/diag/findings?run={healthy.pk}", **auth(api_key)).json()
    assert only["runs"] == {}
    FindingDismissal.objects.create(run=run, fingerprint=row.fingerprint)
    assert client.get("/api/v1/projects/diag/findings", **auth(api_key)).json()["runs"] == {}
    bad = client.get("/api/v1/projects/diag/findings?run=x", **auth(api_key))
    assert (bad.status_code, bad.json()["field"]) == (400, "run")
    assert client.get("/api/v1/projects/nope/findings", **auth(api_key)).status_code == 404


def test_the_schema_describes_the_diagnostics_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in paths["/runs/{run_id}/findings"]
    assert "post" in paths["/runs/{run_id}/findings/{finding_id}/dismiss"]
    assert "get" in paths["/projects/{name}/findings"]


def test_staff_set_a_projects_thresholds_in_the_admin_and_typos_are_refused(owner, django_user_model):
    staff = django_user_model.objects.create_superuser("admin", password="x")
    admin = Client()
    admin.force_login(staff)
    project = make_run(owner).project
    url = "/admin/experiments/analyzersettings/add/"
    page = admin.get(url)
    assert page.status_code == 200 and b"overfitting.patience = 3" in page.content  # the defaults, listed
    form = {
        "project": project.pk,
        "analyzer": "overfitting",
        "enabled": "on",
        "thresholds": '{"patiense": 5}',
    }
    refused = admin.post(url, form)
    assert refused.status_code == 200 and b"has no threshold" in refused.content
    assert admin.post(url, {**form, "thresholds": '{"patience": 5}'}).status_code == 302
    assert AnalyzerSettings.objects.get().thresholds == {"patience": 5.0}
    assert admin.get("/admin/experiments/finding/").status_code == 200
