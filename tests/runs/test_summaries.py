"""Which figures each metric column of the runs table shows (issue #16): last and best by
default, any of last / best / min / max on request (``s`` in the URL, the column menu's
"Show for each metric"), sorted in SQL by any of them, kept by live row updates, saved
views and the export, and remembered by the browser like the columns."""

import csv
import io
import re

import pytest
from django.urls import reverse

from experiments.models import Metric, Project, Run
from tests.browser import login

pytestmark = pytest.mark.django_db

# name: (last, min at step, max at step) of train/loss
LOSSES = {"a": (0.30, 0.20, 4, 0.90, 0), "b": (0.50, 0.10, 7, 0.80, 0), "c": (0.25, 0.25, 9, 0.70, 1)}


@pytest.fixture
def project(owner) -> Project:
    project = Project.objects.create(owner=owner, name="figures")
    for name, (last, low, low_step, high, high_step) in LOSSES.items():
        run = Run.objects.create(project=project, name=name, status="finished")
        Metric.objects.create(
            run=run,
            key="train/loss",
            count=10,
            last_step=9,
            last_value=last,
            min_value=low,
            min_step=low_step,
            max_value=high,
            max_step=high_step,
        )
    Run.objects.create(project=project, name="d", status="finished")  # never logged it
    return project


def _table(html: str) -> tuple[list[str], list[list[str]]]:
    """The metric sub-headers and, per row, the cells after the five run columns."""
    head = re.findall(r'<th class="num sub"><a [^>]*>(\w+)<span', html)
    rows = re.findall(r"<tr data-run=.*?</tr>", html, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[5:] for row in rows]
    return head, cells


def _names(html: str) -> list[str]:
    return re.findall(r'<td class="name"><a [^>]*>(\w+)</a>', html)


def test_last_and_best_by_default_any_summaries_on_request(client, owner, project):
    client.force_login(owner)
    base = {"cols": "1", "m": "train/loss"}

    head, _ = _table(client.get("/projects/figures/", base).content.decode())
    assert head == ["last", "best"]

    page = client.get("/projects/figures/", {**base, "s": ["max", "min", "bogus"], "sort": "min:train/loss"})
    html = page.content.decode()
    head, cells = _table(html)
    assert head == ["min", "max"]  # in the table's order, unknown ones dropped
    assert _names(html) == ["b", "a", "c", "d"]  # lowest min first, the run without it last
    assert cells == [["0.1", "0.8"], ["0.2", "0.9"], ["0.25", "0.7"], ["", ""]]
    assert 'title="at step 7">0.1<' in html and 'title="at step 1">0.7<' in html
    # Sort links and the filter form keep the choice.
    assert "s=min&amp;s=max" in html or "s=min&s=max" in html
    assert '<input type="hidden" name="s" value="min">' in html
    assert 'name="s" value="max" checked' in html and 'name="s" value="last">' in html

    descending = client.get("/projects/figures/", {**base, "s": "max", "sort": "-max:train/loss"})
    assert _names(descending.content.decode()) == ["a", "b", "c", "d"]


def test_live_rows_and_the_export_follow_the_choice(client, owner, project):
    client.force_login(owner)
    ids = list(Run.objects.filter(project=project).order_by("name").values_list("pk", flat=True))
    rows = client.get(
        reverse("project-rows", args=["figures"]),
        {"run": ids[:2], "cols": "1", "m": "train/loss", "s": ["last", "min", "max"]},
    ).json()["rows"]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row["html"])[5:] for row in rows]
    assert sorted(cells) == [["0.3", "0.2", "0.9"], ["0.5", "0.1", "0.8"]]

    response = client.get(
        "/projects/figures/runs.csv", {"cols": "1", "m": "train/loss", "s": ["best", "max"], "sort": "name"}
    )
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [k for k in table[0] if k.startswith("train/loss")] == ["train/loss.best", "train/loss.max"]
    assert [(r["name"], r["train/loss.best"], r["train/loss.max"]) for r in table] == [
        ("a", "0.2", "0.9"),
        ("b", "0.1", "0.8"),
        ("c", "0.25", "0.7"),
        ("d", "", ""),
    ]


def test_a_saved_view_keeps_the_summaries(client, owner, project):
    client.force_login(owner)
    state = "cols=1&m=train%2Floss&s=min&s=max&sort=min%3Atrain%2Floss"
    response = client.post(reverse("project-view-save", args=["figures"]), {"view": "lows", "query": state})
    assert response.status_code == 302
    assert response["Location"] == f"/projects/figures/?{state}"
    head, _ = _table(client.get(response["Location"]).content.decode())
    assert head == ["min", "max"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_column_menu_chooses_the_summaries_and_the_browser_remembers(page, server, owner, project):
    login(page, server, owner, "/projects/figures/")
    subheads = "#runs-table thead th.sub"
    assert page.locator(subheads).all_inner_texts()[:2] == ["last", "best"]

    page.click("#columns-menu summary")
    page.uncheck("#columns-summaries input[value=best]")
    page.check("#columns-summaries input[value=min]")
    page.check("#columns-summaries input[value=max]")
    page.click("#columns-form button[type=submit]")
    page.wait_for_url(re.compile(r"s=min"))
    assert [t.strip() for t in page.locator(subheads).all_inner_texts()] == ["last", "min", "max"]
    row = page.locator("#runs-table tbody tr[data-run]", has_text="b")
    assert [t.strip() for t in row.locator("td").all_inner_texts()[5:]] == ["0.5", "0.1", "0.8"]

    page.goto(f"{server.url}/projects/figures/")  # the bare URL: the saved choice comes back
    page.wait_for_url(re.compile(r"s=max"))
    assert [t.strip() for t in page.locator(subheads).all_inner_texts()] == ["last", "min", "max"]
