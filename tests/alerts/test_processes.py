"""Alerts where several processes see one event: a finding that both the web server's live
pass and the worker's end-of-run diagnosis report is sent once; ``tracker.alert`` from a
real training script goes through the rules to the receiver."""

import hashlib
import hmac
import logging
import time

import pytest

import tracker
from alerts.models import Delivery, DeliveryStatus, Level, Trigger
from experiments.diagnostics.models import Finding, RunDiagnosis
from experiments.models import Run
from tests import factories
from tests.alerts.support import Receiver, rule, wait_for, webhook
from tests.browser import api, log

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_finding_seen_by_web_and_worker_is_sent_once_with_its_evidence(
    owner, api_key, server, alert_worker
):
    project = factories.project(owner)
    with Receiver() as hook:
        destination = webhook(project, hook.url)
        rule(
            project,
            destination,
            name="diverged",
            trigger=Trigger.FINDING,
            finding_kind="divergence",
            min_level=Level.WARNING,
        )
        rule(project, destination, name="infos", trigger=Trigger.FINDING, finding_kind="no-such-kind")
        run_id = api(server, api_key, "runs", {"project": "digits", "name": "boom"})["id"]
        run = Run.objects.get(pk=run_id)
        losses = [2.0 - 0.1 * s for s in range(12)] + [float("nan")] * 4
        rows = [(s, {"train/loss": "NaN" if v != v else v}) for s, v in enumerate(losses)]
        log(server, api_key, run, rows, seq=0)
        api(server, api_key, f"runs/{run_id}/finish", {"status": "finished"})

        received = hook.wait(1, timeout=90)
        # Both passes have run: the web server's at the end, and the worker's task.
        wait_for(
            lambda: (
                "experiments.tasks.run_diagnose" in alert_worker.log() and "succeeded" in alert_worker.log()
            ),
            what="the worker's diagnosis",
        )
        wait_for(lambda: RunDiagnosis.objects.filter(run_id=run_id, run_status="finished").exists())
        time.sleep(3)
        assert len(hook.requests) == 1, [r.json for r in hook.requests]
    finding = Finding.objects.get(run_id=run_id, kind="divergence")
    payload = received[0].json
    assert payload["trigger"] == f"finding:{finding.fingerprint}"
    assert payload["title"] == f"boom: {finding.title}"
    assert payload["level"] == finding.severity
    assert payload["evidence"]["kind"] == "divergence"
    for name, value in finding.evidence.items():
        assert payload["evidence"][name] == value
    assert payload["step"] == finding.step_start
    assert payload["url"].endswith(f"/runs/{run_id}/?step={finding.step_start}#health")
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 1


def test_tracker_alert_from_training_code_reaches_the_receiver(owner, sdk, api_key, alert_worker, caplog):
    project = factories.project(owner)
    with Receiver() as hook:
        destination = webhook(project, hook.url)
        rule(project, destination, name="from code", trigger=Trigger.ALERT, min_level=Level.WARNING)
        run = tracker.init(project="digits", name="trainer")
        for step in range(5):
            tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
        answer = tracker.alert("Accuracy too low", "val/acc 0.41 at epoch 12", level="warning")
        assert answer == {"rules": ["from code"], "deliveries": 1}
        # Below the rule's level: goes nowhere, and says so.
        assert tracker.alert("FYI", "just so you know", level="info") == {"rules": [], "deliveries": 0}
        # The same alert again: once per run.
        tracker.alert("Accuracy too low", "val/acc 0.41 at epoch 12", level="warning")
        request = hook.wait(1)[0]
        time.sleep(1.5)
        assert len(hook.requests) == 1
    payload = request.json
    assert (payload["title"], payload["text"], payload["level"]) == (
        "Accuracy too low",
        "val/acc 0.41 at epoch 12",
        "warning",
    )
    assert payload["step"] == 4 and payload["url"].endswith(f"/runs/{run.id}/?step=4")
    expected = "sha256=" + hmac.new(destination.secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Tracker-Signature"] == expected

    with pytest.raises(ValueError, match="level must be one of info, warning, critical"):
        tracker.alert("x", level="loud")
    with pytest.raises(ValueError, match="title"):
        tracker.alert("")


def test_tracker_alert_with_the_server_down_warns_and_training_goes_on(owner, sdk, caplog):
    factories.project(owner)
    tracker.init(project="digits")
    sdk.stop()
    with caplog.at_level(logging.WARNING, logger="tracker"):
        assert tracker.alert("Loss exploded", level="critical") is None
    assert "tracker.alert('Loss exploded') was not sent" in caplog.text
    sdk.start()
