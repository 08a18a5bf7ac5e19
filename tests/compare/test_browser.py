"""The compare page in a real browser (Chromium driven by Playwright, a real uvicorn
server): reached in one click from a run's page and from the runs table, with the
summary table and the overlaid curves drawn; and the run page's per-rank toggle.

``TRACKER_SCREENSHOT=1`` also writes static/screenshots/compare-page.png for the README.
"""

import os
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from experiments.compare.baselines import baseline_set
from experiments.models import Project, Run, RunStatus
from experiments.payloads import parse_batch
from experiments.services import batch_ingest
from tests.browser import login
from tests.processes import ROOT

SCREENSHOT = ROOT / "static" / "screenshots" / "compare-page.png"
# The tab of the shared ``page`` fixture (tests/conftest.py): wider, and any script error fails.
VIEWPORT = {"width": 1440, "height": 1000}
PAGE_ERRORS_FAIL = True

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def train(project: Project, name: str, group: str, seed: int, quality: float, ranks: int = 1) -> Run:
    """A finished run with realistic curves: losses fall, accuracy rises, with noise."""
    rng = np.random.default_rng(seed)
    started = timezone.now() - timedelta(minutes=30)
    run = Run.objects.create(
        project=project,
        name=name,
        group=group,
        status=RunStatus.FINISHED,
        started_at=started,
        finished_at=started + timedelta(seconds=600 / quality),
        config={"lr": 1e-3 * quality, "width": 64 if quality < 1.05 else 96, "seed": seed, "epochs": 120},
        host="gpu-node-1" if quality < 1.05 else "gpu-node-2",
        python_version="3.11.9",
        torch_version="2.3.1" if quality < 1.05 else "2.4.0",
        cuda_version="12.1",
        summary={"gpu/peak_memory": (2.1 if quality < 1.05 else 2.6) * 2**30},
    )
    steps = np.arange(0, 120)
    t0 = started.timestamp()
    for rank in range(ranks):
        noise = rng.normal(0, 1, size=(3, len(steps)))
        train_loss = 1.6 * np.exp(-steps * quality / 28) + 0.12 + 0.03 * noise[0] + 0.02 * rank
        val_loss = 1.5 * np.exp(-steps * quality / 32) + 0.3 + 0.025 * noise[1] + 0.02 * rank
        val_acc = 0.9 + 0.2 * (quality - 1) - 0.55 * np.exp(-steps * quality / 26) + 0.004 * noise[2]
        rows = [
            [
                int(s),
                float(t0 + 5 * s / quality),
                {"train/loss": float(a), "val/loss": float(b), "val/acc": float(c)},
            ]
            for s, a, b, c in zip(steps, train_loss, val_loss, val_acc, strict=True)
        ]
        batch_ingest(run=run, batch=parse_batch({"writer": f"w{rank}", "seq": 0, "rank": rank, "rows": rows}))
    return run


@pytest.fixture
def project(owner):
    project = Project.objects.create(owner=owner, name="cifar")
    for seed in range(3):
        train(project, f"v1-seed{seed}", "resnet-v1", seed, 1.0)
    for seed in range(3):
        train(project, f"v2-seed{seed}", "resnet-v2", 10 + seed, 1.12)
    baseline_set(user=owner, project=project, group="resnet-v1")
    return project


def traces(page, key: str, selector: str = ".chart") -> list[dict]:
    page.wait_for_function(
        "([key, sel]) => { const el = document.querySelector(`.compare-chart[data-chart='${key}'] ${sel}`);"
        " return el && el.data && el.data.length > 0; }",
        arg=[key, selector],
    )
    return page.evaluate(
        """([key, sel]) => document.querySelector(`.compare-chart[data-chart='${key}'] ${sel}`).data
            .map(t => ({meta: t.meta, dash: t.line && t.line.dash, n: t.y.length,
                        y: Array.from(t.y).slice(0, 3)}))""",
        [key, selector],
    )


def test_compare_page_from_a_run_page_shows_the_table_and_overlaid_curves(page, server, owner, project):
    run = Run.objects.get(name="v2-seed0")
    login(page, server, owner, f"/runs/{run.pk}/")
    page.click("#compare-baseline")
    page.wait_for_selector("#summary-table")

    assert page.locator("h1").inner_text() == "v2-seed0 vs resnet-v1"
    keys = page.locator("#summary-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")
    assert keys == ["val/acc", "val/loss", "train/loss"]
    acc = page.locator("#summary-table tr[data-key='val/acc']")
    assert acc.locator("[data-field=verdict] .verdict").inner_text() in ("better", "worse", "within noise")
    assert (
        "±" in page.locator("#summary-table tr[data-key='val/acc'] td").nth(0).inner_text()
    )  # group mean ± std
    assert "prediction test" in acc.locator(".verdict").get_attribute("title")

    loss = traces(page, "val/loss")
    lines = [t for t in loss if t["meta"]["kind"] == "line"]
    assert [(t["meta"]["role"], t["dash"]) for t in lines] == [("reference", "dash"), ("side", "solid")]
    assert all(t["n"] == 120 for t in lines)
    assert any(
        t["meta"]["kind"] == "band" and t["meta"]["role"] == "reference" for t in loss
    )  # the group's std
    deltas = traces(page, "val/loss", ".delta-chart")
    assert [t["meta"]["kind"] for t in deltas] == ["delta"] and deltas[0]["n"] == 120


def test_group_against_baseline_group_and_n_runs_from_the_runs_table(page, server, owner, project):
    login(page, server, owner, f"/projects/{project.name}/")
    page.wait_for_selector("#runs-table tr[data-run] .pick-run")
    page.wait_for_selector("#runs-table .row-baseline")  # the baseline group's rows are marked
    assert page.locator("#runs-table .row-baseline").count() == 3
    ids = [str(r.pk) for r in Run.objects.filter(name__in=["v1-seed0", "v2-seed1"]).order_by("name")]
    for run_id in ids:
        page.check(f"#runs-table tr[data-run='{run_id}'] .pick-run")
    assert page.locator("#compare-selected").inner_text() == "Compare 2 runs"
    page.click("#compare-selected")
    page.wait_for_selector("#summary-table")
    assert page.locator("h1").inner_text() == "v2-seed1 vs v1-seed0"  # against the first ticked
    assert page.locator("#compare-sides .side-card").count() == 2
    assert page.locator("#config-diff tbody tr").count() >= 3  # lr, seed, width differ

    page.goto(f"{server.url}/projects/{project.name}/compare/?s=group:resnet-v2")
    page.wait_for_selector("#summary-table")
    acc = page.locator("#summary-table tr[data-key='val/acc']")
    assert acc.locator(".verdict").inner_text() == "better"
    assert "Welch" in acc.locator(".verdict").get_attribute("title")
    bands = [t for t in traces(page, "val/acc") if t["meta"]["kind"] == "band"]
    assert {t["meta"]["role"] for t in bands} == {"reference", "side"}
    resources = page.locator("#resources tbody").inner_text()
    assert (
        "Peak GPU memory" in resources and "2.60 GiB +23.8%" in resources
    )  # from summary["gpu/peak_memory"]
    if os.environ.get("TRACKER_SCREENSHOT"):
        traces(page, "val/loss")
        traces(page, "train/loss")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_run_page_per_rank_toggle_draws_each_rank(page, server, owner, project):
    run = train(project, "ddp", "", 99, 1.0, ranks=3)
    login(page, server, owner, f"/runs/{run.pk}/")
    page.wait_for_selector("#per-rank-control:not([hidden])")
    # Another chart may show the control before the loss chart's note is written.
    page.wait_for_function(
        "() => (document.querySelector(\"[data-chart='loss'] .chart-note\") || {}).textContent"
    )
    assert "mean ± std over 3 ranks" in page.locator("[data-chart='loss'] .chart-note").inner_text()
    page.check("#per-rank")
    page.wait_for_function(
        "() => { const el = document.querySelector(\"[data-chart='loss'] .chart\");"
        " return el && el.data && el.data.some(t => t.meta && t.meta.kind === 'rank'); }"
    )
    ranks = page.evaluate(
        """() => document.querySelector("[data-chart='loss'] .chart").data
            .filter(t => t.meta && t.meta.kind === 'rank' && t.meta.key === 'val/loss')
            .map(t => t.meta.rank)"""
    )
    assert ranks == [0, 1, 2]


def test_relative_step_lines_up_a_resumed_run_with_one_from_the_start(page, server, owner):
    project = Project.objects.create(owner=owner, name="resumed")
    fresh = train(project, "from-zero", "", 1, 1.0)
    resumed = Run.objects.create(project=project, name="resumed-at-500", status=RunStatus.FINISHED)
    rows = [[500 + s, 1_000.0 + s, {"val/loss": 1.0 / (s + 1)}] for s in range(120)]
    batch_ingest(run=resumed, batch=parse_batch({"writer": "w", "seq": 0, "rows": rows}))
    login(page, server, owner, f"/projects/resumed/compare/?s={fresh.pk}&s={resumed.pk}")

    def first_x() -> dict:
        return page.evaluate(
            """() => Object.fromEntries(document.querySelector(".compare-chart[data-chart='val/loss'] .chart")
                .data.filter(t => t.meta.kind === "line").map(t => [t.meta.role, t.x[0]]))"""
        )

    traces(page, "val/loss")
    assert first_x() == {"reference": 0, "side": 500}
    page.select_option("#x-axis", "relstep")
    page.wait_for_function(
        "() => document.querySelector(\".compare-chart[data-chart='val/loss'] .chart\")"
        '.layout.xaxis.title.text === "steps since the line\'s first"'
    )
    assert first_x() == {"reference": 0, "side": 0}
    page.select_option("#x-axis", "step")  # the choice is stored: leave the default for later tests
