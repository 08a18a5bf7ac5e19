"""Settings of the sweeps app, read from ``django.conf.settings`` when asked (tests
override them there). ``dashboard/settings.py`` declares each, from the environment, and
``dashboard.checks`` refuses values that cannot work.
"""

from django.conf import settings


def _number(value: float) -> str:
    """An SDK environment value: ``1`` rather than ``1.0``."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _names(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def server_url() -> str:
    """The tracker server that trial processes log to: the server's public address
    (``TRACKER_PUBLIC_URL``), the same one its pages and `make run` show."""
    return str(settings.TRACKER_PUBLIC_URL).rstrip("/")


def storage_url() -> str:
    """An explicit SQLAlchemy URL for Optuna's storage (``TUNING_STORAGE_URL``); empty means
    the project's own database."""
    return str(settings.TUNING_STORAGE_URL)


def poll_interval() -> float:
    """How often a supervising worker reads the trial's objective and checks its child."""
    return float(settings.TUNING_POLL_INTERVAL)


def heartbeat_interval() -> float:
    """How often a supervising worker proves it is alive on the trial's row."""
    return float(settings.TUNING_HEARTBEAT_INTERVAL)


def grace_period() -> float:
    """A running trial whose worker has been silent this long is failed ("worker lost")."""
    return float(settings.TUNING_GRACE_PERIOD)


def watchdog_interval() -> float:
    """Period of the recovery that fails lost trials and restarts idle sweeps."""
    return float(settings.TUNING_WATCHDOG_INTERVAL)


def trial_timeout() -> float:
    """A trial running longer than this is killed and failed (seconds; default one day)."""
    return float(settings.TUNING_TRIAL_TIMEOUT)


def stop_timeout() -> float:
    """After asking a trial to stop (pruned, sweep stopped), how long its training may take
    to notice before the process is killed."""
    return float(settings.TUNING_STOP_TIMEOUT)


def child_sdk_env() -> dict[str, str]:
    """SDK settings for trial processes: a short flush interval makes the objective reach
    the pruner, and the pruner's answer reach ``should_stop()``, within about a second."""
    return {
        "TRACKER_FLUSH_INTERVAL": _number(settings.TUNING_CHILD_FLUSH_INTERVAL),
        "TRACKER_HEARTBEAT_INTERVAL": _number(settings.TUNING_CHILD_HEARTBEAT_INTERVAL),
    }


def entry_point_modules() -> list[str]:
    """Module prefixes that sweeps may run (``TUNING_ENTRY_POINT_MODULES``): an explicit
    allowlist, empty allows nothing. Unset (None), the embedded default (no ``DATABASE_URL``:
    ``make run`` on one machine) allows the shipped ``examples``, so its demonstration sweep
    runs; a deployment lists its own training packages."""
    value = settings.TUNING_ENTRY_POINT_MODULES
    if value is None:
        return ["examples"] if settings.EMBEDDED else []
    return _names(value)


def trial_env_passthrough() -> list[str]:
    """Extra environment variables of the worker that trial processes get
    (``TUNING_TRIAL_ENV_PASSTHROUGH``, ``NAME_*`` matches a prefix), on top of
    ``TRIAL_ENV_BASE``. The server's own secrets (``NEVER_PASSED``) are never passed, even
    when listed."""
    return _names(settings.TUNING_TRIAL_ENV_PASSTHROUGH)


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
