"""The runs table's query bar: the filter language (experiments.filters) narrows the
table server-side, sort links and the column menu keep it, a wrong query answers 400 with
the message and the column, and live rows that stop matching leave the table."""

import pytest

from experiments.models import Metric, Project, Run
from tests.browser import api, log, login


def make_runs(owner) -> dict[str, Run]:
    project = Project.objects.create(owner=owner, name="grid")
    runs = {}
    for name, lr, acc, status in [
        ("fast", 0.1, 0.91, "finished"),
        ("slow", 0.001, 0.97, "finished"),
        ("broken", 0.5, 0.2, "failed"),
    ]:
        run = Run.objects.create(project=project, name=name, config={"lr": lr}, status=status)
        Metric.objects.create(run=run, key="val/acc", count=1, last_step=0, last_value=acc, max_value=acc)
        runs[name] = run
    return runs


def row_names(html: str) -> list[str]:
    import re

    return sorted(re.findall(r'<td class="name"><a [^>]*>([^<]+)</a>', html))


@pytest.mark.django_db
def test_the_query_narrows_the_table_and_links_keep_it(client, owner):
    make_runs(owner)
    client.force_login(owner)
    response = client.get("/projects/grid/", {"q": "config.lr >= 0.1 and status = finished"})
    assert response.status_code == 200
    html = response.content.decode()
    assert row_names(html) == ["fast"]
    assert 'value="config.lr &gt;= 0.1 and status = finished"' in html
    # Sorting by a column keeps the filter.
    assert "q=config.lr+%3E%3D+0.1+and+status+%3D+finished" in html
    response = client.get("/projects/grid/", {"q": "val/acc.max > 0.9"})
    assert row_names(response.content.decode()) == ["fast", "slow"]
    response = client.get("/projects/grid/", {"q": "val/acc > 0.99"})
    assert "No run matches the filter." in response.content.decode()


@pytest.mark.django_db
def test_a_wrong_query_says_what_and_where(client, owner):
    make_runs(owner)
    client.force_login(owner)
    response = client.get("/projects/grid/", {"q": "config.lr > fast"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="query-error"' in html
    assert "config.lr &gt; needs a number, got &#x27;fast&#x27;" in html
    assert "at column 11" in html
    assert row_names(html) == []


@pytest.mark.django_db
def test_live_rows_that_stop_matching_come_back_as_gone(client, owner):
    runs = make_runs(owner)
    client.force_login(owner)
    ids = [runs["fast"].pk, runs["broken"].pk]
    params = [("run", i) for i in ids] + [("q", "status = finished"), ("sort", "-created")]
    body = client.get("/projects/grid/rows.json", params).json()
    assert [r["run"] for r in body["rows"]] == [runs["fast"].pk]
    assert body["gone"] == [runs["broken"].pk]
    bad = client.get("/projects/grid/rows.json", [("run", ids[0]), ("q", "status = ")])
    assert bad.status_code == 400 and bad.json()["field"] == "q"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_typing_a_query_filters_and_a_run_that_stops_matching_leaves_live(page, server, owner, api_key):
    runs = make_runs(owner)
    running = Run.objects.create(project=runs["fast"].project, name="live-one", config={"lr": 0.2})
    log(server, api_key, running, [(0, {"val/acc": 0.5})], seq=0)
    login(page, server, owner, "/projects/grid/")
    page.fill("#run-query", "config.lr > 0.05 and status = running")
    page.press("#run-query", "Enter")
    page.wait_for_url("**q=config.lr**")
    names = page.locator("#runs-table tbody tr[data-run] td.name a:first-of-type")
    assert names.all_inner_texts() == ["live-one"]
    page.wait_for_selector("#live-indicator:not([hidden])")

    api(server, api_key, f"runs/{running.pk}/finish", {"status": "finished", "exit_code": 0})
    page.wait_for_function("() => !document.querySelector('#runs-table tbody tr[data-run]')", timeout=15_000)

    page.fill("#run-query", "config.lr >")
    page.press("#run-query", "Enter")
    page.wait_for_selector("#query-error")
    assert "expected a value" in page.locator("#query-error").inner_text()
    assert page.errors == []
