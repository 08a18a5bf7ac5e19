"""The compare page's metric picker in a real browser (Chromium driven by Playwright, a
real uvicorn server): the headline counts follow the metrics chosen, the choice is
remembered for the project after a reload, the rest is listed under "Other metrics",
and a comparison of many metrics stays a short page."""

import os

import pytest

from experiments.compare.baselines import baseline_set
from tests.browser import login
from tests.compare.support import log, make_run
from tests.processes import ROOT

VIEWPORT = {"width": 1440, "height": 900}
PAGE_ERRORS_FAIL = True

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INTERNALS = [f"act/{layer}/{stat}" for layer in range(6) for stat in ("mean", "std", "zero_frac")]


@pytest.fixture
def runs(owner):
    """``new`` is better on val/acc and val/loss, worse on train/loss, and differs on
    the learning rate, RAM and 18 layer statistics, as a watched run does."""
    base = make_run(owner, "base")
    new = make_run(owner, "new")
    steps = list(range(20))
    for run, acc, val_loss, train_loss, lr, ram in (
        (base, 0.80, 0.60, 0.10, 0.05, 1.0e9),
        (new, 0.90, 0.40, 0.20, 0.01, 1.5e9),
    ):
        log(run, "val/acc", [acc * (s + 1) / 20 for s in steps])
        log(run, "val/loss", [val_loss + 1 - s / 19 for s in steps])
        log(run, "train/loss", [train_loss + 1 - s / 19 for s in steps])
        log(run, "lr/group0", [lr] * 20)
        log(run, "sys/ram_used", [ram] * 20)
        for i, key in enumerate(INTERNALS):
            log(run, key, [(i + 1) * (1.2 if run is new else 1.0)] * 20)
    baseline_set(user=owner, project=base.project, run=base)
    return base, new


def headline(page) -> dict[str, int]:
    """The side card's counts that are shown: {"better": 2, "worse": 1}."""
    badges = page.locator("#compare-sides .side-card:not(.side-ref) [data-count]:visible")
    return {b.split(" ", 1)[1]: int(b.split(" ", 1)[0]) for b in badges.all_inner_texts()}


def judged(page) -> list[str]:
    rows = page.locator("#summary-table tbody tr[data-key]")
    return rows.evaluate_all("rows => rows.map(r => r.dataset.key)")


def test_the_headline_counts_the_chosen_metrics_and_the_choice_is_remembered(page, server, owner, runs):
    _, new = runs
    path = f"/projects/digits/compare/?s={new.pk}"
    login(page, server, owner, path)
    page.wait_for_selector("#summary-table")

    # The default: the main metrics, judged; lr, RAM and layer statistics listed apart.
    assert judged(page) == ["val/acc", "val/loss", "train/loss"]
    assert headline(page) == {"better": 2, "worse": 1}
    assert page.locator("#other-count").inner_text() == str(2 + len(INTERNALS))
    assert not page.locator("#other-table").is_visible()  # collapsed until asked for
    charts = page.locator("#charts .compare-chart:visible").evaluate_all("f => f.map(e => e.dataset.chart)")
    assert charts == ["val/acc", "val/loss", "train/loss"]
    # 23 metrics, three judged: a short page (it was 11,000 px with a chart per metric).
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2600, height
    if os.environ.get("TRACKER_SCREENSHOT"):
        page.screenshot(path=str(ROOT / "static" / "screenshots" / "compare-picker.png"), full_page=True)
    page.click("#other-metrics > summary")
    assert page.locator("#other-table tr[data-key='lr/group0']").is_visible()

    # Stop judging on train/loss in the picker: one fewer "worse".
    page.click("#metrics-menu > summary")
    page.fill("#metrics-search", "train")
    assert page.locator("#metrics-menu label:visible").all_inner_texts() == ["train/loss"]
    page.uncheck("#metrics-menu input[value='train/loss']")
    assert headline(page) == {"better": 2}
    assert judged(page) == ["val/acc", "val/loss"]
    page.click("#metrics-menu > summary")  # close

    # Judge on the learning rate from the other metrics' list: a lower lr reads "worse".
    page.click("#other-table tr[data-key='lr/group0'] .judge-toggle")
    assert headline(page) == {"better": 2, "worse": 1}
    assert judged(page) == ["val/acc", "val/loss", "lr/group0"]
    page.locator("#charts [data-chart='lr/group0']").scroll_into_view_if_needed()  # drawn when seen
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[data-chart='lr/group0'] .chart\");"
        " return el && el.data && el.data.length > 0; }"
    )

    page.reload()
    page.wait_for_selector("#summary-table")
    assert judged(page) == ["val/acc", "val/loss", "lr/group0"]
    assert headline(page) == {"better": 2, "worse": 1}
    assert page.locator("#judged-keys").inner_text() == "val/acc val/loss lr/group0"
    assert page.locator("#metrics-menu input[value='train/loss']").is_checked() is False

    # Back to the project's main metrics.
    page.click("#metrics-menu > summary")
    page.click("#metrics-default")
    assert judged(page) == ["val/acc", "val/loss", "train/loss"]
    assert headline(page) == {"better": 2, "worse": 1}
    page.reload()
    page.wait_for_selector("#summary-table")
    assert judged(page) == ["val/acc", "val/loss", "train/loss"]
