"""Resultdeck settings, all from the environment (see .env.example).

With nothing set, Resultdeck runs on its embedded defaults: SQLite, Celery's filesystem
broker and a local storage folder, all under ./var. Production sets DJANGO_DEBUG=off and
must then provide DJANGO_SECRET_KEY and RESULTDECK_SECRETS_KEY: nothing secret has a
production default.
"""

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
ENV_FILE = environ.Path(str(BASE_DIR)).path(".env")()
if Path(ENV_FILE).exists():
    env.read_env(ENV_FILE)

VAR_DIR = Path(env.str("RESULTDECK_VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("DJANGO_DEBUG", default=True)


def _local_secret(name: str, generate) -> str:
    """A secret generated once into a git-ignored file, for the embedded default only."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _local_secret(
        ".secret_key", lambda: secrets.token_urlsafe(50)
    )
    # Comma-separated Fernet keys, newest first; the first encrypts, all decrypt (key rotation).
    RESULTDECK_SECRETS_KEYS = env.list("RESULTDECK_SECRETS_KEY", default=[]) or [
        _local_secret(".secrets_key", _fernet_key)
    ]
else:
    # An empty value (as in a copied .env.example) counts as missing.
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
    RESULTDECK_SECRETS_KEYS = [key for key in env.list("RESULTDECK_SECRETS_KEY", default=[]) if key]
    if not SECRET_KEY or not RESULTDECK_SECRETS_KEYS:
        raise ImproperlyConfigured(
            "With DJANGO_DEBUG off, set DJANGO_SECRET_KEY and RESULTDECK_SECRETS_KEY "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "apps.core",
    "apps.blocks",
    "apps.results",
    "apps.flows",
    "apps.prefect_servers",
]

MIDDLEWARE = [
    "apps.core.middleware.DatabaseUnavailableMiddleware",  # outermost: it answers 503 for any layer
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.time_zone.ViewerTimeZoneMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

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
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'resultdeck.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
# A kept connection is checked before a request reuses it: after a database restart the first
# request reconnects instead of failing on the dead connection.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server, a worker and beat share one SQLite file: WAL, a busy timeout and transactions
    # that take the write lock when they begin (retried past the timeout) keep them from failing
    # each other with "database is locked" (apps/core/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "apps.core.sqlite"
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# The cache holds shared counters (sign-in throttling): Redis when REDIS_URL is set, so every web
# process sees the same counts; otherwise a folder under VAR_DIR, which the processes of one host share.
_redis_url = env.str("REDIS_URL", default="")
if _redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
            "KEY_PREFIX": "resultdeck",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# The home page's counts of the last day (runs by state, results written) are shared this long.
HOME_WINDOW_CACHE_SECONDS = env.float("HOME_WINDOW_CACHE_SECONDS", default=10.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (login page, admin login, API token): failures are counted per user name and
# per client address within the window; from half a limit on, attempts are slowed (1 s, 2 s, 4 s, ...
# after the last failure); at the limit every attempt is refused for the lockout.
LOGIN_THROTTLE_WINDOW_SECONDS = env.int("LOGIN_THROTTLE_WINDOW_SECONDS", default=900)
LOGIN_THROTTLE_USER_LIMIT = env.int("LOGIN_THROTTLE_USER_LIMIT", default=10)
LOGIN_THROTTLE_ADDRESS_LIMIT = env.int("LOGIN_THROTTLE_ADDRESS_LIMIT", default=50)
LOGIN_THROTTLE_LOCKOUT_SECONDS = env.int("LOGIN_THROTTLE_LOCKOUT_SECONDS", default=900)
# Reverse proxies in front of the server that append to X-Forwarded-For (0: use the peer address).
LOGIN_THROTTLE_PROXY_COUNT = env.int("LOGIN_THROTTLE_PROXY_COUNT", default=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# The interface is English only: without the translation machinery every gettext (each relative
# time, truncated text and form label on a page) is a plain string, not a lookup in the active
# language's catalog through a context-local; the formats (dates, thousands) still come from en.
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security: production runs behind TLS; these are all on unless DEBUG.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes anonymous API calls a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every endpoint needs a role: viewer to read, admin to write, unless a view says otherwise.
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.HasRole"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.StandardPagination",
    "EXCEPTION_HANDLER": "apps.core.api.api_exception_handler",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Resultdeck API",
    "DESCRIPTION": "Browse flow runs and persisted results, manage storage blocks and expiration.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["apps.core.permissions.HasRole"],
    # Swagger UI and ReDoc are served from our static files at the versions the sidecar pins, so
    # the docs work offline and do not change under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery: JSON only, so no pickle ever crosses the broker; late acks so a killed worker hands
# its run to another instead of losing it.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.rstrip("/") == "filesystem:":
    # The filesystem transport ignores the host, but Kombu warns "No hostname was supplied" on
    # every connection without one. Celery reads the variable itself, ahead of this setting.
    CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"] = "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for sub in ("in", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcasts (ping, inspect) go through this folder: Kombu's default is relative to the
        # working directory, so the web process and a worker started elsewhere would not meet.
        "control_folder": str(_broker_dir / "control"),
        # Kombu polls the folders every second by default: a run and a ping answer waited that long.
        "polling_interval": 0.25,
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}

# Results: where persisted results go when a flow or task names no storage (see DESIGN.md).
# The environment wins over the profile that `manage.py config set NAME=value` writes.
from project import profile as _profile  # noqa: E402

RESULTS_PROFILE_PATH = _profile.profile_path(var_dir=VAR_DIR)
_results_profile = _profile.profile_read(path=RESULTS_PROFILE_PATH)
RESULTS_LOCAL_STORAGE_PATH = _profile.setting_effective(
    name="RESULTS_LOCAL_STORAGE_PATH", profile=_results_profile
) or str(VAR_DIR / "storage")
RESULTS_DEFAULT_STORAGE_BLOCK = _profile.setting_effective(
    name="RESULTS_DEFAULT_STORAGE_BLOCK", profile=_results_profile
)
RESULTS_DEFAULT_SERIALIZER = (
    _profile.setting_effective(name="RESULTS_DEFAULT_SERIALIZER", profile=_results_profile) or "pickle"
)
RESULTS_PERSIST_BY_DEFAULT = _profile.setting_bool(
    _profile.setting_effective(name="RESULTS_PERSIST_BY_DEFAULT", profile=_results_profile)
)
FLOW_MODULES = env.list("FLOW_MODULES", default=["examples.flows"])
# "required": decode pickles only inside bubblewrap's namespaces; "fallback": with the limits alone
# where bubblewrap is missing or the kernel refuses namespaces.
RESULTDECK_SANDBOX_ISOLATION = env.str("RESULTDECK_SANDBOX_ISOLATION", default="required")
if RESULTDECK_SANDBOX_ISOLATION not in ("required", "fallback"):
    raise ImproperlyConfigured("RESULTDECK_SANDBOX_ISOLATION is required or fallback")

HEALTHZ_TIMEOUT_SECONDS = env.float("HEALTHZ_TIMEOUT_SECONDS", default=2.0)
# Workers page, /healthz and waiting runs: how long a ping or inspect broadcast waits for answers.
WORKERS_INSPECT_TIMEOUT_SECONDS = env.float("WORKERS_INSPECT_TIMEOUT_SECONDS", default=1.0)
# How long the answer is reused by the pages that explain why a run waits.
WORKERS_REPORT_CACHE_SECONDS = env.float("WORKERS_REPORT_CACHE_SECONDS", default=5.0)
# A run still Scheduled or Pending after this many seconds says why on its page and in the runs list.
FLOWS_WAITING_WARNING_SECONDS = env.float("FLOWS_WAITING_WARNING_SECONDS", default=60.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Leftovers of killed processes (temporary files of unfinished writes, cleanup jobs still marked
# running) are swept every RESULTS_SWEEP_SECONDS.
RESULTS_SWEEP_SECONDS = env.float("RESULTS_SWEEP_SECONDS", default=900.0)
CELERY_BEAT_SCHEDULE["results-sweep-leftovers"] = {
    "task": "results.sweep_leftovers",
    "schedule": RESULTS_SWEEP_SECONDS,
}

# Results cleanup: the periodic purge of expired results. RESULTS_PURGE_SCHEDULE is a number of
# seconds ("3600") or a crontab ("15 3 * * *", minute hour day month weekday); "off" disables it.
RESULTS_PURGE_SCHEDULE = env.str("RESULTS_PURGE_SCHEDULE", default="15 3 * * *")
RESULTS_PURGE_BATCH_SIZE = env.int("RESULTS_PURGE_BATCH_SIZE", default=1000)
# Admin actions on at most this many results run in the request; larger ones queue a background job.
RESULTS_PURGE_INLINE_LIMIT = env.int("RESULTS_PURGE_INLINE_LIMIT", default=200)
# The Celery queue cleanup jobs (purges, indexing, orphan scans) are sent to.
RESULTS_JOBS_QUEUE = env.str("RESULTS_JOBS_QUEUE", default="celery")
if RESULTS_PURGE_SCHEDULE.strip().lower() not in ("", "off", "none"):
    from celery.schedules import crontab as _crontab

    _purge_fields = RESULTS_PURGE_SCHEDULE.split()
    if len(_purge_fields) == 1:
        _purge_schedule = float(_purge_fields[0])
    elif len(_purge_fields) == 5:
        _minute, _hour, _day, _month, _weekday = _purge_fields
        _purge_schedule = _crontab(
            minute=_minute, hour=_hour, day_of_month=_day, month_of_year=_month, day_of_week=_weekday
        )
    else:
        raise ImproperlyConfigured(
            f"RESULTS_PURGE_SCHEDULE={RESULTS_PURGE_SCHEDULE!r}: use seconds (3600) or a crontab (15 3 * * *)"
        )
    CELERY_BEAT_SCHEDULE["results-purge-expired"] = {
        "task": "results.purge_expired",
        "schedule": _purge_schedule,
    }

# Run logs: lines logged inside a flow or task run (its run logger, print() with log_prints, and
# any logger at or above RESULTDECK_RUN_LOG_LEVEL) are kept per run, up to a bounded volume.
RESULTDECK_RUN_LOG_LEVEL = env.str("RESULTDECK_RUN_LOG_LEVEL", default="INFO").upper()
RESULTDECK_RUN_LOG_MAX_LINES = env.int("RESULTDECK_RUN_LOG_MAX_LINES", default=100_000)
RESULTDECK_RUN_LOG_MAX_LINE_BYTES = env.int("RESULTDECK_RUN_LOG_MAX_LINE_BYTES", default=4096)
