"""Test settings: the project's settings, with state kept apart from a `make run` instance.

Environment defaults are set before the project settings read them.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# One folder per pytest process (database file, broker folder, media), so that two test
# sessions in one checkout never share state; conftest removes it at the end.
# Redis keys (channel layer, Celery broker) are prefixed per session likewise, so neither
# a running `make run` nor another session sees this one's messages. Server and worker
# subprocesses inherit the environment; pytest-xdist workers inherit it too, so values
# this module chose (not the user's) are chosen again in each process.
if "TRACKER_VAR_DIR" not in os.environ or os.environ.get("TRACKER_TEST_STATE_AUTO"):
    os.environ["TRACKER_TEST_STATE_AUTO"] = "1"
    os.environ["TRACKER_VAR_DIR"] = str(_ROOT / "var" / "test" / f"session-{os.getpid()}")
    os.environ["TRACKER_REDIS_PREFIX"] = f"tracker-test-{os.getpid()}"
os.environ.setdefault("TRACKER_REDIS_PREFIX", f"tracker-test-{os.getpid()}")
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
# Test servers speak plain HTTP on 127.0.0.1, also on the PostgreSQL pass, which would
# otherwise get production's HTTPS defaults (redirects, Secure cookies).
os.environ.setdefault("TRACKER_HTTPS", "0")
# The only code sweeps in tests may run: the example and the tests' own entry points.
os.environ.setdefault("TUNING_ENTRY_POINT_MODULES", "examples,tests.tuning.test_entrypoints")

from dashboard.settings import *  # noqa: E402, F403

# A PostgreSQL test database per session too (pytest-django creates and drops it).
if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_tracker_{os.getpid()}"}  # noqa: F405

# Personas are created in most tests; the default hasher's 1M iterations would dominate.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
