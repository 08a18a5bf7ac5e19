"""System checks of the project's settings: values that parse but cannot work.

``dashboard/settings.py`` already stops on a value that is not a number or a boolean; these
catch the rest (a negative interval, a limit of 0, a grace period that would declare live
trials lost) before the server or a worker runs with them. Django runs them before
``migrate`` (so before ``make run``) and with ``python manage.py check --deploy`` or not.
Registered in ``ExperimentsConfig.ready``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.checks import Error, Warning

# Limits: a request, a run, a chart or a sign-in throttle with a limit of 0 refuses everything.
POSITIVE_LIMITS = (
    "TRACKER_MAX_BODY_BYTES",
    "TRACKER_MAX_BATCH_ROWS",
    "TRACKER_MAX_BATCH_POINTS",
    "TRACKER_MAX_BATCH_KEYS",
    "TRACKER_MAX_METRIC_KEYS",
    "TRACKER_MAX_JSON_DEPTH",
    "TRACKER_MAX_CONFIG_BYTES",
    "TRACKER_MAX_SUMMARY_BYTES",
    "TRACKER_MAX_TAGS",
    "TRACKER_MAX_TAG_LENGTH",
    "TRACKER_MAX_CHECKPOINT_BYTES",
    "TRACKER_CHART_POINTS",
    "AXES_FAILURE_LIMIT",
)
# Seconds that must be more than 0: a period of 0 spins, a timeout of 0 fails everything.
POSITIVE_SECONDS = (
    "TRACKER_CRASH_AFTER_SECONDS",
    "TRACKER_LIVE_INTERVAL",
    "TUNING_POLL_INTERVAL",
    "TUNING_HEARTBEAT_INTERVAL",
    "TUNING_GRACE_PERIOD",
    "TUNING_WATCHDOG_INTERVAL",
    "TUNING_TRIAL_TIMEOUT",
    "TUNING_CHILD_FLUSH_INTERVAL",
    "TUNING_CHILD_HEARTBEAT_INTERVAL",
)
# Seconds where 0 means something (live diagnosis off, stop by killing at once).
NON_NEGATIVE_SECONDS = ("TRACKER_DIAGNOSE_INTERVAL", "TUNING_STOP_TIMEOUT")


# Settings named after another library, and the variable that sets them.
ENV_NAMES = {"AXES_FAILURE_LIMIT": "TRACKER_LOGIN_FAILURE_LIMIT"}


def _number(name: str) -> float | None:
    value = getattr(settings, name, None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def check_settings(app_configs=None, **kwargs) -> list:
    """Every setting above in its range, and the ones that depend on each other in order."""
    problems: list = []
    for name in POSITIVE_LIMITS:
        value, shown = _number(name), ENV_NAMES.get(name, name)
        if value is not None and value <= 0:
            problems.append(
                Error(
                    f"{shown} is {value}: a limit must be more than 0 (0 or less refuses everything).",
                    hint=f"Set {shown} to a positive number, or unset it for the default.",
                    id="tracker.E001",
                )
            )
    for name in POSITIVE_SECONDS:
        value = _number(name)
        if value is not None and value <= 0:
            problems.append(
                Error(
                    f"{name} is {value}: it must be more than 0 seconds.",
                    hint=f"Set {name} to a positive number of seconds, or unset it for the default.",
                    id="tracker.E002",
                )
            )
    for name in NON_NEGATIVE_SECONDS:
        value = _number(name)
        if value is not None and value < 0:
            problems.append(
                Error(
                    f"{name} is {value}: it cannot be negative.",
                    hint=f"Set {name} to 0 or more seconds, or unset it for the default.",
                    id="tracker.E003",
                )
            )
    cooloff = getattr(settings, "AXES_COOLOFF_TIME", None)
    if isinstance(cooloff, timedelta) and cooloff < timedelta(0):
        problems.append(
            Error(
                f"TRACKER_LOGIN_COOLOFF_MINUTES is {cooloff.total_seconds() / 60:g}: it cannot be negative.",
                hint="Set TRACKER_LOGIN_COOLOFF_MINUTES to 0 or more minutes, or unset it for the default.",
                id="tracker.E003",
            )
        )
    grace, heartbeat = _number("TUNING_GRACE_PERIOD"), _number("TUNING_HEARTBEAT_INTERVAL")
    if grace is not None and heartbeat is not None and 0 < grace <= heartbeat:
        problems.append(
            Error(
                f"TUNING_GRACE_PERIOD ({grace:g} s) is not longer than TUNING_HEARTBEAT_INTERVAL "
                f"({heartbeat:g} s): trials whose workers are alive would be failed as lost "
                "between two heartbeats.",
                hint="Give the grace period several heartbeat intervals (the defaults: 60 s and 5 s).",
                id="tracker.E004",
            )
        )
    crash, child_beat = _number("TRACKER_CRASH_AFTER_SECONDS"), _number("TUNING_CHILD_HEARTBEAT_INTERVAL")
    if crash is not None and child_beat is not None and 0 < crash <= child_beat:
        problems.append(
            Warning(
                f"TRACKER_CRASH_AFTER_SECONDS ({crash:g} s) is not longer than "
                f"TUNING_CHILD_HEARTBEAT_INTERVAL ({child_beat:g} s): the runs of sweep trials "
                "would show as crashed between two heartbeats.",
                hint="Keep TRACKER_CRASH_AFTER_SECONDS well above the trials' heartbeat interval.",
                id="tracker.W001",
            )
        )
    return problems
