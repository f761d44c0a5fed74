"""OUR Voice settings.

This is the only module that reads the environment. Every variable is listed in
`.env.example` and in the README's configuration table; the names are fixed by
the design (`decisions.md`). Booleans accept 1/true/yes/on and 0/false/no/off.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_log = logging.getLogger(__name__)


def _env_str(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {raw!r}"
    )


def _env_number(name: str, default: float, kind: type, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a {kind.__name__}, not {raw!r}") from exc
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


#: Development mode: detailed errors, http by default, open registration, password grant.
DEBUG = _env_bool("OURVOICE_DEBUG", False)

_DEV_SECRET_KEY = "ourvoice-development-only-secret-key-do-not-use-in-production"
#: Django's secret key. Required unless debug; the development key is refused without debug.
SECRET_KEY = _env_str("OURVOICE_SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "OURVOICE_SECRET_KEY must be set to a private random value when OURVOICE_DEBUG is off "
        "(the development key is refused)."
    )

#: Public host[:port] of this instance, used in every ActivityPub id.
OURVOICE_DOMAIN = _env_str("OURVOICE_DOMAIN", "localhost:8000").lower().rstrip(".")
#: Scheme of public URLs and of remote lookups (http only for development and loopback tests).
OURVOICE_SCHEME = _env_choice("OURVOICE_SCHEME", "http" if DEBUG else "https", ("http", "https"))
if OURVOICE_SCHEME == "http" and not DEBUG and "pytest" not in sys.modules:
    _log.warning("OURVOICE_SCHEME=http without debug: only for loopback deployments and benchmarks")
OURVOICE_BASE_URL = f"{OURVOICE_SCHEME}://{OURVOICE_DOMAIN}"
_HOST = urlsplit(OURVOICE_BASE_URL).hostname or "localhost"

#: Public ws(s):// base URL of the streaming process advertised to clients.
OURVOICE_STREAMING_URL = _env_str(
    "OURVOICE_STREAMING_URL", f"{'wss' if OURVOICE_SCHEME == 'https' else 'ws'}://{OURVOICE_DOMAIN}"
).rstrip("/")
#: Seconds between keep-alive comments (`:thump`) on server-sent event streams (Mastodon: 15).
OURVOICE_STREAMING_HEARTBEAT = _env_number("OURVOICE_STREAMING_HEARTBEAT", 15.0, float, 0.05)
#: Who may sign up: open, approval (admins approve) or closed.
OURVOICE_REGISTRATION = _env_choice(
    "OURVOICE_REGISTRATION", "open" if DEBUG else "approval", ("open", "approval", "closed")
)


def _parse_networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"OURVOICE_ALLOWED_PRIVATE_ADDRESSES: {part!r} is not a CIDR"
            ) from exc
    return tuple(networks)


#: CIDRs the SSRF guard lets through (loopback tests only).
OURVOICE_ALLOWED_PRIVATE_ADDRESSES = _parse_networks(
    _env_str("OURVOICE_ALLOWED_PRIVATE_ADDRESSES", "")
)
#: Allow the OAuth password grant (toot's login_cli).
OURVOICE_OAUTH_PASSWORD_GRANT = _env_bool("OURVOICE_OAUTH_PASSWORD_GRANT", DEBUG)
#: Require signed GETs for actors, objects and collections (instance actor exempt).
OURVOICE_AUTHORIZED_FETCH = _env_bool("OURVOICE_AUTHORIZED_FETCH", False)
#: API and inbox rate limiting.
OURVOICE_RATE_LIMITS = _env_bool("OURVOICE_RATE_LIMITS", True)

# --- Moderation knobs (decisions.md, "Moderation knobs") -------------------------------------
MODERATION_RULE = _env_choice("MODERATION_RULE", "weighted", ("weighted", "raw"))
MODERATION_REMOVAL_THRESHOLD = _env_number("MODERATION_REMOVAL_THRESHOLD", 6.0, float, 0)
MODERATION_MIN_DISTINCT_VOTERS = _env_number("MODERATION_MIN_DISTINCT_VOTERS", 5, int, 0)
MODERATION_SUPERMAJORITY = _env_number("MODERATION_SUPERMAJORITY", 0.667, float, 0)
if MODERATION_SUPERMAJORITY > 1:
    raise ImproperlyConfigured("MODERATION_SUPERMAJORITY must be between 0 and 1")
MODERATION_EXPOSURE_REF = _env_number("MODERATION_EXPOSURE_REF", 1000, int, 1)
MODERATION_MIN_ACCOUNT_AGE_DAYS = _env_number("MODERATION_MIN_ACCOUNT_AGE_DAYS", 7.0, float, 0)
MODERATION_AGE_RAMP_DAYS = _env_number("MODERATION_AGE_RAMP_DAYS", 30.0, float, 0)
MODERATION_DOMAIN_CAP_FRACTION = _env_number("MODERATION_DOMAIN_CAP_FRACTION", 0.25, float, 0)
MODERATION_COHORT_CAP_FRACTION = _env_number("MODERATION_COHORT_CAP_FRACTION", 0.25, float, 0)
MODERATION_MIN_DOMAINS_IF_REMOTE_HEAVY = _env_number(
    "MODERATION_MIN_DOMAINS_IF_REMOTE_HEAVY", 3, int, 0
)
MODERATION_DOMAIN_TIER_DEFAULT = _env_choice(
    "MODERATION_DOMAIN_TIER_DEFAULT", "standard", ("trusted", "standard", "new")
)
MODERATION_GRACE_SECONDS = _env_number("MODERATION_GRACE_SECONDS", 600, int, 0)
MODERATION_VOTE_TTL_DAYS = _env_number("MODERATION_VOTE_TTL_DAYS", 14, int, 0)
MODERATION_CASE_MAX_DAYS = _env_number("MODERATION_CASE_MAX_DAYS", 30, int, 0)
MODERATION_VOTES_PER_DAY = _env_number("MODERATION_VOTES_PER_DAY", 20, int, 0)
MODERATION_BURST_FRACTION = _env_number("MODERATION_BURST_FRACTION", 0.6, float, 0)
MODERATION_APPEAL_DAYS = _env_number("MODERATION_APPEAL_DAYS", 14, int, 0)

# --- Django ----------------------------------------------------------------------------------
ALLOWED_HOSTS = sorted({_HOST, "localhost", "127.0.0.1", "[::1]"})
CSRF_TRUSTED_ORIGINS = [OURVOICE_BASE_URL]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = False
SESSION_COOKIE_SECURE = OURVOICE_SCHEME == "https"
CSRF_COOKIE_SECURE = OURVOICE_SCHEME == "https"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "oauth2_provider",
    "channels",
    "ourvoice.core",
    "ourvoice.accounts",
    "ourvoice.posts",
    "ourvoice.interactions",
    "ourvoice.notifications",
    "ourvoice.api.mastodon",
    "federation",
    "moderation",
    "ourvoice",
]

MIDDLEWARE = [
    "ourvoice.api.mastodon.middleware.CorsMiddleware",
    "ourvoice.api.mastodon.middleware.RateLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ourvoice.urls"
WSGI_APPLICATION = "ourvoice.wsgi.application"
ASGI_APPLICATION = "ourvoice.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/auth/login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ourvoice" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

#: Folder for the SQLite file and local uploads when nothing else is configured.
DATA_DIR = BASE_DIR / "data"
_default_db = f"sqlite:///{DATA_DIR / 'ourvoice.sqlite3'}"
#: Database URL (PostgreSQL in production and CI; SQLite for the zero-setup quick start).
DATABASE_URL = _env_str("DATABASE_URL", _default_db)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 20}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql")
if DATABASE_IS_POSTGRES:
    # Django's PostgreSQL backend, except that the per-request health check of the persistent
    # connection looks at its state and socket instead of sending `SELECT 1` (one round trip).
    DATABASES["default"]["ENGINE"] = "ourvoice.core.postgres"

#: Redis for cache, counters, channel layer and broker; unset gives embedded fallbacks.
REDIS_URL = _env_str("REDIS_URL", "")
#: Celery broker override (defaults to REDIS_URL).
CELERY_BROKER_URL = _env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
EMBEDDED = not REDIS_URL and not _env_str("CELERY_BROKER_URL", "")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "ov",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # One hub channel per streaming process receives every event for its clients
            # (ourvoice/api/streaming/hub.py), so it needs far more room than the default 100.
            # redis-py 8 times reads out after 5 s, exactly as long as channels_redis blocks
            # in BZPOPMIN while waiting for a message: give the socket more time than that.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": "ov:channels",
                "capacity": 20_000,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 20_000},
        }
    }

# Celery: every task routes to inbox, delivery or default (decisions.md, Processes).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "ourvoice.core.hashers.RandomSecretHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    # Only a SHA-256 checksum of each access token is stored (RFC 9700 token storage).
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "PKCE_REQUIRED": False,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 600,
    # Client secrets are random 256-bit strings: one PBKDF2 round (see ourvoice/core/hashers.py).
    "CLIENT_SECRET_HASHER": "ov_secret_sha256",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "OUR Voice native API",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "format": "ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request at INFO: one line per delivery would drown the worker logs.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
