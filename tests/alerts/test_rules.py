"""Each rule kind fires once per run and trigger, through a real Celery worker, to a real
HTTP receiver on 127.0.0.1: signed, retried on 500, held back by the cooldown."""

import hashlib
import hmac
import time

import pytest
from django.conf import settings

from alerts import services
from alerts.models import Delivery, DeliveryStatus, DestinationKind, Operator, Trigger
from experiments.models import Metric, Run, RunStatus
from tests import factories
from tests.alerts.support import Receiver, rule, wait_for, webhook
from tests.helpers import post

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, api_key, name="r1") -> int:
    return post(client, "/api/v1/runs", {"project": "digits", "name": name}, api_key).json()["id"]


def log(client, api_key, run_id: int, rows: list[tuple[int, dict]], seq: int = 0) -> None:
    t0 = time.time()
    body = {"writer": "w", "seq": seq, "rows": [[s, t0 + s, values] for s, values in rows]}
    response = post(client, f"/api/v1/runs/{run_id}/batches", body, api_key)
    assert response.status_code in (200, 201), response.content


def finish(client, api_key, run_id: int, status: str = "finished", **extra) -> None:
    response = post(client, f"/api/v1/runs/{run_id}/finish", {"status": status, **extra}, api_key)
    assert response.status_code == 200, response.content


def test_a_failed_run_sends_one_signed_webhook_linking_its_last_step(client, owner, api_key, alert_worker):
    project = factories.project(owner)
    with Receiver() as hook:
        destination = webhook(project, hook.url)
        rule(project, destination, name="failures", trigger=Trigger.FAILED)
        rule(project, destination, name="done", trigger=Trigger.FINISHED)  # must not fire
        run_id = start(client, api_key)
        log(client, api_key, run_id, [(s, {"train/loss": 1.0 / (s + 1)}) for s in range(5)])
        finish(
            client,
            api_key,
            run_id,
            "failed",
            error="Traceback ...\nRuntimeError: CUDA error: device-side assert",
        )

        received = hook.wait(1)
        time.sleep(2)  # a duplicate would have arrived by now
        assert len(hook.requests) == 1, alert_worker.log()
        request = received[0]
        expected = "sha256=" + hmac.new(destination.secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Tracker-Signature"] == expected
        tampered = request.body.replace(b"failed", b"finish")
        assert hmac.new(destination.secret.encode(), tampered, hashlib.sha256).hexdigest() not in expected
        payload = request.json
        assert payload["trigger"] == "status:failed"
        assert payload["rule"] == "failures"
        assert payload["level"] == "critical"
        assert payload["run"] == {"id": run_id, "name": "r1", "status": "failed"}
        assert payload["step"] == 4
        assert payload["url"] == f"{settings.TRACKER_PUBLIC_URL}/runs/{run_id}/?step=4"
        assert payload["evidence"]["error"] == "RuntimeError: CUDA error: device-side assert"
        assert request.headers["X-Tracker-Delivery"] == str(payload["delivery"])

    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 200 and '"ok": true' in attempt.response_excerpt


def test_a_receiver_answering_500_gets_the_same_delivery_again_until_it_takes_it(
    client, owner, api_key, alert_worker
):
    project = factories.project(owner)
    with Receiver([500, 503]) as hook:
        rule(project, webhook(project, hook.url), trigger=Trigger.FINISHED)
        run_id = start(client, api_key)
        finish(client, api_key, run_id)
        received = hook.wait(3)
        time.sleep(1.5)
        assert len(hook.requests) == 3, alert_worker.log()
    # The same message each time (the receiver can tell a retry by X-Tracker-Delivery).
    assert len({r.headers["X-Tracker-Delivery"] for r in received}) == 1
    assert len({r.json["trigger"] for r in received}) == 1
    delivery = wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).first(), what="the delivery to be sent"
    )
    assert delivery.attempts == 3
    assert list(delivery.attempt_log.order_by("number").values_list("number", "status_code")) == [
        (1, 500),
        (2, 503),
        (3, 200),
    ]
    assert '"status": 500' in delivery.attempt_log.get(number=1).response_excerpt


def test_a_receiver_that_keeps_failing_is_given_up_after_the_retries(client, owner, api_key, alert_worker):
    project = factories.project(owner)
    with Receiver([500] * 10) as hook:
        rule(project, webhook(project, hook.url), trigger=Trigger.FINISHED)
        finish(client, api_key, start(client, api_key))
        delivery = wait_for(
            lambda: Delivery.objects.filter(status=DeliveryStatus.FAILED).first(), what="the delivery to fail"
        )
    # ALERTS_MAX_RETRIES=3 in this worker: the first try and three more.
    assert delivery.attempts == 4 and len(hook.requests) == 4
    assert set(delivery.attempt_log.values_list("status_code", flat=True)) == {500}


def test_a_404_is_not_retried(client, owner, api_key, alert_worker):
    project = factories.project(owner)
    with Receiver([404]) as hook:
        rule(project, webhook(project, hook.url), trigger=Trigger.FINISHED)
        finish(client, api_key, start(client, api_key))
        delivery = wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.FAILED).first())
        time.sleep(1.0)
        assert len(hook.requests) == 1
    assert delivery.attempts == 1 and delivery.attempt_log.get().status_code == 404


def test_an_unreachable_receiver_is_logged_with_the_error(owner, api_key, client, alert_worker):
    project = factories.project(owner)
    with Receiver() as hook:
        url = hook.url
    rule(project, webhook(project, url), trigger=Trigger.FINISHED)  # nothing listens there now
    finish(client, api_key, start(client, api_key))
    delivery = wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.FAILED).first(), timeout=90)
    attempt = delivery.attempt_log.order_by("number").first()
    assert attempt.status_code is None and "refused" in attempt.error.lower()


def test_the_cooldown_holds_back_a_second_alert_of_a_rule(client, owner, api_key, alert_worker):
    project = factories.project(owner)
    with Receiver() as hook:
        made = rule(project, webhook(project, hook.url), trigger=Trigger.FAILED, cooldown_minutes=30)
        first, second = start(client, api_key, "a"), start(client, api_key, "b")
        finish(client, api_key, first, "failed")
        hook.wait(1)
        finish(client, api_key, second, "failed")
        time.sleep(2)
        assert [r.json["run"]["name"] for r in hook.requests] == ["a"]
    suppressed = Delivery.objects.get(run_id=second)
    assert suppressed.status == DeliveryStatus.SUPPRESSED and suppressed.attempts == 0
    assert "cooldown" in suppressed.note
    # Past the cooldown the rule alerts again.
    Delivery.objects.filter(rule=made).update(created_at=suppressed.created_at.replace(year=2000))
    third = start(client, api_key, "c")
    with Receiver() as hook2:
        made.destinations.update(url=hook2.url)
        finish(client, api_key, third, "failed")
        assert [r.json["run"]["name"] for r in hook2.wait(1)] == ["c"]


def test_a_metric_threshold_fires_once_at_the_first_step_that_crosses_it(
    client, owner, api_key, alert_worker
):
    project = factories.project(owner)
    with Receiver() as hook:
        destination = webhook(project, hook.url)
        rule(
            project,
            destination,
            name="good enough",
            trigger=Trigger.METRIC,
            metric_key="val/acc",
            operator=Operator.GE,
            threshold=0.95,
        )
        rule(
            project,
            destination,
            name="nan loss",
            trigger=Trigger.METRIC,
            metric_key="train/loss",
            operator=Operator.NAN,
        )
        run_id = start(client, api_key)
        log(client, api_key, run_id, [(s, {"val/acc": 0.5 + 0.05 * s, "train/loss": 1.0}) for s in range(9)])
        log(client, api_key, run_id, [(9, {"val/acc": 0.96, "train/loss": "NaN"})], seq=1)  # 0.90 at 8
        log(client, api_key, run_id, [(10, {"val/acc": 0.97, "train/loss": "NaN"})], seq=2)
        log(client, api_key, run_id, [(11, {"val/acc": 0.99, "train/loss": 0.5})], seq=3)
        hook.wait(2)
        time.sleep(2)
        by_rule = {r.json["rule"]: r.json for r in hook.requests}
        assert len(hook.requests) == 2, [r.json for r in hook.requests]
    assert by_rule["good enough"]["step"] == 9
    assert by_rule["good enough"]["evidence"]["value"] == pytest.approx(0.96)
    assert "val/acc = 0.96 (>= 0.95)" in by_rule["good enough"]["text"]
    assert by_rule["good enough"]["url"].endswith(f"/runs/{run_id}/?step=9")
    assert by_rule["nan loss"]["step"] == 9
    assert by_rule["nan loss"]["level"] == "critical"
    assert "train/loss is nan" in by_rule["nan loss"]["text"].lower()


def test_a_threshold_never_crossed_sends_nothing(client, owner, api_key):
    project = factories.project(owner)
    with Receiver() as hook:
        rule(
            project,
            webhook(project, hook.url),
            trigger=Trigger.METRIC,
            metric_key="val/acc",
            operator=Operator.GE,
            threshold=0.95,
        )
        run_id = start(client, api_key)
        log(client, api_key, run_id, [(s, {"val/acc": 0.9}) for s in range(5)])
    assert not Delivery.objects.exists()


def test_a_run_silent_past_the_stalled_minutes_alerts_once_per_stall(client, owner, api_key):
    project = factories.project(owner)
    with Receiver() as hook:
        made = rule(project, webhook(project, hook.url), trigger=Trigger.STALLED, stalled_minutes=10)
        run_id = start(client, api_key)
        log(client, api_key, run_id, [(s, {"train/loss": 1.0}) for s in range(3)])
        last_wall = Metric.objects.get(run_id=run_id).last_wall_time
        assert services.runs_check_stalled(now=last_wall + 5 * 60) == 0
        assert services.runs_check_stalled(now=last_wall + 11 * 60) == 1
        assert services.runs_check_stalled(now=last_wall + 20 * 60) == 0  # the same stall
        delivery = Delivery.objects.get(rule=made)
        assert delivery.trigger_key == "stalled:2" and delivery.payload["step"] == 2
        assert "no new step for 11 min" in delivery.payload["text"]
        # It moves on, then stalls again: a new alert.
        log(client, api_key, run_id, [(3, {"train/loss": 1.0})], seq=1)
        assert services.runs_check_stalled(now=time.time() + 3 + 11 * 60) == 1
        # An ended run is not stalled.
        Run.objects.filter(pk=run_id).update(status=RunStatus.FINISHED)
        assert services.runs_check_stalled(now=time.time() + 3600) == 0


def test_a_rule_turned_off_or_without_a_destination_sends_nothing(client, owner, api_key):
    project = factories.project(owner)
    with Receiver() as hook:
        rule(project, webhook(project, hook.url), trigger=Trigger.FINISHED, enabled=False)
        off = webhook(project, hook.url, name="off")
        off.enabled = False
        off.save()
        rule(project, off, name="to a disabled destination", trigger=Trigger.FINISHED)
        finish(client, api_key, start(client, api_key))
    assert not Delivery.objects.exists()


def test_a_slack_destination_gets_text_with_the_link(client, owner, api_key, alert_worker):
    project = factories.project(owner)
    with Receiver() as hook:
        rule(project, webhook(project, hook.url, kind=DestinationKind.SLACK), trigger=Trigger.CRASHED)
        run_id = start(client, api_key)
        log(client, api_key, run_id, [(7, {"train/loss": 1.0})])
        from experiments import services as run_services

        Run.objects.filter(pk=run_id).update(
            heartbeat_at=Run.objects.get(pk=run_id).heartbeat_at.replace(year=2000)
        )
        assert run_services.runs_mark_crashed(silent_for_seconds=60) == [run_id]
        request = hook.wait(1)[0]
    assert set(request.json) == {"text"}
    text = request.json["text"]
    assert "r1 crashed" in text and "no heartbeat" in text
    assert f"{settings.TRACKER_PUBLIC_URL}/runs/{run_id}/?step=7" in text
    assert "X-Tracker-Signature" not in request.headers
