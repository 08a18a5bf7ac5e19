"""The analysis page in a real browser (Chromium driven by Playwright, a real uvicorn
server) over the synthetic sweep (tests/analysis/support.py): parallel coordinates and the
importance chart drawn with the learning rate first, a brush on an axis selects runs,
another metric redraws, a bad filter is shown with its column; no script error."""

import pytest

from tests import factories
from tests.analysis.support import synthetic_runs
from tests.browser import login

VIEWPORT = {"width": 1440, "height": 1100}
PAGE_ERRORS_FAIL = True

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRAWN = """kind => {
  const el = document.getElementById(kind === 'parcoords' ? 'parcoords-chart' : 'importance-chart');
  return el && el.data && el.data.length > 0 && el.data[0].meta && el.data[0].meta.kind === kind; }"""


def top_parameter(page) -> str:
    """The parameter at the top of the importance chart (its y axis lists the least first)."""
    return page.evaluate(
        "() => { const y = document.getElementById('importance-chart').data[0].y; return y[y.length - 1]; }"
    )


def metric_axis(page) -> str:
    return page.evaluate(
        "() => { const d = document.getElementById('parcoords-chart').data[0].dimensions;"
        " return d[d.length - 1].label; }"
    )


def test_the_page_draws_brushes_and_follows_the_metric(server, owner, page):
    project = factories.project(owner, "sweeps")
    synthetic_runs(project)
    console = []
    page.on("console", lambda m: console.append(m.text[:200]))
    page.on("requestfailed", lambda r: console.append("FAILED " + r.url))
    page.on("response", lambda r: console.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, server, owner, "/projects/sweeps/analysis/?metric=val/acc&agg=last")
    try:
        page.wait_for_function(DRAWN, arg="parcoords", timeout=60_000)
    except Exception:
        print("CONSOLE", console, page.errors)
        raise
    page.wait_for_function(DRAWN, arg="importance", timeout=60_000)
    assert not page.errors, page.errors
    page.wait_for_selector("#parcoords-chart .parcoords .y-axis", state="attached")
    assert page.locator("#parcoords-chart .no-webgl").count() == 0
    # The parcoords is really drawn: its axes are in the page, one per varying parameter
    # every run sets, then the metric; the lines are coloured by the metric.
    assert page.locator("#parcoords-chart .parcoords .y-axis").count() >= 5
    assert metric_axis(page) == "val/acc (last)"
    labels = page.evaluate(
        "() => document.getElementById('parcoords-chart').data[0].dimensions.map(d => d.label)"
    )
    assert labels[0] == "optim.lr (log)"
    assert top_parameter(page) == "optim.lr"
    assert page.locator("#analysis-counts").inner_text().startswith("60 runs analysed")
    assert page.locator("#params-table tbody tr").first.get_attribute("data-key") == "optim.lr"
    assert page.locator("#brush-count").get_attribute("data-selected") == "60"

    # Brush the learning-rate axis with the mouse: a middle part of its range.
    brush = page.locator("#parcoords-chart .parcoords .y-axis .axis-brush rect.background").first
    box = brush.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(x, box["y"] + box["height"] * 0.6, steps=10)
    page.mouse.up()
    page.wait_for_function("() => Number(document.getElementById('brush-count').dataset.selected) < 60")
    selected = int(page.locator("#brush-count").get_attribute("data-selected"))
    assert 0 < selected < 60
    assert page.locator("#brush-summary a").count() == min(selected, 8)

    # Another metric: the lines, axes and importance follow.
    page.select_option("#analysis-metric", "val/loss")
    page.wait_for_function(
        "() => { const d = document.getElementById('parcoords-chart').data[0].dimensions;"
        " return d[d.length - 1].label === 'val/loss (last)'; }"
    )
    assert top_parameter(page) == "optim.lr"
    rho = page.evaluate(
        "() => { const x = document.getElementById('importance-chart').data[1].x; return x[x.length - 1]; }"
    )
    assert rho < -0.99  # the loss falls as the learning rate rises
    assert "metric=val%2Floss" in page.url

    # The scatter of a chosen parameter against the metric.
    page.select_option("#scatter-param", "dropout")
    page.wait_for_function("() => document.getElementById('scatter-chart').data[0].meta.key === 'dropout'")
    assert page.evaluate("() => document.getElementById('scatter-chart').data[0].x.length") == 60


def test_a_bad_filter_is_shown_with_its_column_and_a_good_one_narrows(server, owner, page):
    project = factories.project(owner, "sweeps")
    synthetic_runs(project)
    login(page, server, owner, "/projects/sweeps/analysis/")
    page.wait_for_function(DRAWN, arg="importance", timeout=60_000)
    page.fill("#analysis-q", "config.optim.lr >> 3")
    page.press("#analysis-q", "Enter")
    error = page.locator("#analysis-error")
    error.wait_for(state="visible")
    assert "at column 18" in error.inner_text()
    assert page.locator("#analysis-q").get_attribute("aria-invalid") == "true"
    page.fill("#analysis-q", "config.optim.lr > 1e-3")
    page.press("#analysis-q", "Enter")
    error.wait_for(state="hidden")
    page.wait_for_function(
        "() => !document.getElementById('analysis-counts').textContent.startsWith('60 ')"
        " && /runs? analysed/.test(document.getElementById('analysis-counts').textContent)"
    )
    lrs = page.evaluate(
        "() => document.getElementById('scatter-chart').data[0].meta.key === 'optim.lr' ? "
        "document.getElementById('scatter-chart').data[0].x : []"
    )
    assert lrs and min(lrs) > 1e-3
