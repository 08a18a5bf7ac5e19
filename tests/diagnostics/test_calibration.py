"""Findings sized to their effect, on runs stored through the ingestion service:

- overfitting's severity follows how much the rise costs (the first-hour wine run:
  val/loss 0.016 -> 0.046 with val/acc flat at 98% is a note, not critical), and its
  remedy names a checkpoint step only where the run saved a checkpoint;
- a run that failed before logging anything says so, with its error, instead of
  "no problems found".
"""

from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse

from experiments.diagnostics.runner import run_diagnose
from experiments.models import Checkpoint, RunStatus
from tests.diagnostics.support import ingest, make_run, overfitting_series
from tests.helpers import auth

pytestmark = pytest.mark.django_db

# The first-hour wine run (04-run-page-wine.jpg): 480 steps, evaluated every 8; val/loss
# fell from 1.1 to its best, 0.016 at step 40, then crept up to 0.046 over 55
# evaluations while val/acc stayed at 98% and train/loss fell to 1.9e-4.
STEPS = np.arange(0, 481)
EVALS = np.arange(0, 481, 8)


def wine_series() -> dict[str, tuple]:
    best, evals = 40, EVALS
    falling = 0.016 + 1.084 * (1 - evals / best) ** 2
    rising = 0.016 + 0.030 * (evals - best) / (480 - best)
    val_loss = np.where(evals < best, falling, rising)
    val_acc = np.where(EVALS < 32, 0.72 + 0.26 * EVALS / 32, 0.9815)
    train = 1.1 * np.exp(-STEPS / 6.0) + 1.9e-4
    return {"val/loss": (EVALS, val_loss), "val/acc": (EVALS, val_acc), "train/loss": (STEPS, train)}


def overfitting(run):
    result = run_diagnose(run_id=run.pk)
    assert result is not None and result.errors == {}
    found = [f for f in result.all if f.kind == "overfitting"]
    assert len(found) == 1, sorted(result.kinds())
    return found[0]


def checkpoint(run, step: int) -> Checkpoint:
    return Checkpoint.objects.create(
        run=run, step=step, uid=f"c{step}", sha256="0" * 64, size=1024, path=f"ckpt/{run.pk}/{step}.pt"
    )


def test_a_small_rise_with_accuracy_flat_is_a_note_not_critical(owner):
    run = make_run(owner, name="run-3", project="wine", status=RunStatus.FINISHED)
    ingest(run, wine_series())

    finding = overfitting(run)
    assert finding.severity == "info"  # it was "critical" (the rise is 189% of a tiny number)
    assert finding.evidence["best_step"] == 40 and finding.evidence["best_value"] == pytest.approx(0.016)
    assert finding.evidence["rise_pct"] > 100  # the relative rise is still reported...
    assert finding.evidence["given_back_pct"] < 5  # ...next to how little of the fall it gave back
    assert finding.evidence["acc_recent"] == pytest.approx(0.9815)
    assert "val/acc stayed at 0.9815" in finding.summary
    # No checkpoint was saved: the remedy names the best step and says how to keep it.
    first = finding.remedies[0]
    assert first.startswith("Early stopping at step 40 (best val/loss 0.016)")
    assert "saved no checkpoint" in first and "checkpoint at step" not in first
    assert finding.evidence["checkpoint_step"] is None


def test_the_remedy_names_a_checkpoint_only_where_one_exists(owner):
    run = make_run(owner, name="with-checkpoints", project="wine", status=RunStatus.FINISHED)
    ingest(run, wine_series())
    checkpoint(run, 24)
    checkpoint(run, 200)  # after the best step: not the one to keep
    finding = overfitting(run)
    assert "your newest checkpoint before it is at step 24" in finding.remedies[0]
    assert finding.evidence["checkpoint_step"] == 24

    checkpoint(run, 40)
    finding = overfitting(run)
    assert finding.remedies[0].endswith("use your checkpoint at step 40.")


def test_a_rise_that_gives_back_a_real_share_is_a_warning_and_a_large_one_with_accuracy_falling_critical(
    owner,
):
    evals = np.arange(10, 151, 10)
    train = 1.0 / (1 + evals / 20)
    # Best 0.30 at step 40 after falling from 1.0; back up to ~0.40: a sixth of the fall.
    medium = np.where(evals <= 40, 1.0 - 0.7 * evals / 40, 0.30 + (evals - 40) * 0.001)
    run = make_run(owner, name="medium", status=RunStatus.FINISHED)
    ingest(run, {"val/loss": (evals, medium), "train/loss": (evals, train)})
    assert overfitting(run).severity == "warning"

    large = make_run(owner, name="large", status=RunStatus.FINISHED)
    series = overfitting_series()  # 0.6 -> 1.0: gives back more than the whole fall
    steps, loss = series["val/loss"]
    series["val/acc"] = (steps, 1 - loss / 3)  # accuracy falls with it
    ingest(large, series)
    finding = overfitting(large)
    assert finding.severity == "critical"
    assert "val/acc fell from" in finding.summary


def test_a_failed_run_with_no_points_says_why_instead_of_no_problems(client, owner, api_key):
    error = (
        "Traceback (most recent call last):\n"
        '  File "/tmp/nc/tuning/runner.py", line 118, in main\n'
        "    raise tracker.TrackerError(\n"
        "tracker.transport.TrackerError: cannot reach the tracker server at http://127.0.0.1:8000 "
        "(the workers' TRACKER_SERVER_URL must be an address they can reach)\n"
    )
    run = make_run(
        owner, name="sweep-1-0", project="digits", status=RunStatus.FAILED, error=error, exit_code=1
    )
    run.finished_at = run.started_at + timedelta(seconds=1)
    run.save()

    result = run_diagnose(run_id=run.pk)
    [finding] = result.all
    assert finding.kind == "failed_early" and finding.severity == "critical"
    assert finding.title == "Failed before logging anything"
    assert finding.summary == (
        "The run failed after 1s before it logged a single point: tracker.transport.TrackerError: cannot "
        "reach the tracker server at http://127.0.0.1:8000 (the workers' TRACKER_SERVER_URL must be an "
        "address they can reach)."
    )
    assert finding.evidence["exit_code"] == 1

    # What the run page's health panel reads.
    body = client.get(reverse("api-run-findings", args=[run.pk]), **auth(api_key)).json()
    assert body["counts"]["critical"] == 1
    assert body["findings"][0]["title"] == "Failed before logging anything"


def test_only_an_ended_run_without_points_gets_the_failed_early_finding(owner):
    crashed = make_run(owner, name="crashed", status=RunStatus.CRASHED)
    [finding] = run_diagnose(run_id=crashed.pk).all
    assert finding.title == "Crashed before logging anything" and "no heartbeat" in finding.summary

    running = make_run(owner, name="starting", status=RunStatus.RUNNING)
    assert run_diagnose(run_id=running.pk).all == []  # it may simply not have logged yet

    failed_later = make_run(owner, name="failed-later", status=RunStatus.FAILED, error="ValueError: boom")
    ingest(failed_later, {"train/loss": (np.arange(5), np.linspace(1, 0.5, 5))})
    assert "failed_early" not in run_diagnose(run_id=failed_later.pk).kinds()
