"""Every kind of page under its Content-Security-Policy, in a real browser (Chromium
driven by Playwright, a real uvicorn server): the header is there, nothing on the page is
refused (no inline script or handler, nothing from elsewhere), and the charts still draw.

A violation shows up as a ``securitypolicyviolation`` event and as a console message
naming the Content Security Policy; both are collected. ``TRACKER_SCREENSHOT_DIR=DIR``
also writes a screenshot of each page there, to look at.
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from experiments.compare.baselines import baseline_set
from experiments.media.items import media_store, parse_media
from experiments.models import ApiKey, Project, Run, RunStatus
from experiments.payloads import parse_batch
from experiments.services import batch_ingest
from tuning.models import Sweep, SweepStatus, Trial, TrialState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("TRACKER_SCREENSHOT_DIR")

# Recorded in every document before its own scripts run (CDP-injected: not subject to CSP).
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


class Tab:
    """A browser tab that keeps every CSP violation and script error it sees."""

    def __init__(self, browser, server) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def open(self, path: str, ready: str | None = None, shot: str | None = None) -> str:
        """Open ``path``, wait until ``ready`` (a JS expression) holds; return the page's CSP."""
        response = self.page.goto(self.server.url + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        self.page.wait_for_load_state("networkidle")
        if ready:
            self.page.wait_for_function(ready, timeout=20_000)
        self.check(path)
        if SHOTS and shot:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SHOTS) / f"{shot}.png"), full_page=True)
        return response.headers.get("content-security-policy", "")

    def violations(self) -> list[str]:
        return self.page.evaluate("() => window.__csp || []") + self.console

    def check(self, where: str) -> None:
        assert self.violations() == [], where
        assert self.errors == [], where

    def sign_in(self, user, path: str = "/") -> None:
        self.open(f"/accounts/login/?next={path}", shot="login")
        self.page.fill("input[name=username]", user.username)
        self.page.fill("input[name=password]", user.raw_password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.server.url + path)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, server):
    tab = Tab(browser, server)
    yield tab
    tab.close()


def curves(run: Run, quality: float, ranks: int = 1) -> None:
    t0 = time.time() - 600
    for rank in range(ranks):
        rows = [
            [
                s,
                t0 + s,
                {
                    "train/loss": 1.5 / (1 + s * quality / 10) + 0.01 * rank,
                    "val/loss": 1.6 / (1 + s * quality / 12) + 0.1,
                    "val/acc": 0.5 + 0.4 * s / 60 * quality,
                    "lr": 0.1,
                },
            ]
            for s in range(60)
        ]
        batch_ingest(run=run, batch=parse_batch({"writer": f"w{rank}", "seq": 0, "rank": rank, "rows": rows}))


def media(run: Run) -> None:
    labels = ["cat", "dog", "bird"]
    items = [
        {
            "uid": "cm",
            "kind": "confusion_matrix",
            "name": "val",
            "step": 59,
            "data": {"labels": labels, "matrix": [[8, 1, 1], [2, 7, 1], [0, 1, 9]]},
        },
        {
            "uid": "hist",
            "kind": "histogram",
            "name": "grad/conv1.weight",
            "step": 59,
            "data": {"edges": [-1.0, -0.5, 0.0, 0.5, 1.0], "counts": [1, 5, 6, 2]},
        },
    ]
    media_store(run=run, items=parse_media({"items": items}))


@pytest.fixture
def world(owner):
    """The owner (a superuser, to reach the admin) and one of every page's subjects."""
    owner.is_staff = owner.is_superuser = True
    owner.save()
    project = Project.objects.create(owner=owner, name="digits")
    started = timezone.now() - timedelta(minutes=10)
    runs = []
    for i, quality in enumerate([1.0, 1.1]):
        run = Run.objects.create(
            project=project,
            name=f"cnn-{i}",
            group=f"g{i}",
            status=RunStatus.FINISHED,
            started_at=started,
            finished_at=started + timedelta(minutes=5),
            config={"lr": 0.1 * quality},
        )
        curves(run, quality, ranks=2 if i else 1)
        runs.append(run)
    media(runs[1])
    baseline_set(user=owner, project=project, run=runs[0])
    sweep = Sweep.objects.create(
        project=project,
        name="search",
        entry_point="examples.train_digits:train",
        objective="val/acc",
        space={
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "width": {"type": "int", "low": 8, "high": 64, "step": 8},
        },
        status=SweepStatus.FINISHED,
        n_trials=5,
    )
    for n in range(5):
        Trial.objects.create(
            sweep=sweep,
            number=n,
            state=TrialState.COMPLETE,
            params={"lr": 10 ** -(1 + n % 3), "width": 8 * (1 + n)},
            value=0.6 + 0.05 * n,
            intermediate=[[9, 0.5], [19, 0.55 + 0.05 * n]],
            run=Run.objects.create(project=project, name=f"search-{n}", group="search"),
        )
    key, _ = ApiKey.issue(owner, name="laptop")
    return {"project": project, "runs": runs, "sweep": sweep, "key": key}


def drawn(selector: str, at_least: int = 1) -> str:
    """JS: at least ``at_least`` Plotly charts under ``selector`` hold traces."""
    return (
        f"() => Array.from(document.querySelectorAll({selector!r}))"
        f".filter(el => el.data && el.data.length > 0).length >= {at_least}"
    )


def test_every_page_passes_its_content_security_policy_and_charts_still_draw(tab, world, owner):
    project, run1, sweep = world["project"], world["runs"][1], world["sweep"]
    tab.sign_in(owner)
    pages = [
        ("/", "() => document.querySelector('main')", "projects"),
        (f"/projects/{project.name}/", "() => document.querySelectorAll('tbody tr').length == 7", "runs"),
        (f"/runs/{run1.pk}/", drawn("[data-chart] .chart", 3), "run-page"),
        (f"/runs/{run1.pk}/compare/", drawn(".compare-chart .chart", 2), "compare"),
        (f"/projects/{project.name}/compare/?s=group:g1", drawn(".compare-chart .chart", 2), "compare-group"),
        (f"/sweeps/{sweep.pk}/", drawn("[data-figure] .chart", 4), "sweep"),
        ("/start/", None, "start"),
        ("/admin/", None, "admin-index"),
        ("/admin/experiments/run/", None, "admin-run-list"),
        (f"/admin/experiments/run/{run1.pk}/change/", None, "admin-run-change"),
        (f"/admin/experiments/run/{run1.pk}/delete/", None, "admin-run-delete"),
        (f"/admin/experiments/apikey/{world['key'].pk}/change/", None, "admin-key-change"),
        ("/admin/tuning/sweep/", None, "admin-sweep-list"),
        (f"/admin/tuning/sweep/{sweep.pk}/change/", None, "admin-sweep-change"),
        ("/admin/tuning/sweep/add/", None, "admin-sweep-add"),
        ("/admin/auth/user/", None, "admin-user-list"),
    ]
    for path, ready, shot in pages:
        policy = tab.open(path, ready, shot)
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0], path

    # The sweep form's "Add a parameter" (a static script now, not an inline one) works.
    tab.open("/admin/tuning/sweep/add/")
    rows = tab.page.locator(".space-row").count()
    tab.page.click("text=Add a parameter")
    assert tab.page.locator(".space-row").count() == rows + 1
    tab.check("sweep add: add a parameter")

    # The run page's media sections and live socket ran under the policy too.
    tab.open(f"/runs/{run1.pk}/", "() => Number(document.getElementById('run-media').dataset.ready) > 0")
    tab.page.wait_for_selector("#live-indicator:not([hidden])", state="attached")
    tab.check("run page media")


def test_the_admin_login_and_a_locked_sign_in_pass_too(tab, owner):
    owner.is_staff = True
    owner.save()
    policy = tab.open("/admin/login/?next=/admin/", None, "admin-login")
    assert "default-src 'self'" in policy

    for i in range(10):
        tab.page.fill("input[name=username]", owner.username)
        tab.page.fill("input[name=password]", f"wrong-{i}")
        tab.page.click("input[type=submit], button[type=submit]")
        tab.page.wait_for_load_state("networkidle")
    tab.page.fill("input[name=username]", owner.username)
    tab.page.fill("input[name=password]", owner.raw_password)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_selector("#login-locked")

    assert "signing in is locked" in tab.page.inner_text("#login-locked")
    tab.check("lockout page")
    if SHOTS:
        tab.page.screenshot(path=str(Path(SHOTS) / "locked-out.png"), full_page=True)


def test_the_watch_sees_a_refused_inline_script(tab, owner):
    """The canary: were the policy not enforced, or the watch deaf, the tests above would
    pass for nothing."""
    tab.open("/accounts/login/")

    tab.page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.appendChild(s); }"
    )
    tab.page.wait_for_function("() => window.__csp.length > 0")

    assert tab.page.evaluate("() => window.ran") is None
    assert any("script-src" in v for v in tab.violations())
