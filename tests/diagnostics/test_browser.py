"""The Health panel in a real browser: findings with their evidence and remedies, "what to
try next", the steps marked on the charts, dismissing, the runs table's badges; and a
finding appearing live, without a reload, while a real training diverges in a background
process logging through the SDK.

``TRACKER_SCREENSHOT=1`` also rewrites static/screenshots/health-panel.png.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from experiments.diagnostics.models import Finding, FindingDismissal
from experiments.diagnostics.runner import run_diagnose
from experiments.models import RunStatus
from tests.browser import login
from tests.diagnostics.support import gpu_series, ingest, make_run
from tests.processes import ROOT, ServerProcess, process_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = ROOT / "static" / "screenshots" / "health-panel.png"

# The steps each chart shades, read back from Plotly: {chart: [[x0, x1, name], ...]}.
SHAPES = """() => Object.fromEntries(Array.from(document.querySelectorAll('.chart-card[data-chart]'))
    .filter(f => f.querySelector('.chart').layout)
    .map(f => [f.dataset.chart, (f.querySelector('.chart').layout.shapes || [])
        .filter(s => (s.name || '').startsWith('health:') && s.type === 'rect')
        .map(s => [s.x0, s.x1, s.name])]))"""


def overfitting_run(owner):
    """A finished run that overfits after step 40, on a GPU that is nearly full."""
    run = make_run(
        owner, name="wide-mlp", project="health", status=RunStatus.FINISHED, config={"batch_size": 128}
    )
    steps = np.arange(0, 151)
    train = 2.3 / (1 + steps / 8) + 0.01 * np.sin(steps)
    evals = np.arange(10, 151, 10)
    val = np.where(evals <= 40, 1.0 - evals / 100, 0.6 + (evals - 40) * 0.004)
    ingest(run, {"train/loss": (steps, train), "val/loss": (evals, val), "val/acc": (evals, 1 - val / 3)})
    gpu = gpu_series([74.0] * 8, [70.0] * 8, [93] * 8, [4.0] * 8)
    ingest(run, {k: (s, v) for k, (s, v) in gpu.items()}, seq=1)
    run_diagnose(run_id=run.pk)
    return run


def test_the_health_panel_shows_findings_with_evidence_marks_the_charts_and_dismisses(page, server, owner):
    run = overfitting_run(owner)
    healthy = make_run(owner, name="fine", project="health", status=RunStatus.FINISHED)
    ingest(healthy, {"train/loss": ([0, 1, 2], [2.0, 1.0, 0.5]), "val/loss": ([2], [0.6])})
    run_diagnose(run_id=healthy.pk)
    overfit = Finding.objects.get(run=run, kind="overfitting")

    login(page, server, owner, "/projects/health/")
    badge = page.locator(f"#runs-table tr[data-run='{run.pk}'] td.name .health-badge")
    badge.wait_for()
    assert badge.inner_text() == "2"
    assert badge.get_attribute("data-worst") == "critical"
    assert "Overfitting since step 40" in badge.get_attribute("title")
    assert page.locator(f"#runs-table tr[data-run='{healthy.pk}'] .health-badge").count() == 0

    badge.click()
    page.wait_for_url(f"{server.url}/runs/{run.pk}/#health")
    page.wait_for_selector(f"#finding-{overfit.pk}")
    assert page.locator("#health-verdict").inner_text() == "1 critical · 1 warning"
    next_steps = page.locator("#health-next-list li").all_inner_texts()
    assert next_steps[0].startswith("Early stopping at step 40 (best val/loss 0.6)")
    assert "GPU memory pressure" in next_steps[1]
    card = page.locator(f"#finding-{overfit.pk}")
    assert card.locator(".finding-title").inner_text() == "Overfitting since step 40"
    assert card.locator(".finding-steps").inner_text() == "steps 40–150"
    evidence = dict(
        zip(
            card.locator(".evidence dt").all_inner_texts(),
            card.locator(".evidence dd").all_inner_texts(),
            strict=True,
        )
    )
    assert evidence["best step"] == "40" and evidence["metric"] == "val/loss"
    assert evidence["rise"] == "66.7%"  # median of the last three evaluations vs the best
    assert card.locator(".finding-remedies li").first.inner_text().startswith("Early stopping at step 40")
    gpu = page.locator(".finding-warning")
    assert "74.0 GiB" in gpu.locator(".evidence").inner_text()  # bytes shown in GiB

    # The steps are shaded on the charts of the metrics the finding is about.
    page.locator("[data-chart='loss']").scroll_into_view_if_needed()
    page.wait_for_function(f"() => ({SHAPES})().loss && ({SHAPES})().loss.length > 0")
    shapes = page.evaluate(SHAPES)
    assert shapes["loss"] == [[40, 150, f"health:{overfit.pk}"]]
    if os.environ.get("TRACKER_SCREENSHOT"):
        page.add_style_tag(content=".topbar { position: static; }")  # not over the panel
        page.evaluate("() => window.scrollTo(0, 0)")
        box = page.locator("#health").bounding_box()
        top = page.evaluate("() => window.scrollY")
        clip = {
            "x": box["x"] - 12,
            "y": box["y"] + top - 12,
            "width": box["width"] + 24,
            "height": box["height"] + 24,
        }
        page.screenshot(path=str(SCREENSHOT), full_page=True, clip=clip)

    card.locator(".finding-dismiss").click()
    page.wait_for_selector(f"#finding-{overfit.pk}", state="detached")
    assert page.locator("#health-verdict").inner_text() == "1 warning"
    assert FindingDismissal.objects.get(run=run).fingerprint == overfit.fingerprint
    page.wait_for_function(f"() => ({SHAPES})().loss.length === 0")  # no longer marked
    page.check("#health-show-dismissed")
    assert "is-dismissed" in page.locator(f"#finding-{overfit.pk}").get_attribute("class")
    page.locator(f"#finding-{overfit.pk} .finding-dismiss").click()  # restore
    page.wait_for_function(
        "() => document.querySelector('#health-verdict').textContent === '1 critical · 1 warning'"
    )
    assert not FindingDismissal.objects.exists()

    page.goto(f"{server.url}/runs/{healthy.pk}/")
    page.wait_for_function("() => document.querySelector('#health-verdict').dataset.state === 'ok'")
    assert page.locator("#health-verdict").inner_text() == "No problems found"
    assert page.locator("#health-next").is_hidden()
    assert page.errors == []


# A real training: a small regression learns with lr=0.01 (and is validated) until told
# "go" on stdin, then its learning rate is raised to 10 and it diverges (inf, then NaN).
DIVERGING = textwrap.dedent(
    """
    import sys, threading, time
    import torch
    from sklearn.datasets import load_digits
    from torch.nn import functional as F
    import tracker

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.float32)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    run = tracker.init(project=sys.argv[1], name=sys.argv[2], config={"lr": 0.01})
    print(run.id, flush=True)
    go = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), go.set()), daemon=True).start()
    generator = torch.Generator().manual_seed(0)
    step = 0

    def train_step():
        global step
        batch = torch.randint(0, len(y), (64,), generator=generator)
        loss = F.mse_loss(model(x[batch]).squeeze(1), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        tracker.log({"train/loss": loss.item()}, step=step)
        if step % 25 == 24:
            with torch.no_grad():
                val_loss = F.mse_loss(model(x[1500:]).squeeze(1), y[1500:]).item()
            tracker.log({"val/loss": val_loss}, step=step)
        step += 1
        time.sleep(0.03)
        return loss.item()

    while not go.is_set() and step < 5000:
        train_step()
    for group in optimizer.param_groups:
        group["lr"] = 10.0
    while train_step() == train_step():  # until the loss is NaN (NaN != NaN)
        pass
    for _ in range(20):
        train_step()
    print(step, flush=True)
    sys.stdin.readline()
    tracker.finish()
    """
)


@pytest.fixture
def diagnosing_server(transactional_db, tmp_path):
    """A server that re-diagnoses a live run at most once a second."""
    env = {**process_env(), "TRACKER_DIAGNOSE_INTERVAL": "1"}
    proc = ServerProcess(env, log_path=tmp_path / "live-server.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def diverging(diagnosing_server, api_key, tmp_path):
    script = tmp_path / "diverge.py"
    script.write_text(DIVERGING)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRACKER_SERVER": diagnosing_server.url,
        "TRACKER_API_KEY": api_key,
        "TRACKER_DIR": str(tmp_path / "spool"),
        "TRACKER_FLUSH_INTERVAL": "0.1",
        "TRACKER_HEARTBEAT_INTERVAL": "0.5",
        "TRACKER_SYSTEM_INTERVAL": "0",
    }
    env.pop("TRACKER_RUN_ID", None)
    proc = subprocess.Popen(
        [sys.executable, str(script), "live-health", "lr-raised-to-10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def test_a_divergence_finding_appears_live_while_the_run_diverges(page, diagnosing_server, owner, diverging):
    run_id = int(diverging.stdout.readline())
    login(page, diagnosing_server, owner, f"/runs/{run_id}/")
    page.evaluate("() => { window.notReloaded = true; }")
    # Learning normally: checked, and nothing to say.
    page.wait_for_function("() => document.querySelector('#health-verdict').dataset.state === 'ok'")
    assert page.locator(".finding").count() == 0

    diverging.stdin.write("go\n")
    diverging.stdin.flush()
    card = page.locator(".finding[data-kind='divergence']")
    card.wait_for(timeout=30_000)
    assert page.evaluate("() => window.notReloaded") is True  # no reload: pushed over the websocket
    assert page.locator("#health-verdict").inner_text().startswith("1 critical")
    # A pass may first catch the loss exploding, before it overflows; the finding then
    # updates in place to the first non-finite value.
    page.wait_for_function(
        "() => document.querySelector(\".finding[data-kind='divergence'] .finding-title\")"
        ".textContent.startsWith('Divergence: train/loss became ')"
    )
    title = card.locator(".finding-title").inner_text()
    first_bad = int(title.rsplit(" ", 1)[1])
    assert "Lower the learning rate: the config has lr=0.01" in page.locator("#health-next-list").inner_text()
    page.wait_for_function(f"() => (({SHAPES})().loss || []).length > 0")
    (shape,) = page.evaluate(SHAPES)["loss"]
    assert shape[0] < first_bad <= shape[1]  # from where the loss began to blow up

    last_step = int(diverging.stdout.readline())
    diverging.stdin.write("stop\n")
    diverging.stdin.flush()
    assert diverging.wait(30) == 0
    page.wait_for_function("() => document.querySelector('#run-status').textContent === 'finished'")
    finding = Finding.objects.get(run_id=run_id, kind="divergence")
    assert finding.evidence["first_nonfinite_step"] == first_bad
    assert finding.step_end >= last_step - 25  # the live pass saw the run nearly to its end
    assert page.errors == []
