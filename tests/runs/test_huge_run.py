"""A run with 10,000 keys in a real browser (issue #12): the page is usable in under 2 s
(the first chart drawn), builds only the charts near the viewport, its panel search
narrows the panels and the Metrics table, and its sections collapse (remembered).

The time is measured by the page itself (``performance.now()`` when the first Plotly
chart appears in the chart area, recorded by a script injected before the page's own),
so the same measurement holds for any version of the page. It counts from the first
byte of the HTML: the server's own time for the HTML is benchmarks/page.py's figure (c).
On a machine so loaded that even a four-key run's page takes longer, the bound is twice
that page's time, measured just before in the same browser: 10,000 keys may cost no
more than twice what four do (the page before issue #12 took 5-10 times as long)."""

import pytest
from django.db import transaction

from experiments.models import Metric, Project, Run, RunStatus
from tests.browser import login
from tests.bulk import points_insert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE_ERRORS_FAIL = True
VIEWPORT = {"width": 1440, "height": 900}
LAYERS = 1_000
STEPS = 5
# Generous for a loaded 2-core machine; the page before issue #12 took ~10 s here.
USABLE_MS = 2_000

# Records when the first chart is drawn (a Plotly root inside the chart area), however
# the page builds it.
FIRST_CHART = """
window.__firstChart = null;
new MutationObserver((records, observer) => {
  const drawn = document.querySelector("#charts .chart-card .main-svg");
  if (drawn && window.__firstChart === null) {
    window.__firstChart = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def huge_run(owner) -> tuple[Run, list[str]]:
    """10,000 keys: learning curves, 1,000 layers' watch() statistics (internal
    namespaces) and a namespace of the user's own with 1,000 keys per metric name (the
    issue's screenshot: 500-entry legends), STEPS points each, bulk-loaded."""
    project = Project.objects.create(owner=owner, name="huge")
    run = Run.objects.create(project=project, name="huge-run", status=RunStatus.FINISHED)
    keys = ["train/loss", "val/loss", "val/acc", "epoch"]
    for i in range(LAYERS):
        keys += [f"act/layer{i}/mean", f"act/layer{i}/std", f"grad/layer{i}/norm", f"param/layer{i}/norm"]
        keys += [f"probe/layer{i}/energy", f"probe/layer{i}/sparsity"]
    keys += [f"tok/t{i}" for i in range(10_000 - len(keys))]
    assert len(keys) == 10_000
    with transaction.atomic():
        metrics = Metric.objects.bulk_create(
            [
                Metric(
                    run=run,
                    key=k,
                    count=STEPS,
                    last_step=STEPS - 1,
                    last_value=1.0 / STEPS,
                    min_value=1.0 / STEPS,
                    min_step=STEPS - 1,
                    max_value=1.0,
                    max_step=0,
                )
                for k in keys
            ],
            batch_size=2_000,
        )
        points_insert((m.pk, s, 1.0 / (s + 1), 1.7e9 + s, 0) for m in metrics for s in range(STEPS))
    Run.objects.filter(pk=run.pk).update(points_count=len(keys) * STEPS)
    return run, keys


def first_chart_ms(page, url: str) -> float:
    """Milliseconds from the HTML's first byte to the first chart drawn."""
    page.goto(url, wait_until="commit", timeout=120_000)
    page.wait_for_function("() => window.__firstChart !== null", timeout=120_000)
    first, answered = page.evaluate(
        "() => [window.__firstChart, performance.getEntriesByType('navigation')[0].responseStart]"
    )
    return first - answered


def test_a_10000_key_run_is_usable_in_under_two_seconds(page, server, owner):
    run, _ = huge_run(owner)
    small = Run.objects.create(project=run.project, name="small-run", status=RunStatus.FINISHED)
    with transaction.atomic():
        metrics = Metric.objects.bulk_create(
            [Metric(run=small, key=k, count=STEPS) for k in ("train/loss", "val/loss", "val/acc", "epoch")]
        )
        points_insert((m.pk, s, 1.0 / (s + 1), 1.7e9 + s, 0) for m in metrics for s in range(STEPS))
    login(page, server, owner, "/")
    page.add_init_script(FIRST_CHART)
    first_chart_ms(page, f"{server.url}/runs/{small.pk}/")  # caches warm, as for a reader
    reference = first_chart_ms(page, f"{server.url}/runs/{small.pk}/")
    took = first_chart_ms(page, f"{server.url}/runs/{run.pk}/")
    bound = max(USABLE_MS, 2 * reference)
    print(f"first chart: 10,000 keys {took:.0f} ms, 4 keys {reference:.0f} ms (bound {bound:.0f} ms)")
    assert took < bound, (
        f"first chart drawn {took:.0f} ms after the HTML's first byte (4 keys: {reference:.0f} ms)"
    )

    # Only what is near the viewport is built: a few dozen cards, not 10,000.
    cards = page.locator("#charts .chart-card").count()
    assert 0 < cards < 60
    assert page.locator("#charts .js-plotly-plot").count() <= cards
    # The learning curves open first; watch()'s namespaces are there, collapsed.
    assert page.locator("[data-section=''] [data-chart='loss']").count() == 1
    act = page.locator("[data-section='act'] .panel-section-toggle")
    assert act.get_attribute("aria-expanded") == "false"
    assert act.inner_text().split("\n")[-1] == "2,000 charts"
    # No legend lists hundreds of entries.
    legends = (
        "() => Array.from(document.querySelectorAll('.legend'), l => l.querySelectorAll('.traces').length)"
    )
    assert max(page.evaluate(legends), default=0) <= 12
    # The Metrics table is drawn a page at a time, and says how many there are.
    assert page.locator("#metrics-table tbody tr").count() == 200
    assert page.locator("#metrics-count").text_content() == "10,000"


def test_the_panel_search_narrows_the_panels_and_the_metrics_table(page, server, owner):
    run, keys = huge_run(owner)
    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector("[data-chart='loss'] .main-svg")

    page.fill("#panel-search", "layer417/")
    page.wait_for_function(
        "() => document.querySelector('#panel-search-count').textContent.startsWith('6 of')"
    )
    assert page.locator("#panel-search-count").inner_text() == "6 of 9,999 panels"
    visible = (
        "#charts .panel-section:not([hidden]) .panel-section-body:not([hidden]) .chart-card:not([hidden])"
    )
    page.wait_for_function("sel => document.querySelectorAll(sel).length === 6", arg=visible)
    shown = page.eval_on_selector_all(visible, "els => els.map(e => e.dataset.chart)")
    # The collapsed internal sections open to show their matches while searching.
    assert sorted(shown) == sorted(k for k in keys if "layer417/" in k)
    page.locator("[data-chart='grad/layer417/norm']").scroll_into_view_if_needed()
    page.wait_for_selector("[data-chart='grad/layer417/norm'] .main-svg")
    assert page.locator("#metrics-table tbody tr").count() == 6
    assert page.locator("#metrics-count").text_content() == "6 of 10,000"

    # A regular expression.
    page.fill("#panel-search", r"^val/|^tok/t(1|2)\d\d\d$")
    page.wait_for_function(
        "() => document.querySelector('#panel-search-count').textContent.startsWith('2,002 of')"
    )
    visible_sections = page.eval_on_selector_all(
        "#charts .panel-section:not([hidden])", "els => els.map(e => e.dataset.section)"
    )
    assert visible_sections == ["", "tok"]

    # Cleared: everything back, internals collapsed again.
    page.fill("#panel-search", "")
    page.wait_for_function("() => document.querySelector('#panel-search-count').textContent === ''")
    assert (
        page.locator("[data-section='grad'] .panel-section-toggle").get_attribute("aria-expanded") == "false"
    )
    assert page.locator("#metrics-table tbody tr").count() == 200


def test_sections_collapse_and_the_choice_is_remembered(page, server, owner):
    run, _ = huge_run(owner)
    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector("[data-chart='loss'] .main-svg")
    curves = page.locator("[data-section=''] .panel-section-toggle")
    probe = page.locator("[data-section='probe'] .panel-section-toggle")
    assert curves.get_attribute("aria-expanded") == "true"

    curves.click()
    assert curves.get_attribute("aria-expanded") == "false"
    assert page.locator("[data-section=''] .panel-section-body").is_hidden()
    # With the curves folded away, the next section's cards are built and drawn.
    page.wait_for_selector("[data-section='probe'] .chart-card .main-svg", state="attached")
    grad = page.locator("[data-section='grad'] .panel-section-toggle")
    # Cards still being built above it move this toggle: a click at its old position could
    # land on a card, so the click is sent to the toggle itself.
    grad.dispatch_event("click")
    assert grad.get_attribute("aria-expanded") == "true"

    page.reload()
    page.wait_for_selector("[data-section=''] .panel-section-toggle")
    assert curves.get_attribute("aria-expanded") == "false"
    assert grad.get_attribute("aria-expanded") == "true"
    assert probe.get_attribute("aria-expanded") == "true"
    # The page opens at its top (a scroll position restored below cards not yet built
    # would build hundreds of them), with only what is near it built.
    assert page.evaluate("() => window.scrollY") == 0
    page.wait_for_selector("[data-section='probe'] .chart-card .main-svg")
    assert page.locator("[data-section='probe'] .chart-card").count() < 60
