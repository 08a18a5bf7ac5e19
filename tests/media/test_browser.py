"""The run page's media sections in a real browser, fed by the real example training
(examples/train_digits.py) through the SDK: the confusion matrix with its step slider,
normalisation toggle and per-class table, ROC/PR curves, a histogram view, the model
summary, system charts saying "no GPU", and checkpoint downloads.

``TRACKER_SCREENSHOT_DIR=DIR`` also saves screenshots of the sections there.
"""

import os
from pathlib import Path

import pytest

import tracker
from examples.train_digits import CLASS_NAMES, train
from experiments.media.reads import classification_report
from experiments.models import Checkpoint, Media
from tests.browser import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shoot(tab, selector: str, name: str) -> None:
    folder = os.environ.get("TRACKER_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tab.add_style_tag(content=".topbar { position: static !important; }")  # not over the shot
        tab.locator(selector).screenshot(path=str(Path(folder) / f"{name}.png"))


def test_the_run_page_shows_the_confusion_matrix_histograms_and_system_charts(page, sdk, owner):
    config = {"epochs": 3, "log_freq": 5, "keep_checkpoints": 2}
    with tracker.init(project="digits", config=config, system_interval=0.25) as run:
        train(config, run)
    login(page, sdk, owner, f"/runs/{run.id}/")
    page.wait_for_function("() => Number(document.getElementById('run-media').dataset.ready) > 0")

    # Confusion matrix: the newest step first, its accuracy consistent with the matrix.
    matrices = Media.objects.filter(run_id=run.id, kind="confusion_matrix").order_by("step")
    assert matrices.count() == 3
    newest = matrices.last()
    page.wait_for_function("() => document.querySelector('#cm-chart').data")
    heat = page.evaluate("() => document.querySelector('#cm-chart').data[0]")
    assert heat["type"] == "heatmap" and heat["z"] == newest.data["matrix"]
    report = classification_report(newest.data["labels"], newest.data["matrix"])
    assert f"accuracy {100 * report['accuracy']:.2f}%" in page.locator("#cm-accuracy").inner_text()
    rows = page.locator("#cm-report tbody tr")
    assert rows.count() == 10 and rows.first.locator("td").first.inner_text() == CLASS_NAMES[0]
    assert page.locator("#cm-report tbody tr[data-label='three'] td").nth(3).inner_text() == (
        f"{report['classes'][3]['f1']:.3f}"
    )
    macro = page.locator("#cm-report tfoot tr[data-average='macro'] td").nth(2).inner_text()
    assert macro == f"{report['averages']['macro']['f1']:.3f}"
    shoot(page, "#evaluation-section", "evaluation")

    # Row-normalised: every row sums to 1.
    page.click("#cm-normalised")
    page.wait_for_function("() => document.querySelector('#cm-chart').data[0].zmax === 1")
    z = page.evaluate("() => document.querySelector('#cm-chart').data[0].z")
    assert all(abs(sum(row) - 1) < 1e-9 for row in z if sum(row))
    # The step slider goes back to the first epoch's matrix.
    page.locator("#cm-step").fill("0")
    page.wait_for_function(
        f"() => document.querySelector('#cm-accuracy').textContent.endsWith('step {matrices[0].step}')"
    )
    assert page.locator("#cm-step-value").inner_text() == str(matrices[0].step)

    # ROC / PR: one curve per class, with the AUC in the legend.
    page.wait_for_function("() => (document.querySelector('#roc-chart').data || []).length >= 10")
    names = page.evaluate("() => document.querySelector('#roc-chart').data.map(t => t.name)")
    assert names[0].startswith("zero (AUC ") and len([n for n in names if n and "AUC" in n]) == 10

    # Model internals: per-layer gradient norms, the LR schedule, distributions, summary.
    # Their charts fetch their data only near the viewport: scroll to each first.
    page.locator("[data-media-chart='grad-norm']").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector(\"[data-media-chart='grad-norm'] .chart\").data")
    layers = page.evaluate(
        "() => document.querySelector(\"[data-media-chart='grad-norm'] .chart\").data.map(t => t.name)"
    )
    assert {"conv1", "conv2", "fc1", "fc2", "global_norm"} <= set(layers)
    page.locator("[data-media-chart='lr']").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector(\"[data-media-chart='lr'] .chart\").data")
    lr = page.evaluate("() => document.querySelector(\"[data-media-chart='lr'] .chart\").data[0].y")
    assert lr[0] < max(lr) > lr[-1]  # warm-up, then decay
    page.locator("#dist-chart").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector('#dist-chart').data && document.querySelector('#hist-chart').data"
    )
    assert page.locator("#dist-name").input_value().startswith("grad/")
    bars = page.evaluate("() => document.querySelector('#hist-chart').data[0]")
    assert bars["type"] == "bar" and len(bars["y"]) == 64
    assert page.locator("#model-summary tbody tr[data-module='conv1'] td").nth(2).inner_text() == "160"
    shoot(page, "#internals-section", "internals")

    # System: no GPU here, said in words; CPU, memory and throughput charted.
    assert page.locator("#no-gpu").is_visible()
    assert "no GPU" in page.locator("#system-facts").inner_text()
    for chart in ("cpu", "ram", "throughput"):
        page.locator(f"[data-media-chart='{chart}']").scroll_into_view_if_needed()
        page.wait_for_function(f"() => document.querySelector(\"[data-media-chart='{chart}'] .chart\").data")
    shoot(page, "#system-section", "system")

    # Checkpoints: the kept ones listed, the best marked, downloadable with the session.
    kept = Checkpoint.objects.filter(run_id=run.id)
    assert page.locator("#checkpoints-table tbody tr").count() == kept.count() >= 2
    best = page.locator("#checkpoints-table tbody tr:has(.badge)")
    assert best.count() == 1
    with page.expect_download() as download:
        best.locator("a").click()
    assert (
        Path(download.value.path()).stat().st_size == kept.get(pk=best.get_attribute("data-checkpoint")).size
    )
    shoot(page, "#checkpoints-section", "checkpoints")
    assert page.errors == []
