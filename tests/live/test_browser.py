"""Live pages in a real browser, fed by the real SDK: Chromium (Debian's) driven by
Playwright against a real uvicorn server, with training scripts run as subprocesses.

A run logging in the background shows up in its project's runs table and its chart
grows, without a reload; a client killed with SIGKILL turns ``crashed`` on screen. The
rows endpoint behind the live table is tested through Django's test client at the end.
"""

import html
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.urls import reverse

from experiments.models import Metric, Project, Run, RunStatus
from tests.browser import api, chart_traces, log, login
from tests.processes import ROOT, ServerProcess, process_env

CRASH_AFTER_SECONDS = 3

# A training script: logs train/loss = 1/(step+1) until told to stop on stdin ("stream"),
# or logs five points and then idles, heartbeating, until it is killed ("idle").
CLIENT = textwrap.dedent(
    """
    import sys, threading, time, tracker
    project, name, mode = sys.argv[1:4]
    run = tracker.init(project=project, name=name, config={"lr": 0.01, "width": 64})
    print(run.id, flush=True)
    if mode == "stream":
        stop = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        step = 0
        while not stop.is_set():
            tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
            step += 1
            time.sleep(0.02)
        tracker.finish()
        print(step, flush=True)
    else:
        for step in range(5):
            tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
        run.flush(10)
        print("ready", flush=True)
        time.sleep(600)
    """
)


def loss(step: int) -> float:
    return 1.0 / (step + 1)


@pytest.fixture
def training(api_key, tmp_path):
    """Starts training scripts against a server; kills whatever is left at the end."""
    script = tmp_path / "train.py"
    script.write_text(CLIENT)
    started: list[subprocess.Popen] = []

    def start(server, project: str, name: str, mode: str) -> tuple[subprocess.Popen, int]:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TRACKER_SERVER": server.url,
            "TRACKER_API_KEY": api_key,
            "TRACKER_DIR": str(tmp_path / "spool"),
            "TRACKER_FLUSH_INTERVAL": "0.1",
            "TRACKER_HEARTBEAT_INTERVAL": "0.5",
        }
        env.pop("TRACKER_RUN_ID", None)
        proc = subprocess.Popen(
            [sys.executable, str(script), project, name, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(proc)
        return proc, int(proc.stdout.readline())

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture
def crash_server(transactional_db, tmp_path):
    """A server that calls a run crashed after CRASH_AFTER_SECONDS without a heartbeat."""
    env = {**process_env(), "TRACKER_CRASH_AFTER_SECONDS": str(CRASH_AFTER_SECONDS)}
    proc = ServerProcess(env, log_path=tmp_path / "crash-server.log")
    proc.start()
    yield proc
    proc.stop()


def table_names(tab) -> list[str]:
    return tab.locator("#runs-table tbody tr[data-run] td.name a:first-of-type").all_inner_texts()


# The text of a run's last/best cell for a metric, located from the table's header: five
# run columns, the config group, then a last/best pair per metric (null while the row or
# the column is not there).
CELL = """(id, key, which) => {
    const table = document.getElementById("runs-table");
    const row = table.querySelector(`tr[data-run="${id}"]`);
    const heads = table.querySelectorAll("thead th.metric-head");
    const metrics = Array.from(heads, (th) => th.firstChild.textContent.trim());
    if (!row || !metrics.includes(key)) return null;
    const config = table.querySelector("thead th.group-head:not(.metric-head)");
    const configCount = config ? config.colSpan : 0;
    return row.cells[5 + configCount + 2 * metrics.indexOf(key) + (which === "best" ? 1 : 0)].textContent;
}"""


def metric_cell(tab, run_id: int, key: str, which: str = "last") -> str | None:
    return tab.evaluate(f"([id, key, which]) => ({CELL})(id, key, which)", [run_id, key, which])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_run_logging_in_the_background_appears_live_and_its_chart_grows(
    page,
    server,
    owner,
    api_key,
    training,
):
    project = Project.objects.create(owner=owner, name="stream")
    baseline = Run.objects.create(
        project=project, name="baseline", status=RunStatus.FINISHED, config={"lr": 0.1, "width": 32}
    )
    log(server, api_key, baseline, [(0, {"train/loss": 2.0})], seq=0)
    login(page, server, owner, "/projects/stream/")
    page.wait_for_selector("#live-indicator:not([hidden])")
    page.evaluate("() => { window.notReloaded = true; }")
    assert table_names(page) == ["baseline"]

    client, run_id = training(server, "stream", "background", "stream")

    row = page.locator(f"#runs-table tr[data-run='{run_id}']")
    row.wait_for()
    assert table_names(page) == ["background", "baseline"]  # newest first, as sorted
    assert row.locator(".badge").inner_text() == "running"
    assert page.locator("#status-counts").inner_text().split() == [
        "2",
        "runs",
        "1",
        "running",
        "1",
        "finished",
    ]
    page.wait_for_function(f"id => !!({CELL})(id, 'train/loss', 'last')", arg=run_id)
    first = metric_cell(page, run_id, "train/loss")
    page.wait_for_function(
        f"([id, first]) => ({CELL})(id, 'train/loss', 'last') !== first", arg=[run_id, first]
    )
    later = metric_cell(page, run_id, "train/loss")
    for text in (first, later):  # 1/(k+1) for some step k, as the table formats it
        step = round(1 / float(text)) - 1
        assert text == f"{loss(step):.4g}"
    assert float(later) < float(first)
    assert metric_cell(page, run_id, "train/loss", "best") == later  # a loss: the minimum, the newest
    assert page.evaluate("() => window.notReloaded") is True

    page.goto(f"{server.url}/runs/{run_id}/")
    page.wait_for_selector("#live-indicator:not([hidden])")
    page.evaluate("() => { window.notReloaded = true; }")
    before = chart_traces(page, "loss")["train/loss"]
    n = len(before["x"])
    assert n > 0
    assert before["x"] == list(range(n))
    assert before["y"] == [loss(s) for s in range(n)]
    page.wait_for_function(
        "n => document.querySelector(\"[data-chart='loss'] .chart\").data"
        ".find(t => t.meta.kind === 'raw').x.length > n",
        arg=n,
    )
    after = chart_traces(page, "loss")["train/loss"]
    assert len(after["x"]) > n
    assert after["x"] == list(range(len(after["x"])))  # what was logged so far, in order
    assert after["y"] == [loss(s) for s in after["x"]]

    client.stdin.write("stop\n")
    client.stdin.flush()
    logged = int(client.stdout.readline())
    assert client.wait(30) == 0
    page.wait_for_function("() => document.querySelector('#run-status').textContent === 'finished'")
    page.wait_for_function(
        "n => document.querySelector(\"[data-chart='loss'] .chart\").data"
        ".find(t => t.meta.kind === 'raw').x.length === n",
        arg=logged,
    )
    final = chart_traces(page, "loss")["train/loss"]
    assert final["y"] == [loss(s) for s in range(logged)]  # every point the script logged
    assert page.evaluate("() => window.notReloaded") is True
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_killed_client_turns_crashed_on_the_run_page_and_in_the_runs_table(
    page,
    crash_server,
    owner,
    training,
):
    client, run_id = training(crash_server, "fragile", "doomed", "idle")
    assert client.stdout.readline().strip() == "ready"
    ready_at = time.monotonic()
    login(page, crash_server, owner, f"/runs/{run_id}/")
    table = page.context.new_page()
    table.on("pageerror", lambda exc: page.errors.append(str(exc)))
    table.goto(f"{crash_server.url}/projects/fragile/")
    for p in (page, table):
        p.wait_for_selector("#live-indicator:not([hidden])")
    row_badge = table.locator(f"#runs-table tr[data-run='{run_id}'] .badge")

    # Idle but alive: heartbeats keep it running past the crash timeout.
    time.sleep(max(0.0, CRASH_AFTER_SECONDS + 1 - (time.monotonic() - ready_at)))
    assert page.locator("#run-status").inner_text() == "running"
    assert row_badge.inner_text() == "running"
    assert Run.objects.get(pk=run_id).status == RunStatus.RUNNING

    client.send_signal(signal.SIGKILL)
    client.wait(10)
    killed_at = time.monotonic()
    page.wait_for_function(
        "() => document.querySelector('#run-status').textContent === 'crashed'", timeout=15_000
    )
    seen_after = time.monotonic() - killed_at
    table.wait_for_function(
        "id => document.querySelector(`#runs-table tr[data-run='${id}'] .badge`).textContent === 'crashed'",
        arg=run_id,
        timeout=5_000,
    )
    assert "badge-crashed" in page.locator("#run-status").get_attribute("class")
    assert "badge-crashed" in row_badge.get_attribute("class")
    assert "1 crashed" in table.locator("#status-counts").inner_text()
    assert Run.objects.get(pk=run_id).status == RunStatus.CRASHED
    # The last heartbeat was at most 0.5 s before the kill; the verdict waits for the timeout.
    assert CRASH_AFTER_SECONDS - 1 < seen_after < CRASH_AFTER_SECONDS + 6
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_live_rows_keep_the_sort_and_the_default_columns_grow_with_the_first_metrics(
    page,
    server,
    owner,
    api_key,
):
    Project.objects.create(owner=owner, name="fresh")
    login(page, server, owner, "/projects/fresh/?sort=-last:val/acc")
    assert page.locator("#no-runs").is_visible()
    assert "val/acc" not in page.locator("#runs-table thead").inner_text()

    ids = {}
    for name in ("a", "b"):
        ids[name] = api(server, api_key, "runs", {"project": "fresh", "name": name, "config": {"lr": 0.1}})[
            "id"
        ]
    runs = {name: Run.objects.get(pk=pk) for name, pk in ids.items()}
    log(server, api_key, runs["a"], [(0, {"val/acc": 0.5})], seq=0)
    log(server, api_key, runs["b"], [(0, {"val/acc": 0.7})], seq=0)
    # The first metric of the project becomes a column (the page shows default columns).
    page.wait_for_function(
        "() => document.querySelector('#runs-table thead').textContent.includes('val/acc')"
    )
    page.wait_for_function(
        f"ids => ids.every(id => !!({CELL})(id, 'val/acc', 'last'))", arg=list(ids.values())
    )
    assert table_names(page) == ["b", "a"]  # best accuracy first
    assert page.locator("#no-runs").count() == 0
    assert page.locator("#columns-form input[name=m][value='val/acc']").count() == 1

    log(server, api_key, runs["a"], [(1, {"val/acc": 0.9})], seq=1)
    page.wait_for_function(f"id => ({CELL})(id, 'val/acc', 'last') === '0.9'", arg=ids["a"])
    assert table_names(page) == ["a", "b"]  # moved up by its new last value

    page.fill("#run-filter", "b")
    api(server, api_key, f"runs/{ids['b']}/finish", {"status": "finished", "exit_code": 0})
    page.wait_for_function(
        "id => document.querySelector(`#runs-table tr[data-run='${id}'] .badge`).textContent === 'finished'",
        arg=ids["b"],
    )
    assert table_names(page) == ["a", "b"]
    visible = page.locator("#runs-table tbody tr[data-run]:visible td.name a:first-of-type").all_inner_texts()
    assert visible == ["b"]  # a refreshed row still honours the filter
    assert page.errors == []


# --- the rows endpoint ------------------------------------------------------------------


def rows_url(name: str) -> str:
    return reverse("project-rows", args=[name])


def data_sort(row_html: str) -> str:
    """A row's ``data-sort``, as the page reads it (character references decoded)."""
    return html.unescape(re.search(r'data-sort="([^"]*)"', row_html).group(1))


@pytest.mark.django_db
def test_rows_returns_the_asked_runs_with_the_chosen_columns_and_sort_values(
    client, owner, django_assert_max_num_queries
):
    project = Project.objects.create(owner=owner, name="p")
    a = Run.objects.create(project=project, name="a", config={"lr": 0.1, "seed": 1})
    b = Run.objects.create(project=project, name="b", status=RunStatus.CRASHED, config={"lr": 0.2})
    Run.objects.create(project=project, name="not-asked")
    Metric.objects.create(run=a, key="val/loss", count=3, last_value=0.5, min_value=0.25, min_step=1)
    Metric.objects.create(run=a, key="val/acc", count=3, last_value=float("inf"), max_value=0.75)
    Metric.objects.create(run=b, key="val/loss", count=1, last_value=None)  # a NaN last point
    client.force_login(owner)

    # session, user, project, whether the user sees its runs, runs, metrics, keys (+ directions)
    with django_assert_max_num_queries(9):
        response = client.get(
            rows_url("p"),
            {
                "run": [a.pk, b.pk],
                "cols": "1",
                "c": ["lr"],
                "m": ["val/loss", "val/acc"],
                "sort": "-last:val/acc",
            },
        )

    assert response.status_code == 200
    body = response.json()
    assert [r["run"] for r in body["rows"]] == [a.pk, b.pk]
    assert [r["status"] for r in body["rows"]] == ["running", "crashed"]
    a_html, b_html = (r["html"] for r in body["rows"])
    assert f'data-run="{a.pk}"' in a_html and 'data-status="running"' in a_html
    assert data_sort(a_html) == '[0,"Infinity",""]'  # inf, which JSON lacks
    assert data_sort(b_html) == '[3,0,""]'  # missing: last in both directions
    assert ">0.5<" in a_html and ">0.25<" in a_html and ">inf<" in a_html and ">NaN<" in b_html
    assert "seed" not in a_html and ">0.1<" in a_html
    assert body["config_keys"] == ["lr", "seed"]
    assert body["metric_keys"] == ["val/acc", "val/loss"]


@pytest.mark.django_db
def test_rows_shows_nothing_of_another_users_project_and_names_a_bad_field(client, owner, stranger):
    project = Project.objects.create(owner=owner, name="p")
    run = Run.objects.create(project=project, name="secret")
    Project.objects.create(owner=stranger, name="p")
    client.force_login(stranger)

    mine = client.get(rows_url("p"), {"run": [run.pk], "cols": "1"})
    bad = client.get(rows_url("p"), {"run": ["x"]})
    client.logout()
    anonymous = client.get(rows_url("p"), {"run": [run.pk]})

    assert mine.status_code == 200 and mine.json()["rows"] == []  # their own "p": not this run
    assert bad.status_code == 400 and bad.json() == {"error": "must be an integer, got 'x'", "field": "run"}
    assert anonymous.status_code == 302
