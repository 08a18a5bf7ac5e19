"""Settings of the sweeps app, each read as ``getattr(settings, NAME)`` with an
environment-variable default, so a deployment sets them in either place and the project's
settings module need not know about them.

Functions rather than constants: tests and workers change the environment before Django
reads it, and a value read at import would be stale.
"""

from django.conf import settings

from dashboard.env import env_float, env_list, env_str


def _get(name: str, default):
    return getattr(settings, name, default)


def server_url() -> str:
    """The tracker server that trial processes log to (``TRACKER_SERVER_URL``). Workers on
    other machines need an address they can reach, not the web server's own bind address."""
    return str(_get("TRACKER_SERVER_URL", env_str("TRACKER_SERVER_URL", "http://127.0.0.1:8000"))).rstrip("/")


def storage_url() -> str:
    """An explicit SQLAlchemy URL for Optuna's storage (``TUNING_STORAGE_URL``); empty means
    the project's own database."""
    return str(_get("TUNING_STORAGE_URL", env_str("TUNING_STORAGE_URL", "")))


def poll_interval() -> float:
    """How often a supervising worker reads the trial's objective and checks its child."""
    return float(_get("TUNING_POLL_INTERVAL", env_float("TUNING_POLL_INTERVAL", 0.5)))


def heartbeat_interval() -> float:
    """How often a supervising worker proves it is alive on the trial's row."""
    return float(_get("TUNING_HEARTBEAT_INTERVAL", env_float("TUNING_HEARTBEAT_INTERVAL", 5.0)))


def grace_period() -> float:
    """A running trial whose worker has been silent this long is failed ("worker lost")."""
    return float(_get("TUNING_GRACE_PERIOD", env_float("TUNING_GRACE_PERIOD", 60.0)))


def watchdog_interval() -> float:
    """Period of the beat task that fails lost trials and restarts idle sweeps."""
    return float(_get("TUNING_WATCHDOG_INTERVAL", env_float("TUNING_WATCHDOG_INTERVAL", 15.0)))


def trial_timeout() -> float:
    """A trial running longer than this is killed and failed (seconds; default one day)."""
    return float(_get("TUNING_TRIAL_TIMEOUT", env_float("TUNING_TRIAL_TIMEOUT", 24 * 3600.0)))


def stop_timeout() -> float:
    """After asking a trial to stop (pruned, sweep stopped), how long its training may take
    to notice before the process is killed."""
    return float(_get("TUNING_STOP_TIMEOUT", env_float("TUNING_STOP_TIMEOUT", 120.0)))


def child_sdk_env() -> dict[str, str]:
    """SDK settings for trial processes: a short flush interval makes the objective reach
    the pruner, and the pruner's answer reach ``should_stop()``, within about a second."""
    flush = str(_get("TUNING_CHILD_FLUSH_INTERVAL", env_str("TUNING_CHILD_FLUSH_INTERVAL", "0.25")))
    heartbeat = str(_get("TUNING_CHILD_HEARTBEAT_INTERVAL", env_str("TUNING_CHILD_HEARTBEAT_INTERVAL", "1")))
    return {"TRACKER_FLUSH_INTERVAL": flush, "TRACKER_HEARTBEAT_INTERVAL": heartbeat}


def entry_point_modules() -> list[str]:
    """Module prefixes that sweeps may run (``TUNING_ENTRY_POINT_MODULES``, comma separated).
    An explicit allowlist: empty allows nothing. Unset, the embedded default (no
    ``DATABASE_URL``: ``make run`` on one machine) allows the shipped ``examples``, so its
    demonstration sweep runs; a deployment lists its own training packages."""
    default = ["examples"] if getattr(settings, "EMBEDDED", False) else []
    value = _get("TUNING_ENTRY_POINT_MODULES", env_list("TUNING_ENTRY_POINT_MODULES", default))
    return [value] if isinstance(value, str) else list(value)


def trial_env_passthrough() -> list[str]:
    """Extra environment variables of the worker that trial processes get
    (``TUNING_TRIAL_ENV_PASSTHROUGH``, comma separated names; ``NAME_*`` matches a prefix),
    on top of ``TRIAL_ENV_BASE``. The server's own secrets (``NEVER_PASSED``) are never
    passed, even when listed."""
    value = _get("TUNING_TRIAL_ENV_PASSTHROUGH", env_list("TUNING_TRIAL_ENV_PASSTHROUGH", []))
    return [value] if isinstance(value, str) else list(value)


# What a trial process gets of its worker's environment, whoever runs the worker: what a
# Python process, its locale and a GPU training need. ``NAME_*`` matches a prefix.
TRIAL_ENV_BASE = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUDA_HOME",
    "CUDA_PATH",
    "NVIDIA_VISIBLE_DEVICES",
    "NVIDIA_DRIVER_CAPABILITIES",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TORCH_HOME",
    "XDG_CACHE_HOME",
)

# The server's own settings: never in a trial's environment, even when an operator's
# passthrough pattern matches them. The trial gets its own key and server address.
NEVER_PASSED = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "TUNING_STORAGE_URL",
    "DJANGO_*",
    "TRACKER_API_KEY",
    "TRACKER_RUN_ID",
)
