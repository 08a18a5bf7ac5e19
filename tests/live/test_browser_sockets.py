"""One live connection per page, in a real browser (Chromium driven by Playwright against
a real uvicorn server, fed through the ingest API as the SDK feeds it).

The run page (charts, Health panel, media sections) and the project page (runs table,
health badges) each open exactly one websocket, so the server runs one heartbeat watchdog
per open page; and every kind of live update still arrives through it: new points, a
status change, findings and media on the run page; a new run, its fresh row, its badge and
its status in the runs table.
"""

import pytest

from experiments.models import Project, Run, RunStatus
from tests.browser import api, chart_traces, log, login
from tests.processes import ServerProcess, process_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A confusion matrix as the SDK uploads it.
MATRIX = {
    "uid": "cm-1",
    "kind": "confusion_matrix",
    "name": "val",
    "step": 2,
    "data": {"labels": ["cat", "dog"], "matrix": [[3, 1], [0, 4]]},
}


@pytest.fixture
def diagnosing_server(transactional_db, tmp_path):
    """A server that diagnoses a live run at most once a second, so findings arrive live."""
    proc = ServerProcess(
        {**process_env(), "TRACKER_DIAGNOSE_INTERVAL": "1"}, log_path=tmp_path / "server.log"
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def tab(browser):
    """A page that keeps the URL of every websocket it opens, and its script errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.sockets = []
    page.errors = []
    page.on("websocket", lambda socket: page.sockets.append(socket.url))
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def test_the_run_page_opens_one_websocket_and_every_section_follows_it(
    tab, diagnosing_server, owner, api_key
):
    server = diagnosing_server
    project = Project.objects.create(owner=owner, name="one-socket")
    run = Run.objects.create(project=project, name="live-run", status=RunStatus.RUNNING)
    log(server, api_key, run, [(0, {"train/loss": 1.0}), (1, {"train/loss": 0.8})], seq=0)
    login(tab, server, owner, f"/runs/{run.pk}/")
    tab.wait_for_selector("#live-indicator:not([hidden])")
    tab.wait_for_function("() => document.querySelector('#health-verdict').dataset.state === 'ok'")
    # The chart fetches its points on its own; the verdict may come first (CI saw it).
    assert chart_traces(tab, "loss")["train/loss"] == {"x": [0, 1], "y": [1.0, 0.8]}

    # Points: the chart grows. Its NaN makes the analyzers find a divergence: findings.
    log(server, api_key, run, [(2, {"train/loss": 0.6}), (3, {"train/loss": "NaN"})], seq=1)
    tab.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").data"
        ".some(t => t.meta && t.meta.kind === 'raw' && t.y.length === 4)"
    )
    tab.locator(".finding[data-kind='divergence']").wait_for(timeout=30_000)
    assert tab.locator("#health-verdict").inner_text().startswith("1 critical")

    # Media: the evaluation section appears with the matrix.
    assert tab.locator("#cm-card").is_hidden()
    api(server, api_key, f"runs/{run.pk}/media", {"items": [MATRIX]})
    tab.wait_for_function("() => (document.querySelector('#cm-chart').data || []).length === 1")
    assert tab.evaluate("() => document.querySelector('#cm-chart').data[0].z") == [[3, 1], [0, 4]]

    # Status: the badge changes.
    api(server, api_key, f"runs/{run.pk}/finish", {"status": "finished", "exit_code": 0})
    tab.wait_for_function("() => document.querySelector('#run-status').textContent === 'finished'")

    assert tab.sockets == [f"{server.url.replace('http', 'ws')}/ws/runs/{run.pk}/"]
    assert tab.errors == []


def test_the_project_page_opens_one_websocket_and_the_table_and_badges_follow_it(
    tab, diagnosing_server, owner, api_key
):
    server = diagnosing_server
    project = Project.objects.create(owner=owner, name="one-table")
    done = Run.objects.create(project=project, name="done", status=RunStatus.FINISHED)
    log(server, api_key, done, [(0, {"train/loss": 1.0})], seq=0)
    login(tab, server, owner, "/projects/one-table/")
    tab.wait_for_selector("#live-indicator:not([hidden])")

    # A new run: its row appears ("created"), then its points refresh it ("runs").
    new = api(server, api_key, "runs", {"project": "one-table", "name": "new"})["id"]
    row = tab.locator(f"#runs-table tr[data-run='{new}']")
    row.wait_for()
    log(server, api_key, Run.objects.get(pk=new), [(0, {"train/loss": 2.0}), (1, {"train/loss": 1.5})], seq=0)
    tab.wait_for_function(
        "id => { const row = document.querySelector(`#runs-table tr[data-run='${id}']`);"
        " return row && Array.from(row.cells).some(td => td.textContent === '1.5'); }",
        arg=new,
    )

    # Findings: a NaN loss is a divergence, and the row gets its health badge.
    log(server, api_key, Run.objects.get(pk=new), [(2, {"train/loss": "NaN"})], seq=1)
    row.locator(".health-badge").wait_for(timeout=30_000)
    assert row.locator(".health-badge").get_attribute("data-worst") == "critical"

    # Status: the row's badge changes.
    api(server, api_key, f"runs/{new}/finish", {"status": "failed", "exit_code": 1})
    tab.wait_for_function(
        "id => document.querySelector(`#runs-table tr[data-run='${id}'] .badge`).textContent === 'failed'",
        arg=new,
    )

    assert tab.sockets == [f"{server.url.replace('http', 'ws')}/ws/projects/{project.pk}/"]
    assert tab.errors == []
