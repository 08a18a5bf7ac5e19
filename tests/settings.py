"""Test settings: the project's settings, with state kept apart from a `make run` instance.

Environment defaults are set before the project settings read them.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# One folder per pytest process (database file, broker folder, media), so that two test
# sessions in one checkout never share state; conftest removes it at the end.
os.environ.setdefault("TRACKER_VAR_DIR", str(_ROOT / "var" / "test" / f"session-{os.getpid()}"))
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
if os.environ.get("REDIS_URL"):
    # A separate Redis database so a running `make run` worker never sees test tasks.
    os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/15")

from dashboard.settings import *  # noqa: E402, F403

# Personas are created in most tests; the default hasher's 1M iterations would dominate.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
