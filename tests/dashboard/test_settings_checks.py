"""Settings that parse but cannot work are refused by Django's system checks, with a
message naming the variable and what it must be (``dashboard.checks``)."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from dashboard.checks import check_settings


def messages(problems) -> dict[str, str]:
    return {p.id: p.msg for p in problems}


def test_the_defaults_pass():
    assert check_settings() == []


def test_it_refuses_a_grace_period_no_longer_than_the_heartbeat_interval(settings):
    settings.TUNING_HEARTBEAT_INTERVAL = 5.0
    settings.TUNING_GRACE_PERIOD = 3.0
    assert messages(check_settings()) == {
        "tracker.E004": "TUNING_GRACE_PERIOD (3 s) is not longer than TUNING_HEARTBEAT_INTERVAL (5 s): "
        "trials whose workers are alive would be failed as lost between two heartbeats."
    }
    settings.TUNING_GRACE_PERIOD = 5.0
    assert "tracker.E004" in messages(check_settings())
    settings.TUNING_GRACE_PERIOD = 5.5
    assert check_settings() == []


def test_it_refuses_negative_intervals_and_limits_of_zero(settings):
    settings.TUNING_WATCHDOG_INTERVAL = -1.0
    settings.TRACKER_MAX_BATCH_ROWS = 0
    settings.TRACKER_DIAGNOSE_INTERVAL = -10.0
    found = {(p.id, p.msg) for p in check_settings()}
    assert found == {
        ("tracker.E002", "TUNING_WATCHDOG_INTERVAL is -1.0: it must be more than 0 seconds."),
        (
            "tracker.E001",
            "TRACKER_MAX_BATCH_ROWS is 0: a limit must be more than 0 (0 or less refuses everything).",
        ),
        ("tracker.E003", "TRACKER_DIAGNOSE_INTERVAL is -10.0: it cannot be negative."),
    }


def test_zero_is_allowed_where_it_means_off(settings):
    settings.TRACKER_DIAGNOSE_INTERVAL = 0.0  # live diagnosis off
    settings.TUNING_STOP_TIMEOUT = 0.0  # a stopped trial is killed at once
    assert check_settings() == []


def test_the_login_throttle_is_named_by_its_variable(settings):
    settings.AXES_FAILURE_LIMIT = 0
    assert messages(check_settings())["tracker.E001"].startswith("TRACKER_LOGIN_FAILURE_LIMIT is 0: ")


def test_trial_runs_that_would_show_as_crashed_between_heartbeats_are_a_warning(settings):
    settings.TRACKER_CRASH_AFTER_SECONDS = 1.0
    settings.TUNING_CHILD_HEARTBEAT_INTERVAL = 2.0
    (warning,) = check_settings()
    assert warning.id == "tracker.W001" and "TRACKER_CRASH_AFTER_SECONDS (1 s)" in warning.msg


def test_manage_py_check_stops_on_a_bad_value(settings):
    settings.TUNING_GRACE_PERIOD = 1.0
    with pytest.raises(SystemCheckError, match=r"tracker\.E004"):
        call_command("check")
