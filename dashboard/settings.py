"""One settings module for every deployment shape, configured by environment variables.

With nothing set you get the embedded default (SQLite, in-memory channel layer, a Celery
worker on a filesystem broker, all under ``var/``). ``DATABASE_URL`` switches to
PostgreSQL and ``REDIS_URL`` to Redis for both the channel layer and the Celery broker.
See ``.env.example`` for every variable.

This is the one module that reads the environment: every other module reads
``django.conf.settings`` when it needs a value (never at import), and ``dashboard.checks``
refuses values that cannot work (a negative interval, a limit of 0, ...).
"""

import secrets
from datetime import timedelta
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

# --- Security: HTTPS, cookies, Content-Security-Policy, sign-in throttle --------------
# TRACKER_HTTPS says the site is reached over HTTPS (directly or through a TLS-terminating
# proxy). It is on by default in production (DATABASE_URL set, DEBUG off) and off for the
# embedded default, which `make run` serves on plain http://127.0.0.1. Each setting it
# implies can still be set on its own, under Django's name.
HTTPS = env_bool("TRACKER_HTTPS", not (DEBUG or EMBEDDED))
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Sent only on HTTPS responses. Subdomains and preload concern other hosts of the domain,
# so they are the operator's call (README, "Production settings").
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The request header (META name) by which a proxy says the client used HTTPS, e.g.
# HTTP_X_FORWARDED_PROTO. Only for a proxy that always sets it: a client could send it too.
# uvicorn already reads X-Forwarded-Proto from the proxies in FORWARDED_ALLOW_IPS.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https") if _proxy_ssl_header else None

# Content-Security-Policy (django-csp; dashboard.security adds this host's ws:/wss: to
# connect-src). Pages load scripts only from static files; page data is JSON in
# <script type="application/json">, which is never executed. style-src allows inline
# styles because Plotly injects <style> elements and style attributes as it draws.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Sign-in throttle (django-axes): after TRACKER_LOGIN_FAILURE_LIMIT failed sign-ins for one
# username, or from one address, further tries are refused for the cool-off, which each
# try during it restarts. `python manage.py axes_reset_username NAME` lifts a lock early.
# API keys are not passwords and do not pass through it.
AXES_FAILURE_LIMIT = env_int("TRACKER_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("TRACKER_LOGIN_COOLOFF_MINUTES", 15.0))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "dashboard.security.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AUTHENTICATION_BACKENDS = [
    "dashboard.security.ThrottledAuthBackend",
    "django.contrib.auth.backends.ModelBackend",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "experiments",
    "experiments.diagnostics",
    "tuning",
    "teams",
    "mlflow_api",  # the MLflow-compatible tracking API (issue #13)
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dashboard.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "teams.audit.AuditMiddleware",  # who acts, from where: for the audit log
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
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
    {
        # The runs table's row fragment (templates/projects/_row.html), rendered by the
        # thousand on a project's page: Jinja2 compiles it to Python, and renders 1,000
        # rows in ~25 ms where Django's engine takes ~150 ms. Asked for by name only
        # (engines["rows"]); every page template stays Django's.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "rows",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
    },
]


def _databases() -> dict:
    if DATABASE_URL:
        db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        if db["ENGINE"] == "django.db.backends.sqlite3":
            db["OPTIONS"] = _SQLITE_OPTIONS
        elif not env_bool("DB_JIT", False):
            # PostgreSQL compiles a query's expressions to machine code once its estimated
            # cost passes jit_above_cost: a runs table grouped over 100,000 runs spent 150
            # of its 560 ms compiling. Our queries are short reads, so JIT is off unless
            # DB_JIT=1 (an ``options`` given in DATABASE_URL wins).
            db.setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
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
# Teams (teams/): requests per minute each API key may make (0: no limit; over it: 429
# with Retry-After), counted in the cache (Redis when REDIS_URL is set, so every web
# process shares the count; else each process's memory); invitation links' lifetime.
TRACKER_RATE_LIMIT_PER_MINUTE = env_int("TRACKER_RATE_LIMIT_PER_MINUTE", 0)
# The counting window, in seconds: the limit is per window (60: per minute; tests shorten it).
TRACKER_RATE_LIMIT_WINDOW_SECONDS = env_int("TRACKER_RATE_LIMIT_WINDOW_SECONDS", 60)
TEAMS_INVITE_MAX_AGE_DAYS = env_int("TEAMS_INVITE_MAX_AGE_DAYS", 7)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_PREFIX}:cache",
        }
    }
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
if CELERY_BROKER_URL == "filesystem://":
    # kombu's filesystem transport, writing each message whole before a worker can see it.
    CELERY_BROKER_TRANSPORT = "dashboard.broker:Transport"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Ingestion limits: a request over these gets a 413/400 naming the limit.
TRACKER_MAX_BODY_BYTES = env_int("TRACKER_MAX_BODY_BYTES", 16 * 1024 * 1024)
TRACKER_MAX_BATCH_ROWS = env_int("TRACKER_MAX_BATCH_ROWS", 20_000)
TRACKER_MAX_BATCH_POINTS = env_int("TRACKER_MAX_BATCH_POINTS", 200_000)
TRACKER_MAX_KEY_LENGTH = 200
# --- Input limits (experiments.payloads): each is named in the 400/413 that enforces it.
# Distinct metric keys one batch may carry, and one run may hold in all.
TRACKER_MAX_BATCH_KEYS = env_int("TRACKER_MAX_BATCH_KEYS", 10_000)
TRACKER_MAX_METRIC_KEYS = env_int("TRACKER_MAX_METRIC_KEYS", 10_000)
# A run's config and summary: nesting depth, and size as stored (JSON bytes, after merging).
TRACKER_MAX_JSON_DEPTH = env_int("TRACKER_MAX_JSON_DEPTH", 32)
TRACKER_MAX_CONFIG_BYTES = env_int("TRACKER_MAX_CONFIG_BYTES", 1024 * 1024)
TRACKER_MAX_SUMMARY_BYTES = env_int("TRACKER_MAX_SUMMARY_BYTES", 1024 * 1024)
# Tags of one run: how many, and the characters of each.
TRACKER_MAX_TAGS = env_int("TRACKER_MAX_TAGS", 100)
TRACKER_MAX_TAG_LENGTH = env_int("TRACKER_MAX_TAG_LENGTH", 100)
# A string logged with tracker.log (a text series value), in characters.
TRACKER_MAX_TEXT_LENGTH = env_int("TRACKER_MAX_TEXT_LENGTH", 10_000)
# --- end of input limits
# A running run whose client has been silent this long is shown as crashed.
TRACKER_CRASH_AFTER_SECONDS = env_float("TRACKER_CRASH_AFTER_SECONDS", 120.0)
# Live "new points" messages of one run are merged and sent at most this often.
TRACKER_LIVE_INTERVAL = env_float("TRACKER_LIVE_INTERVAL", 0.25)
# Points per series sent to a chart; longer series are downsampled keeping extremes.
TRACKER_CHART_POINTS = env_int("TRACKER_CHART_POINTS", 1500)
# Diagnostics: a live run is analysed at most this often (s); 0 turns live passes off.
TRACKER_DIAGNOSE_INTERVAL = env_float("TRACKER_DIAGNOSE_INTERVAL", 10.0)
# Checkpoints: where their files live (empty: MEDIA_ROOT) and the largest one accepted.
TRACKER_ARTIFACT_ROOT = env_str("TRACKER_ARTIFACT_ROOT", "")
TRACKER_MAX_CHECKPOINT_BYTES = env_int("TRACKER_MAX_CHECKPOINT_BYTES", 2 * 1024**3)

# The one address clients reach this server at: the `make run` banner, the pages' "Log a
# run" help and sweep trials (which log back to it from any worker) all use it. `make run`
# sets it from HOST and PORT; workers on other machines need an address they can reach.
# TRACKER_SERVER_URL is its former name, still read.
TRACKER_PUBLIC_URL = (
    env_str("TRACKER_PUBLIC_URL", "") or env_str("TRACKER_SERVER_URL", "") or "http://127.0.0.1:8000"
).rstrip("/")

# --- Sweeps (tuning; read through tuning.conf) ------------------------------------------
# An explicit SQLAlchemy URL for Optuna's storage; empty: the project's own database.
TUNING_STORAGE_URL = env_str("TUNING_STORAGE_URL", "")
# Module prefixes sweeps may run, an allowlist: empty allows nothing. Unset (None), the
# embedded default (`make run` on one machine) allows the shipped examples and a deployment
# nothing (tuning.conf.entry_point_modules): a deployment lists its own.
TUNING_ENTRY_POINT_MODULES = env_list("TUNING_ENTRY_POINT_MODULES", None)
# Extra worker environment variables trial processes get (``NAME_*`` is a prefix).
TUNING_TRIAL_ENV_PASSTHROUGH = env_list("TUNING_TRIAL_ENV_PASSTHROUGH", [])
# Seconds: how often a supervising worker reads the objective and beats the trial's
# heartbeat; how long a silent trial has before it is failed as lost (longer than the
# heartbeat interval); the period of the recovery every worker (and beat) runs; the longest
# a trial may run; how long a stopped trial may take to notice before it is killed.
TUNING_POLL_INTERVAL = env_float("TUNING_POLL_INTERVAL", 0.5)
TUNING_HEARTBEAT_INTERVAL = env_float("TUNING_HEARTBEAT_INTERVAL", 5.0)
TUNING_GRACE_PERIOD = env_float("TUNING_GRACE_PERIOD", 60.0)
TUNING_WATCHDOG_INTERVAL = env_float("TUNING_WATCHDOG_INTERVAL", 15.0)
TUNING_TRIAL_TIMEOUT = env_float("TUNING_TRIAL_TIMEOUT", 24 * 3600.0)
TUNING_STOP_TIMEOUT = env_float("TUNING_STOP_TIMEOUT", 120.0)
# The SDK's flush and heartbeat intervals in trial processes (s): short, so the objective
# reaches the pruner, and its answer ``should_stop()``, within about a second.
TUNING_CHILD_FLUSH_INTERVAL = env_float("TUNING_CHILD_FLUSH_INTERVAL", 0.25)
TUNING_CHILD_HEARTBEAT_INTERVAL = env_float("TUNING_CHILD_HEARTBEAT_INTERVAL", 1.0)

# --- Celery: periodic work and time limits, declared here only --------------------------
# Run by one `celery beat` (embedded in the `make run` worker with -B).
CELERY_BEAT_SCHEDULE = {
    "detect-crashed-runs": {"task": "experiments.tasks.runs_detect_crashed", "schedule": 30.0},
    # Beat is not needed for it: every worker also recovers lost trials (tuning.recovery).
    "tuning: sweeps watchdog": {"task": "tuning.tasks.sweeps_watchdog", "schedule": TUNING_WATCHDOG_INTERVAL},
    "alerts: stalled runs": {"task": "alerts.tasks.runs_check_stalled", "schedule": 60.0},
}
# Alerts: a failed delivery is tried again after BACKOFF, 2x, 4x... seconds, MAX_RETRIES
# times; each try waits at most HTTP_TIMEOUT seconds for the receiver.
ALERTS_RETRY_BACKOFF = env_float("ALERTS_RETRY_BACKOFF", 30.0)
ALERTS_MAX_RETRIES = env_int("ALERTS_MAX_RETRIES", 5)
ALERTS_HTTP_TIMEOUT = env_float("ALERTS_HTTP_TIMEOUT", 10.0)
# E-mail alerts go through Django's mail settings (SMTP unless EMAIL_BACKEND says otherwise).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tracker@localhost")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A trial's slot task outlives the trial's own timeout (the supervisor enforces that one).
CELERY_TASK_ANNOTATIONS = {
    "tuning.tasks.trial_run": {
        "soft_time_limit": TUNING_TRIAL_TIMEOUT + 300,
        "time_limit": TUNING_TRIAL_TIMEOUT + 600,
    },
}

# Django's own body cap must not undercut ours; ours is checked in the API decorator.
DATA_UPLOAD_MAX_MEMORY_SIZE = TRACKER_MAX_BODY_BYTES + 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
