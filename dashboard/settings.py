"""One settings module for every deployment shape, configured by environment variables.

With nothing set you get the embedded default (SQLite, in-memory channel layer, a Celery
worker on a filesystem broker, all under ``var/``). ``DATABASE_URL`` switches to
PostgreSQL and ``REDIS_URL`` to Redis for both the channel layer and the Celery broker.
See ``.env.example`` for every variable.
"""

import secrets
from pathlib import Path

import dj_database_url
import plotly
from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TRACKER_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
DATABASE_URL = env_str("DATABASE_URL")
REDIS_URL = env_str("REDIS_URL")
EMBEDDED = not DATABASE_URL


def _secret_key() -> str:
    """Production must set SECRET_KEY; the embedded default keeps a generated one in var/."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`) or set DEBUG=1 for local development."
        )
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "experiments",
    "tuning",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _databases() -> dict:
    if DATABASE_URL:
        db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        if db["ENGINE"] == "django.db.backends.sqlite3":
            db["OPTIONS"] = _SQLITE_OPTIONS
        return {"default": db}
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": _SQLITE_OPTIONS,
            # A file, not :memory:, so that server subprocesses started by tests share it.
            "TEST": {"NAME": VAR_DIR / "test-db.sqlite3"},
        }
    }


# WAL lets the web server, the Celery worker and readers work on one file concurrently;
# IMMEDIATE transactions take the write lock up front instead of failing mid-transaction.
_SQLITE_OPTIONS = {
    "init_command": ("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"),
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
# Plotly.js is served from the installed plotly package: no CDN, no copy to keep in sync.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/plotly", Path(plotly.__file__).parent / "package_data"),
]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# Several deployments (or test sessions) can share one Redis: keys carry this prefix.
REDIS_PREFIX = env_str("TRACKER_REDIS_PREFIX", "tracker")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_PREFIX}:asgi"},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"global_keyprefix": f"{REDIS_PREFIX}:celery:"}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _broker_dir = VAR_DIR / "celery-broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(_broker_dir / "control"),
        "polling_interval": 0.2,
    }
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", CELERY_BROKER_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Periodic work, run by one `celery beat` (embedded in the `make run` worker with -B).
CELERY_BEAT_SCHEDULE = {
    "detect-crashed-runs": {"task": "experiments.tasks.runs_detect_crashed", "schedule": 30.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Ingestion limits: a request over these gets a 413/400 naming the limit.
TRACKER_MAX_BODY_BYTES = env_int("TRACKER_MAX_BODY_BYTES", 16 * 1024 * 1024)
TRACKER_MAX_BATCH_ROWS = env_int("TRACKER_MAX_BATCH_ROWS", 20_000)
TRACKER_MAX_BATCH_POINTS = env_int("TRACKER_MAX_BATCH_POINTS", 200_000)
TRACKER_MAX_KEY_LENGTH = 200
# A running run whose client has been silent this long is shown as crashed.
TRACKER_CRASH_AFTER_SECONDS = env_float("TRACKER_CRASH_AFTER_SECONDS", 120.0)
# Live "new points" messages of one run are merged and sent at most this often.
TRACKER_LIVE_INTERVAL = env_float("TRACKER_LIVE_INTERVAL", 0.25)
# Points per series sent to a chart; longer series are downsampled keeping extremes.
TRACKER_CHART_POINTS = env_int("TRACKER_CHART_POINTS", 1500)

# Django's own body cap must not undercut ours; ours is checked in the API decorator.
DATA_UPLOAD_MAX_MEMORY_SIZE = TRACKER_MAX_BODY_BYTES + 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
