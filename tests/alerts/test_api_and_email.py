"""The alert API's refusals, and e-mail through Django's mail settings (locmem here)."""

import pytest
from django.core import mail

from alerts import services
from alerts.delivery import delivery_attempt
from alerts.models import Delivery, DeliveryStatus, Destination, DestinationKind, Trigger
from tests import factories
from tests.alerts.support import rule
from tests.helpers import post, rejected

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "no title"}, "title", "required"),
        ({"title": ""}, "title", "non-empty"),
        ({"title": "x" * 201}, "title", "200"),
        ({"title": "t", "text": 5}, "text", "string"),
        ({"title": "t", "level": "loud"}, "level", "info, warning, critical"),
        ({"title": "t", "step": -1}, "step", "non-negative"),
        ([1, 2], "body", "JSON object"),
    ],
)
def test_the_alert_api_names_what_is_wrong(client, owner, api_key, body, field, words):
    run = factories.run(owner)
    response = post(client, f"/api/v1/runs/{run.pk}/alerts", body, api_key)
    rejected(response, 400, field, words)
    assert not Delivery.objects.exists()


def test_a_strangers_run_cannot_be_alerted_on(client, owner, stranger_api_key):
    run = factories.run(owner)
    response = post(client, f"/api/v1/runs/{run.pk}/alerts", {"title": "hi"}, stranger_api_key)
    assert response.status_code == 404


def test_an_email_destination_sends_through_djangos_mail_settings(client, owner, api_key):
    project = factories.project(owner)
    destination = Destination.objects.create(
        project=project, name="oncall", kind=DestinationKind.EMAIL, emails="a@example.com, b@example.com"
    )
    rule(project, destination, trigger=Trigger.FAILED)
    run = factories.run(owner, name="night-run")
    from experiments import services as run_services
    from experiments.payloads import parse_run_end

    run_services.run_finish(
        run=run, end=parse_run_end({"status": "failed", "error": "ValueError: bad shape"})
    )
    delivery = Delivery.objects.get()  # the listener created it after the commit
    assert delivery_attempt(delivery.pk, final=False) == "sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["a@example.com", "b@example.com"]
    assert message.subject == "[tracker] night-run failed"
    assert f"/runs/{run.pk}/" in message.body and "ValueError: bad shape" in message.body
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempt_log.get().response_excerpt == "mail accepted for 2 recipient(s)"
    # A second try of the same task message (acks_late redelivery) sends nothing more.
    assert delivery_attempt(delivery.pk, final=False) == "skipped"
    assert len(mail.outbox) == 1


def test_send_test_records_the_attempt(owner):
    project = factories.project(owner)
    destination = Destination.objects.create(
        project=project, name="mail", kind=DestinationKind.EMAIL, emails="me@example.com"
    )
    delivery = services.destination_test(destination=destination)
    assert delivery.status == DeliveryStatus.SENT and delivery.rule is None and delivery.run is None
    assert mail.outbox[0].subject == "[tracker] Test alert from digits"
