"""The pages in a real browser: Chromium (Debian's) driven by Playwright against a real
uvicorn server, so the JavaScript, Plotly and the websocket are exercised end to end.

``TRACKER_SCREENSHOT=1`` also rewrites the README screenshot static/screenshots/run-page.png.
"""

import math
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from experiments.models import Project, Run, RunStatus
from tests.browser import api, chart_traces, log, login
from tests.processes import ROOT

SCREENSHOT = ROOT / "static" / "screenshots" / "run-page.png"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_then_run_page_plots_the_logged_points(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="digits")
    run = Run.objects.create(project=project, name="cnn-small", status=RunStatus.RUNNING)
    train = [1.0, 0.75, 0.5, "NaN", 0.25]
    val = [1.5, 1.25, 1.0, "NaN", 0.75]
    rows = [(s, {"train/loss": t, "val/loss": v, "lr": 0.1}) for s, (t, v) in enumerate(zip(train, val))]
    log(server, api_key, run, rows, seq=0)

    login(page, server, owner, f"/runs/{run.pk}/")

    assert page.locator("h1").inner_text() == "cnn-small"
    assert page.locator("#run-status").inner_text() == "running"
    loss = chart_traces(page, "loss")
    assert set(loss) == {"train/loss", "val/loss"}  # train/x and val/x share the chart "x"
    assert loss["train/loss"]["x"] == [0, 1, 2, 3, 4]
    assert loss["train/loss"]["y"] == [1.0, 0.75, 0.5, None, 0.25]  # NaN is a gap
    assert loss["val/loss"]["y"] == [1.5, 1.25, 1.0, None, 0.75]
    markers = page.evaluate(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").data"
        ".filter(t => t.meta && t.meta.kind === 'nonfinite').map(t => Array.from(t.x))"
    )
    assert markers == [[3, 3]]  # the NaN of both series, marked at the chart's edge
    assert chart_traces(page, "lr")["lr"]["y"] == [0.1] * 5
    assert page.errors == []


def test_run_page_follows_new_points_and_status_live(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="live")
    run = Run.objects.create(project=project, name="live-run", status=RunStatus.RUNNING)
    log(server, api_key, run, [(0, {"train/loss": 2.0})], seq=0)
    login(page, server, owner, f"/runs/{run.pk}/")
    assert chart_traces(page, "loss")["train/loss"]["y"] == [2.0]
    page.wait_for_selector("#live-indicator:not([hidden])")

    log(server, api_key, run, [(1, {"train/loss": 1.5}), (2, {"val/acc": 0.5})], seq=1)
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[data-chart='loss'] .chart\");"
        " return el.data.some(t => t.meta && t.meta.kind === 'raw' && t.y.length === 2); }"
    )
    assert chart_traces(page, "loss")["train/loss"]["y"] == [2.0, 1.5]
    # A key the page had never seen gets a chart of its own, titled with the key.
    assert chart_traces(page, "acc")["val/acc"]["y"] == [0.5]
    assert page.locator("[data-chart='acc'] .chart-title").inner_text() == "val/acc"

    api(server, api_key, f"runs/{run.pk}/finish", {"status": "failed", "exit_code": 1})
    page.wait_for_function("() => document.querySelector('#run-status').textContent === 'failed'")
    assert "badge-failed" in page.locator("#run-status").get_attribute("class")
    assert page.errors == []


def test_run_page_reconnects_after_the_server_restarts_and_catches_up(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="restart")
    run = Run.objects.create(project=project, name="restart-run")
    log(server, api_key, run, [(0, {"loss": 1.0})], seq=0)
    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector("#live-indicator:not([hidden])")

    server.stop()
    page.wait_for_selector("#live-indicator", state="hidden")
    server.start()
    log(server, api_key, run, [(1, {"loss": 0.5})], seq=1)  # possibly before the page is back

    page.wait_for_selector("#live-indicator:not([hidden])", timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\")?.data?.[0]?.y?.length === 2"
    )
    assert chart_traces(page, "loss")["loss"]["y"] == [1.0, 0.5]


def test_chart_controls_smoothing_log_scale_and_time_axis(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="controls")
    run = Run.objects.create(project=project, name="controls-run")
    t0 = run.started_at.timestamp() + 10
    log(server, api_key, run, [(s, {"train/loss": 4.0 / (1 + s)}) for s in range(60)], seq=0, t0=t0)
    login(page, server, owner, f"/runs/{run.pk}/")
    kinds = "() => document.querySelector(\"[data-chart='loss'] .chart\").data.map(t => t.meta.kind)"
    layout = "() => document.querySelector(\"[data-chart='loss'] .chart\").layout"
    chart_traces(page, "loss")
    assert page.evaluate(kinds) == ["raw", "smoothed"]

    smoothed = chart_traces(page, "loss", kind="smoothed")["train/loss"]["y"]
    # TensorBoard's debiased EMA: the first point is the first value, then it lags behind.
    assert smoothed[0] == pytest.approx(4.0)
    assert smoothed[1] == pytest.approx((0.4 * 0.6 * 4.0 + 0.4 * 2.0) / (1 - 0.6**2))

    page.fill("#smoothing", "0")
    page.dispatch_event("#smoothing", "input")
    page.wait_for_function(f"() => ({kinds})().length === 1")
    page.check("#log-y")
    page.wait_for_function(f"() => ({layout})().yaxis.type === 'log'")
    page.select_option("#x-axis", "relative")
    page.wait_for_function(f"() => ({layout})().xaxis.title.text === 'time (s)'")
    relative = chart_traces(page, "loss")["train/loss"]["x"]
    assert relative == pytest.approx([10 + s for s in range(60)], abs=1e-3)
    page.reload()  # the controls are remembered
    chart_traces(page, "loss")
    assert page.is_checked("#log-y")
    assert page.input_value("#x-axis") == "relative"
    assert page.errors == []


def test_project_page_lists_runs_and_remembers_chosen_columns(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="sweep")
    for i, lr in enumerate([0.1, 0.01, 0.001]):
        run = Run.objects.create(project=project, name=f"lr-{lr}", config={"lr": lr, "seed": i})
        log(server, api_key, run, [(0, {"val/acc": 0.5 + i / 10, "val/loss": 1.0 - i / 10})], seq=0)

    login(page, server, owner, "/projects/sweep/")

    assert page.locator("#runs-table tbody tr").count() == 3
    page.click("#columns-menu summary")
    page.uncheck("input[name=m][value='val/loss']")
    page.click("#columns-form button[type=submit]")
    page.wait_for_load_state()
    assert "val/loss" not in page.locator("#runs-table thead").inner_text()
    page.goto(server.url + "/projects/sweep/")  # the choice comes back from localStorage
    page.wait_for_url("**cols=1**")
    assert "val/loss" not in page.locator("#runs-table thead").inner_text()
    assert "val/acc" in page.locator("#runs-table thead").inner_text()
    page.fill("#run-filter", "0.001")
    assert page.locator("#runs-table tbody tr:visible").count() == 1
    assert page.errors == []


@pytest.fixture
def chart_points(monkeypatch) -> int:
    """A small TRACKER_CHART_POINTS for the server process (request before ``server``)."""
    monkeypatch.setenv("TRACKER_CHART_POINTS", "300")
    return 300


def test_zooming_a_downsampled_chart_fetches_the_range_in_full(page, chart_points, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="long")
    run = Run.objects.create(project=project, name="long-run")
    rows = [(s, {"train/loss": 1.0 / (1 + s)}) for s in range(3000)]
    for seq, start in enumerate(range(0, 3000, 1000)):
        log(server, api_key, run, rows[start : start + 1000], seq=seq)
    login(page, server, owner, f"/runs/{run.pk}/")
    whole = chart_traces(page, "loss")["train/loss"]
    assert len(whole["x"]) <= chart_points
    assert page.locator("[data-chart='loss'] .chart-note").inner_text().startswith("downsampled")

    relayout = "update => Plotly.relayout(document.querySelector(\"[data-chart='loss'] .chart\"), update)"
    page.evaluate(relayout, {"xaxis.range": [1000, 1100]})  # what a drag-zoom does
    page.wait_for_function(
        "() => document.querySelector(\"[data-chart='loss'] .chart\").data[0].x.length === 101"
    )
    zoomed = chart_traces(page, "loss")["train/loss"]
    assert zoomed["x"] == list(range(1000, 1101))
    assert zoomed["y"] == [1.0 / (1 + s) for s in range(1000, 1101)]

    page.evaluate(relayout, {"xaxis.autorange": True})  # a double-click
    page.wait_for_function("() => document.querySelector(\"[data-chart='loss'] .chart\").data[0].x[0] === 0")
    assert chart_traces(page, "loss")["train/loss"]["x"] == whole["x"]
    assert page.errors == []


def realistic_run(server, api_key: str, owner) -> Run:
    """A run that looks like a real training: train/val loss and accuracy over 600 steps,
    a warm-up-and-decay learning rate and GPU memory, finished with a summary."""
    import random

    rng = random.Random(7)
    project = Project.objects.create(owner=owner, name="digits-cnn")
    run = Run.objects.create(
        project=project,
        name="cnn-width64-lr3e-3",
        group="width-sweep",
        tags=["baseline", "augment"],
        status=RunStatus.RUNNING,
        host="gpu-box-3",
        python_version="3.12.3",
        torch_version="2.13.0",
        cuda_version="12.4",
        git_commit="9f2c1e7a4b5d6e8f",
        config={"lr": 0.003, "batch_size": 64, "epochs": 30, "model": {"width": 64, "dropout": 0.2}},
        summary={"best/val_acc": 0.962, "params": 48_266},
        started_at=timezone.now() - timedelta(seconds=905),
    )
    t0 = time.time() - 900
    rows = []
    for step in range(0, 601):
        decay = math.exp(-step / 140)
        train_loss = 0.09 + 2.2 * decay + rng.gauss(0, 0.05) * (0.3 + decay)
        values = {
            "train/loss": max(0.02, train_loss),
            "train/acc": min(1.0, 0.99 - 0.88 * decay + rng.gauss(0, 0.012)),
            "optim/lr": 0.003 * min(1.0, (step + 1) / 50) * (0.5 + 0.5 * math.cos(math.pi * step / 600)),
            "gpu/mem_allocated_gb": 3.1 + 0.4 * (step > 5) + rng.gauss(0, 0.02),
        }
        if step % 20 == 0:
            values["val/loss"] = 0.16 + 2.0 * decay + 0.0004 * max(0, step - 380) + rng.gauss(0, 0.02)
            values["val/acc"] = min(
                1.0, 0.955 - 0.8 * decay - 0.00005 * max(0, step - 380) + rng.gauss(0, 0.006)
            )
        rows.append((step, values))
    for seq, start in enumerate(range(0, len(rows), 100)):
        log(server, api_key, run, rows[start : start + 100], seq=seq, t0=t0)
    return run


def test_run_page_screenshot(page, server, owner, api_key):
    run = realistic_run(server, api_key, owner)
    login(page, server, owner, f"/runs/{run.pk}/")
    for chart in ("loss", "acc"):
        raw = chart_traces(page, chart)
        assert set(raw) == {f"train/{chart}", f"val/{chart}"}
        assert len(raw[f"train/{chart}"]["y"]) == 601
        assert len(raw[f"val/{chart}"]["y"]) == 31
        # 601 points are smoothed; 31 evaluations are drawn as they are (issue #12).
        assert set(chart_traces(page, chart, kind="smoothed")) == {f"train/{chart}"}
    # Namespaces of their own (optim/, gpu/) have sections, a chart per key.
    chart_traces(page, "optim/lr")
    chart_traces(page, "gpu/mem_allocated_gb")
    assert page.errors == []
    if os.environ.get("TRACKER_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1400, "height": 1250})
        page.wait_for_timeout(500)  # Plotly's responsive resize
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_no_chart_offers_to_send_data_off_the_server(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="private")
    run = Run.objects.create(project=project, name="private-run")
    log(server, api_key, run, [(s, {"train/loss": 1.0 / (1 + s)}) for s in range(5)], seq=0)
    login(page, server, owner, f"/runs/{run.pk}/")
    chart_traces(page, "loss")
    page.hover("[data-chart='loss'] .chart")
    page.wait_for_selector("[data-chart='loss'] .modebar-btn")
    titles = page.evaluate(
        "() => Array.from(document.querySelectorAll('.modebar-btn')).map(b => b.getAttribute('data-title'))"
    )
    assert "Download plot as a PNG" in titles  # the modebar is there, with local actions only
    assert not [t for t in titles if "Share" in t or "Chart Studio" in t or "cloud" in t.lower()]
    context = page.evaluate("() => document.querySelector(\"[data-chart='loss'] .chart\")._context")
    assert (context["showSendToCloud"], context["showEditInChartStudio"], context["showLink"]) == (
        False,
        False,
        False,
    )
    assert page.errors == []


def test_short_series_are_not_bent_by_the_default_smoothing(page, server, owner, api_key):
    """15 epochs: drawn through their values, and the chart says why; 200 points of the
    same run are smoothed with the default 0.6 (issue #12)."""
    project = Project.objects.create(owner=owner, name="epochs")
    run = Run.objects.create(project=project, name="epochs-run")
    epochs = [0.5 + 0.03 * e for e in range(15)]
    rows = [(s, {"train/loss": 2.0 / (1 + s)}) for s in range(200)]
    rows += [(10 * e, {"val/acc": v}) for e, v in enumerate(epochs)]
    log(server, api_key, run, sorted(rows, key=lambda r: r[0]), seq=0)
    login(page, server, owner, f"/runs/{run.pk}/")
    assert chart_traces(page, "acc")["val/acc"]["y"] == pytest.approx(epochs)
    assert chart_traces(page, "acc", kind="smoothed") == {}
    assert "not smoothed (15 points)" in page.locator("[data-chart='acc'] .chart-note").inner_text()
    smoothed = chart_traces(page, "loss", kind="smoothed")["train/loss"]["y"]
    assert smoothed[1] == pytest.approx((0.4 * 0.6 * 2.0 + 0.4 * 1.0) / (1 - 0.6**2))
    assert page.input_value("#smoothing") == "0.6"


@pytest.mark.parametrize("width", [1440, 390])
def test_the_metrics_table_shows_every_column_at_desktop_and_phone_width(page, server, owner, api_key, width):
    project = Project.objects.create(owner=owner, name="widths")
    run = Run.objects.create(project=project, name="widths-run", status=RunStatus.FINISHED)
    long_keys = {f"train/a_rather_long_metric_name_{i}": 1234567.891 * (i + 1) for i in range(3)}
    log(server, api_key, run, [(s, {**long_keys, "val/loss": 0.5 / (s + 1)}) for s in range(3)], seq=0)
    page.set_viewport_size({"width": width, "height": 900})
    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector("#metrics-table tbody tr[data-key]")
    table = page.locator("#metrics-table")
    table.scroll_into_view_if_needed()
    box = page.locator(".metrics-card").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # the card stays on the page
    head = page.eval_on_selector("#metrics-table thead tr th:last-child", "th => th.textContent")
    assert head == "Max"
    # The Max column is on screen once its scroll box is scrolled to the right end.
    page.eval_on_selector(".metrics-scroll", "el => { el.scrollLeft = el.scrollWidth; }")
    cell = page.locator("#metrics-table tbody tr[data-key='val/loss'] [data-field='max']")
    cell_box = cell.bounding_box()
    assert cell_box["x"] >= box["x"] and cell_box["x"] + cell_box["width"] <= box["x"] + box["width"] + 1
    assert cell.inner_text() == "0.5"
    # No page-wide horizontal scroll.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_live_shows_only_while_the_run_is_running(page, server, owner, api_key):
    project = Project.objects.create(owner=owner, name="liveness")
    done = Run.objects.create(project=project, name="done", status=RunStatus.FINISHED)
    log(server, api_key, done, [(0, {"train/loss": 1.0})], seq=0)
    login(page, server, owner, f"/runs/{done.pk}/")
    chart_traces(page, "loss")
    page.wait_for_selector("#live-indicator:not([hidden])", state="attached")  # the socket is open
    assert not page.locator("#live-indicator").is_visible()

    running = Run.objects.create(project=project, name="running")
    log(server, api_key, running, [(0, {"train/loss": 1.0})], seq=0)
    page.goto(f"{server.url}/runs/{running.pk}/")
    page.wait_for_selector("#live-indicator:not([hidden])")
    assert page.locator("#live-indicator").is_visible()
    api(server, api_key, f"runs/{running.pk}/finish", {"status": "finished", "exit_code": 0})
    page.wait_for_function("() => document.querySelector('#run-status').textContent === 'finished'")
    page.wait_for_selector("#live-indicator", state="hidden")
