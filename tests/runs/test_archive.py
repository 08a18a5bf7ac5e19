"""Archiving runs (issue #16): an archived run keeps everything but leaves the runs table,
the API's lists, exports and the SDK's ``Api().runs`` until restored; ``archived=1`` lists
the archived ones. From the API, in bulk, and from the run page's Edit panel (a real
browser), where notes are also edited and shown as Markdown that cannot carry markup."""

import pytest

import tracker
from experiments.models import Metric, Project, Run
from tests.api.test_run_search import get
from tests.browser import log, login
from tests.runs.test_manage import call

pytestmark = pytest.mark.django_db(transaction=True)


def make_runs(owner) -> list[Run]:
    project = Project.objects.create(owner=owner, name="arch")
    runs = []
    for i in range(3):
        run = Run.objects.create(project=project, name=f"r{i}", config={"lr": 0.1 * (i + 1)})
        Metric.objects.create(run=run, key="val/acc", count=1, last_step=0, last_value=i / 3, max_value=i / 3)
        runs.append(run)
    return runs


def names(body: dict) -> list[str]:
    return sorted(r["name"] for r in body["runs"])


def test_archive_and_restore_through_the_api(server, owner, api_key, monkeypatch):
    runs = make_runs(owner)
    status, body = call(server, api_key, "PATCH", f"runs/{runs[0].pk}", {"archived": True})
    assert status == 200 and body["archived_at"] is not None
    runs[0].refresh_from_db()
    assert runs[0].archived_at is not None
    assert runs[0].metrics.get().last_value == 0.0  # kept
    assert names(get(server, api_key, "/api/v1/projects/arch/runs")[1]) == ["r1", "r2"]
    assert names(get(server, api_key, "/api/v1/projects/arch/runs?archived=true")[1]) == ["r0"]
    assert names(get(server, api_key, "/api/v1/projects/arch/runs?archived=any")[1]) == ["r0", "r1", "r2"]
    status, body = get(server, api_key, "/api/v1/projects/arch/runs?archived=maybe")
    assert status == 400 and body["field"] == "archived" and "true, false or any" in body["error"]
    status, body = call(server, api_key, "PATCH", f"runs/{runs[0].pk}", {"archived": "yes"})
    assert status == 400 and body["field"] == "archived"
    # The SDK: archived runs left out unless asked for.
    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    api = tracker.Api()
    assert sorted(r.name for r in api.runs("arch")) == ["r1", "r2"]
    assert [r.name for r in api.runs("arch", archived=True)] == ["r0"]
    assert len(api.runs("arch", archived=None)) == 3
    # Bulk: restore r0, archive r1 and r2; a second archive changes nothing.
    status, body = call(server, api_key, "POST", "runs/bulk", {"action": "restore", "runs": [runs[0].pk]})
    assert status == 200 and body["changed"] == [runs[0].pk]
    ids = [runs[1].pk, runs[2].pk]
    assert call(server, api_key, "POST", "runs/bulk", {"action": "archive", "runs": ids})[1]["changed"] == ids
    assert call(server, api_key, "POST", "runs/bulk", {"action": "archive", "runs": ids})[1]["changed"] == []
    assert names(get(server, api_key, "/api/v1/projects/arch/runs")[1]) == ["r0"]


def test_a_stranger_cannot_archive(server, owner, stranger_api_key):
    run = make_runs(owner)[0]
    status, _body = call(server, stranger_api_key, "PATCH", f"runs/{run.pk}", {"archived": True})
    assert status == 404
    run.refresh_from_db()
    assert run.archived_at is None


def test_the_runs_history_of_a_set_of_runs_is_one_dataframe(server, owner, api_key, monkeypatch):
    project = Project.objects.create(owner=owner, name="hist")
    runs = [Run.objects.create(project=project, name=f"h{i}") for i in range(2)]
    for i, run in enumerate(runs):
        log(server, api_key, run, [(s, {"train/loss": (i + 1) / (s + 1)}) for s in range(4)], seq=0)
    monkeypatch.setenv("TRACKER_SERVER", server.url)
    monkeypatch.setenv("TRACKER_API_KEY", api_key)
    frame = tracker.Api().runs("hist", order="name").history(["train/loss"])
    assert list(frame.columns) == ["run", "name", "key", "step", "value", "wall_time", "rank"]
    assert len(frame) == 8
    assert frame[frame.name == "h1"].value.tolist() == [2 / (s + 1) for s in range(4)]
    records = tracker.Api().runs("hist", order="name").history("train/loss", pandas=False)
    assert records[0]["name"] == "h0" and records[0]["step"] == 0 and records[0]["value"] == 1.0


def test_the_table_hides_archived_runs_and_lists_them_apart(client, owner):
    runs = make_runs(owner)
    Run.objects.filter(pk=runs[2].pk).update(archived_at=runs[2].created_at)
    client.force_login(owner)
    html = client.get("/projects/arch/").content.decode()
    assert f'data-run="{runs[2].pk}"' not in html and f'data-run="{runs[0].pk}"' in html
    assert 'id="archived-toggle">1 archived</a>' in html
    html = client.get("/projects/arch/", {"archived": "1"}).content.decode()
    assert f'data-run="{runs[2].pk}"' in html and f'data-run="{runs[0].pk}"' not in html
    assert 'id="bulk-restore"' in html
    body = b"".join(client.get("/projects/arch/runs.csv").streaming_content).decode()
    assert "r2" not in body and "r0" in body


def test_edit_notes_archive_and_delete_from_the_run_page(page, server, celery_worker, owner, api_key):
    run = make_runs(owner)[0]
    login(page, server, owner, f"/runs/{run.pk}/")
    page.click("#run-edit summary")
    page.fill("#run-edit-form input[name=name]", "renamed")
    page.fill("#run-edit-form input[name=tags]", "good, lr-sweep")
    notes = "# Why\nThe **lr** was `0.1`; see [the paper](https://example.org/x).\n\n- one\n- two\n\n"
    payload = "<img src=x onerror=window.__xss=1> [bad](javascript:window.__xss=1)"
    page.fill("#run-edit-form textarea[name=notes]", notes + payload)
    page.click("#run-save")
    page.wait_for_selector("#run-notes h3")
    run.refresh_from_db()
    assert (run.name, run.tags) == ("renamed", ["good", "lr-sweep"])
    assert run.notes == notes + payload
    assert page.inner_text("h1") == "renamed"
    notes_el = page.locator("#run-notes")
    assert notes_el.locator("h3").inner_text() == "Why"
    assert notes_el.locator("strong").inner_text() == "lr"
    assert notes_el.locator("code").inner_text() == "0.1"
    assert notes_el.locator("a").get_attribute("href") == "https://example.org/x"
    assert notes_el.locator("li").all_inner_texts() == ["one", "two"]
    assert notes_el.locator("img").count() == 0  # the payload is text
    assert "<img src=x onerror=window.__xss=1>" in notes_el.inner_text()
    assert page.evaluate("() => window.__xss") is None
    # Archive: the badge, and the run leaves the table.
    page.click("#run-edit summary")
    page.click("#run-archive")
    page.wait_for_selector("#run-archived")
    run.refresh_from_db()
    assert run.archived_at is not None
    page.click("#run-edit summary")
    page.click("#run-restore")
    page.wait_for_selector("#run-archive", state="attached")
    run.refresh_from_db()
    assert run.archived_at is None
    # Delete returns to the project, where the run is gone.
    page.click("#run-edit summary")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#run-delete")
    page.wait_for_url(f"{server.url}/projects/arch/")
    assert page.locator(f"tr[data-run='{run.pk}']").count() == 0
    assert page.errors == []
