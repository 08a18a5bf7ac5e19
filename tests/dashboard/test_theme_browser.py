"""Dark mode and phone widths in a real browser (Chromium driven by Playwright, a real
uvicorn server): the header's toggle turns every page dark and is remembered, a reader
whose system is dark gets a dark page without touching it, charts follow the theme, and
at 390 px the runs table scrolls inside its box while the page itself never scrolls
sideways.

``TRACKER_SCREENSHOT=1`` also writes static/screenshots/dark-run-page.png and
static/screenshots/phone-runs-table.png for the README.
"""

import os

import numpy as np
import pytest

from experiments.models import RunStatus
from tests.browser import login
from tests.compare.support import log, make_run
from tests.processes import ROOT

PAGE_ERRORS_FAIL = True
SCREENSHOTS = ROOT / "static" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The relative luminance (0 black .. 1 white) of a CSS colour, read in the page.
LUMINANCE = """(css) => {
  const m = css.match(/[\\d.]+/g).map(Number);
  const linear = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  const [r, g, b] = m.slice(0, 3).map(linear);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def luminance(page, css: str) -> float:
    return page.evaluate(LUMINANCE, css)


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.documentElement).backgroundColor")


def chart_paper(page) -> str:
    """The background colour Plotly painted the first drawn chart with."""
    page.wait_for_function(
        "() => { const el = document.querySelector('.js-plotly-plot'); return el && el._fullLayout; }"
    )
    return page.evaluate("document.querySelector('.js-plotly-plot')._fullLayout.paper_bgcolor")


@pytest.fixture
def runs(owner):
    """Runs with a dozen config keys and metrics: a runs table far wider than a phone."""
    rng = np.random.default_rng(0)
    made = []
    for i in range(3):
        config = {f"option_{k}": float(rng.uniform()) for k in range(12)}
        run = make_run(
            owner, f"a-rather-long-run-name-{i}", group="wide-sweep", config=config, status=RunStatus.FINISHED
        )
        for key in ("val/acc", "val/loss", "train/loss", "val/f1", "test/acc"):
            log(run, key, [float(v) for v in rng.uniform(size=30)])
        made.append(run)
    return made


def test_the_toggle_turns_pages_dark_and_is_remembered(page, server, owner, runs):
    run = runs[0]
    login(page, server, owner, f"/runs/{run.pk}/")
    assert luminance(page, background(page)) > 0.8  # light by default (the system is light)
    assert luminance(page, chart_paper(page)) > 0.8

    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "dark"
    assert page.get_attribute("#theme-toggle", "aria-pressed") == "true"
    assert luminance(page, background(page)) < 0.05
    # Charts drawn before the switch are re-coloured.
    page.wait_for_function(
        "() => { const c = document.querySelector('.js-plotly-plot')._fullLayout.paper_bgcolor;"
        " return !/255, 255, 255|#fff/i.test(c); }"
    )
    assert luminance(page, chart_paper(page)) < 0.05
    text = page.evaluate("getComputedStyle(document.querySelector('h1')).color")
    assert luminance(page, text) > 0.6  # light text on the dark page

    page.reload()  # remembered, and applied before the first paint
    page.wait_for_selector("h1")
    assert page.get_attribute("html", "data-theme") == "dark"
    assert luminance(page, chart_paper(page)) < 0.05
    page.wait_for_timeout(300)
    if os.environ.get("TRACKER_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOTS / "dark-run-page.png"))

    page.goto(f"{server.url}/projects/digits/")  # every page follows
    page.wait_for_selector("#runs-table")
    assert luminance(page, background(page)) < 0.05
    card = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    assert luminance(page, card) < 0.05

    page.click("#theme-toggle")  # back to light
    assert luminance(page, background(page)) > 0.8
    assert page.evaluate("localStorage.getItem('tracker:theme')") is None  # follows the system again


def test_a_dark_system_gets_dark_pages_without_a_click(browser, server, owner, runs):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, color_scheme="dark")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(
            page, server, owner, f"/projects/{runs[0].project.name}/compare/?s={runs[1].pk}&ref={runs[0].pk}"
        )
        page.wait_for_selector("#summary-table")
        assert page.get_attribute("html", "data-theme") is None  # nothing chosen: the system's
        assert luminance(page, background(page)) < 0.05
        assert luminance(page, chart_paper(page)) < 0.05
        page.click("#theme-toggle")  # the reader prefers light here
        assert luminance(page, background(page)) > 0.8
        assert page.evaluate("localStorage.getItem('tracker:theme')") == "light"
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize(
    "path",
    ["/", "/projects/digits/", "/runs/{run}/", "/projects/digits/compare/?s={run}&ref={other}"],
)
def test_a_390px_phone_never_scrolls_the_page_sideways(browser, server, owner, runs, path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        url = path.format(run=runs[1].pk, other=runs[0].pk)
        login(page, server, owner, url)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("window.innerWidth")
        assert width == 390
        # What sticks out, named in the failure message.
        wide = page.evaluate(
            """() => Array.from(document.querySelectorAll('body *')).filter((el) => {
                 const r = el.getBoundingClientRect();
                 return r.width && r.right > window.innerWidth + 1 && !el.closest('.table-scroll, .chart');
               }).slice(0, 5).map((el) => `${el.tagName}.${el.className}`)"""
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= width, wide
        # The header wraps: every link in it is on screen.
        rights = page.locator(".topbar a:visible, .topbar button:visible").evaluate_all(
            "els => els.map((e) => e.getBoundingClientRect().right)"
        )
        assert rights and max(rights) <= width
        if path == "/projects/digits/":
            box = page.locator("#runs-table").locator("xpath=..")
            assert box.evaluate("el => el.scrollWidth > el.clientWidth")  # scrolls inside its box
            assert box.evaluate("el => getComputedStyle(el).overflowX") == "auto"
            if os.environ.get("TRACKER_SCREENSHOT"):
                page.screenshot(path=str(SCREENSHOTS / "phone-runs-table.png"))
    finally:
        context.close()
