"""The sign-in throttle (django-axes): ten failed sign-ins for one account, or from one
address, lock signing in for the cool-off, on the login page and the admin's alike.
API keys are not passwords and are never throttled."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.helpers import post

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
LOCKED = "signing in is locked"


def sign_in(client: Client, username: str, password: str, url: str = LOGIN, address: str = "10.0.0.1", **h):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **h)


def signed_in_as(client: Client) -> str | None:
    response = client.get("/")
    return None if response.status_code == 302 else response.context["user"].username


def test_eleven_wrong_passwords_lock_the_sign_in_even_with_the_right_one(client, owner):
    answers = [sign_in(client, "owner", f"wrong-{i}") for i in range(11)]

    # The first nine are told the password did not match; the tenth failure locks.
    assert [r.status_code for r in answers[:9]] == [200] * 9
    assert all("didn't match" in r.content.decode() for r in answers[:9])
    assert [r.status_code for r in answers[9:]] == [429, 429]

    right = sign_in(client, "owner", owner.raw_password)
    assert right.status_code == 429
    page = right.content.decode()
    assert LOCKED in page and "15 minutes" in page
    assert 'name="password"' in page  # the login page itself, saying why
    assert signed_in_as(client) is None


def test_the_admin_login_is_locked_too(client, django_user_model):
    staff = django_user_model.objects.create_user("boss", password="right-password-1", is_staff=True)
    for i in range(11):
        sign_in(client, staff.username, f"wrong-{i}", url=ADMIN_LOGIN)

    right = sign_in(client, staff.username, "right-password-1", url=ADMIN_LOGIN)

    assert right.status_code == 429
    assert LOCKED in right.content.decode()
    assert client.get("/admin/").status_code == 302  # still sent to sign in


def test_an_account_is_locked_whatever_address_the_guesses_come_from(client, owner):
    for i in range(10):
        sign_in(client, "owner", f"wrong-{i}", address=f"10.0.1.{i}")

    right = sign_in(client, "owner", owner.raw_password, address="10.0.2.1")

    assert right.status_code == 429
    assert signed_in_as(client) is None


def test_an_address_is_locked_whatever_accounts_it_guesses(client, owner, stranger):
    for i in range(10):
        sign_in(client, f"user-{i}", "guess", address="10.0.3.1")

    assert sign_in(client, "owner", owner.raw_password, address="10.0.3.1").status_code == 429
    assert signed_in_as(client) is None
    # Another address signs in as usual.
    elsewhere = Client()
    assert sign_in(elsewhere, "stranger", stranger.raw_password, address="10.0.3.2").status_code == 302
    assert signed_in_as(elsewhere) == "stranger"


def test_a_forwarded_for_header_from_the_client_does_not_give_a_fresh_address(client, owner):
    for i in range(10):
        sign_in(client, f"user-{i}", "guess", address="10.0.4.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")

    answer = sign_in(
        client, "owner", owner.raw_password, address="10.0.4.1", HTTP_X_FORWARDED_FOR="192.0.2.99"
    )

    assert answer.status_code == 429


def test_the_lock_lifts_after_the_cool_off(client, owner):
    from axes.models import AccessAttempt

    for i in range(10):
        sign_in(client, "owner", f"wrong-{i}")
    assert sign_in(client, "owner", owner.raw_password).status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert sign_in(client, "owner", owner.raw_password).status_code == 302
    assert signed_in_as(client) == "owner"


def test_fewer_failures_than_the_limit_then_the_right_password_signs_in(client, owner):
    for i in range(9):
        sign_in(client, "owner", f"wrong-{i}")

    assert sign_in(client, "owner", owner.raw_password).status_code == 302
    assert signed_in_as(client) == "owner"


def test_api_keys_of_a_locked_account_keep_working(client, owner, api_key):
    for i in range(11):
        sign_in(client, "owner", f"wrong-{i}")
    assert sign_in(client, "owner", owner.raw_password).status_code == 429

    created = post(Client(), "/api/v1/runs", {"project": "digits"}, api_key, REMOTE_ADDR="10.0.0.1")

    assert created.status_code == 201


def test_wrong_api_keys_are_not_counted_as_sign_in_failures(client, owner):
    from axes.models import AccessAttempt

    for i in range(20):
        assert post(Client(), "/api/v1/runs", {"project": "p"}, f"trk_wrong{i}").status_code == 401

    assert AccessAttempt.objects.count() == 0
    assert sign_in(client, "owner", owner.raw_password).status_code == 302
