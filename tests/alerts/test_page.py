"""The project alerts page: reached from the project page, destinations and rules added
through its forms, "send test" in a real browser against a real receiver; refusals."""

import hashlib
import hmac

import pytest

from alerts.models import AlertRule, Delivery, Destination, Trigger
from tests import factories
from tests.alerts.support import Receiver
from tests.browser import login

pytestmark = pytest.mark.django_db(transaction=True)
PAGE_ERRORS_FAIL = True


@pytest.mark.browser
def test_alerts_are_set_up_and_tested_from_the_project_page(server, page, owner):
    factories.project(owner)
    login(page, server, owner, "/projects/digits/")
    page.click("#project-alerts")
    page.wait_for_url(server.url + "/projects/digits/alerts/")
    with Receiver([200, 500]) as hook:
        page.click("text=Add a destination")
        page.fill("#id_d-name", "ops-hook")
        page.select_option("#id_d-kind", "webhook")
        page.fill("#id_d-url", hook.url)
        page.click("#destination-form button[type=submit]")
        page.wait_for_selector("tr[data-destination='ops-hook']")
        destination = Destination.objects.get(name="ops-hook")
        assert page.inner_text("tr[data-destination='ops-hook']").count(destination.secret) == 1

        page.click("text=Add a rule")
        page.fill("#id_r-name", "acc reached")
        page.select_option("#id_r-trigger", "metric")
        page.fill("#id_r-metric_key", "val/acc")
        page.select_option("#id_r-operator", ">=")
        page.fill("#id_r-threshold", "0.95")
        page.check("#rule-form input[name=r-destinations]")
        page.click("#rule-form button[type=submit]")
        page.wait_for_selector("tr[data-rule='acc reached']")
        assert "val/acc >= 0.95" in page.inner_text("tr[data-rule='acc reached']")
        made = AlertRule.objects.get(name="acc reached")
        assert (made.trigger, made.metric_key, made.threshold) == (Trigger.METRIC, "val/acc", 0.95)
        assert list(made.destinations.all()) == [destination]

        page.click("tr[data-destination='ops-hook'] >> text=Send test")
        page.wait_for_selector("#messages")
        assert "Test sent to ops-hook: HTTP 200." in page.inner_text("#messages")
        request = hook.requests[0]
        assert request.json["title"] == "Test alert from digits"
        expected = "sha256=" + hmac.new(destination.secret.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Tracker-Signature"] == expected
        assert "HTTP 200" in page.inner_text("#delivery-log")

        page.click("tr[data-destination='ops-hook'] >> text=Send test")
        page.wait_for_function("() => document.querySelector('#messages').innerText.includes('failed')")
        assert "Test to ops-hook failed: HTTP 500." in page.inner_text("#messages")
    assert Delivery.objects.filter(destination=destination).count() == 2


def test_a_form_mistake_is_named_and_nothing_is_stored(client, owner):
    factories.project(owner)
    client.force_login(owner)
    response = client.post(
        "/projects/digits/alerts/",
        {"action": "add-destination", "d-name": "x", "d-kind": "webhook", "d-url": ""},
    )
    assert response.status_code == 400
    assert "a webhook needs the URL to POST to" in response.content.decode()
    response = client.post(
        "/projects/digits/alerts/",
        {
            "action": "add-rule",
            "r-name": "m",
            "r-trigger": "metric",
            "r-operator": ">=",
            "r-cooldown_minutes": "0",
            "r-min_level": "info",
        },
    )
    assert response.status_code == 400
    assert "a metric rule needs the metric&#x27;s key" in response.content.decode()
    assert not Destination.objects.exists() and not AlertRule.objects.exists()


def test_a_stranger_cannot_see_or_test_anothers_alerts(client, owner, stranger):
    project = factories.project(owner)
    destination = Destination.objects.create(
        project=project, name="h", kind="webhook", url="http://127.0.0.1:9/"
    )
    client.force_login(stranger)
    assert client.get("/projects/digits/alerts/").status_code == 404
    assert client.post(f"/projects/digits/alerts/destinations/{destination.pk}/test/").status_code == 404
    assert not Delivery.objects.exists()


def test_the_admin_lists_rules_destinations_and_the_delivery_log(client, owner):
    from alerts.models import Attempt, DeliveryStatus

    project = factories.project(owner)
    destination = Destination.objects.create(
        project=project, name="h", kind="webhook", url="http://127.0.0.1:9/"
    )
    made = AlertRule.objects.create(project=project, name="fails", trigger=Trigger.FAILED)
    made.destinations.add(destination)
    delivery = Delivery.objects.create(
        rule=made, destination=destination, trigger_key="status:failed", status=DeliveryStatus.FAILED
    )
    Attempt.objects.create(delivery=delivery, number=1, status_code=502, response_excerpt="bad gateway")
    owner.is_staff = owner.is_superuser = True
    owner.save()
    client.force_login(owner)
    for path in (
        "/admin/alerts/alertrule/",
        "/admin/alerts/alertrule/add/",
        "/admin/alerts/destination/",
        f"/admin/alerts/destination/{destination.pk}/change/",
        "/admin/alerts/datasetprofile/",
    ):
        assert client.get(path).status_code == 200, path
    page = client.get(f"/admin/alerts/delivery/{delivery.pk}/change/").content.decode()
    assert "bad gateway" in page and "502" in page
    response = client.post(
        "/admin/alerts/alertrule/add/",
        {
            "project": project.pk,
            "name": "stall",
            "trigger": "stalled",
            "min_level": "info",
            "cooldown_minutes": "0",
            "destinations": [destination.pk],
            "enabled": "on",
        },
    )
    assert response.status_code == 200 and "a stalled rule needs the minutes" in response.content.decode()
    assert not AlertRule.objects.filter(name="stall").exists()
