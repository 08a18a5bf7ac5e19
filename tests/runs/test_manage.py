"""Managing runs (experiments.runops, issue 16): edit name/group/tags/notes and move
through the API; delete (one or in bulk) takes the run out of every list at once and a
real Celery worker purges its points, metrics and files; the runs table's bulk bar tags
and deletes ticked runs in a real browser."""

import json
import time
import urllib.error
import urllib.request

import pytest

from experiments.media.artifacts import artifact_root
from experiments.models import Metric, PointChunk, Project, Run
from tests.browser import log, login


def call(server, api_key: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{server.url}/api/v1/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db(transaction=True)
def test_edit_and_move_through_the_api(server, owner, api_key):
    run = Run.objects.create(project=Project.objects.create(owner=owner, name="a"), name="old", tags=["x"])
    Project.objects.create(owner=owner, name="b")
    status, body = call(
        server,
        api_key,
        "PATCH",
        f"runs/{run.pk}",
        {"name": "new", "group": "g1", "tags": ["x", "keep"], "notes": "# Why\nlr too high"},
    )
    assert status == 200 and body["name"] == "new"
    run.refresh_from_db()
    assert (run.name, run.group, run.tags, run.notes) == ("new", "g1", ["x", "keep"], "# Why\nlr too high")
    status, body = call(server, api_key, "PATCH", f"runs/{run.pk}", {"project": "b"})
    assert status == 200
    run.refresh_from_db()
    assert run.project.name == "b"

    for patch, field, words in [
        ({"name": ""}, "name", "cannot be empty"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"tags": "x"}, "tags", "list of strings"),
        ({}, "body", "nothing to change"),
        ({"project": "nowhere"}, "project", "does not exist"),
    ]:
        status, body = call(server, api_key, "PATCH", f"runs/{run.pk}", patch)
        assert status in (400, 404) and body["field"] == field and words in body["error"], body
    run.refresh_from_db()
    assert run.name == "new" and run.project.name == "b"  # nothing half-written


@pytest.mark.django_db(transaction=True)
def test_a_stranger_can_neither_edit_nor_delete(server, owner, stranger, api_key):
    from tests import factories

    run = Run.objects.create(project=Project.objects.create(owner=owner, name="mine"), name="r")
    other = factories.api_key(stranger)
    assert call(server, other, "PATCH", f"runs/{run.pk}", {"name": "pwned"})[0] == 404
    assert call(server, other, "DELETE", f"runs/{run.pk}")[0] == 404
    assert call(server, other, "POST", "runs/bulk", {"action": "delete", "runs": [run.pk]})[0] == 404
    run.refresh_from_db()
    assert run.name == "r"


@pytest.mark.django_db(transaction=True)
def test_delete_hides_at_once_and_the_worker_purges_points_and_files(server, celery_worker, owner, api_key):
    project = Project.objects.create(owner=owner, name="doomed")
    keep = Run.objects.create(project=project, name="keep")
    run = Run.objects.create(project=project, name="gone")
    for seq in range(3):
        log(
            server,
            api_key,
            run,
            [(seq * 100 + s, {"loss": 1.0 / (s + 1), "acc": s / 100}) for s in range(100)],
            seq,
        )
    log(server, api_key, keep, [(0, {"loss": 0.5})], 0)
    metric_ids = list(Metric.objects.filter(run=run).values_list("pk", flat=True))
    assert PointChunk.objects.filter(metric_id__in=metric_ids).count() > 0
    folder = artifact_root() / "checkpoints" / f"run-{run.pk}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ckpt.pt").write_bytes(b"weights")

    status, body = call(server, api_key, "DELETE", f"runs/{run.pk}")
    assert (status, body) == (202, {"deleted": [run.pk]})
    status, body = call(server, api_key, "GET", "projects/doomed/runs")
    assert [r["name"] for r in body["runs"]] == ["keep"]  # out of the list before the purge
    assert call(server, api_key, "GET", f"runs/{run.pk}")[0] == 404

    deadline = time.monotonic() + 60
    while Run.objects.filter(pk=run.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Run.objects.filter(pk=run.pk).exists()
    assert PointChunk.objects.filter(metric_id__in=metric_ids).count() == 0
    assert not Metric.objects.filter(pk__in=metric_ids).exists()
    assert not folder.exists()
    assert Metric.objects.filter(run=keep).count() == 1  # the other run untouched


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_bulk_bar_tags_and_deletes_ticked_runs(page, server, celery_worker, owner, api_key):
    project = Project.objects.create(owner=owner, name="bulk")
    runs = [Run.objects.create(project=project, name=f"run-{i}") for i in range(3)]
    for run in runs:
        log(server, api_key, run, [(0, {"val/acc": 0.5})], 0)
    login(page, server, owner, "/projects/bulk/")
    page.wait_for_selector("#live-indicator:not([hidden])")
    assert page.locator("#bulk-bar").is_hidden()
    for run in runs[:2]:
        page.check(f"tr[data-run='{run.pk}'] input.pick-run")
    assert page.locator("#bulk-count").inner_text() == "2 runs ticked"
    page.fill("#bulk-tag", "reviewed")
    page.click("#bulk-add-tag")
    page.wait_for_function(
        "id => document.querySelector(`tr[data-run='${id}'] .tag`)?.textContent === 'reviewed'",
        arg=runs[1].pk,
        timeout=15_000,
    )
    assert sorted(Run.objects.filter(tags__icontains="reviewed").values_list("name", flat=True)) == [
        "run-0",
        "run-1",
    ]
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-delete")
    page.wait_for_function(
        "() => document.querySelectorAll('#runs-table tbody tr[data-run]').length === 1", timeout=15_000
    )
    page.reload()
    names = page.locator("#runs-table tbody tr[data-run] td.name a:first-of-type").all_inner_texts()
    assert names == ["run-2"]
    assert page.errors == []
