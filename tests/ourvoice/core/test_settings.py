"""Environment parsing in `ourvoice/settings.py`: helpers in-process, whole imports in a child."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ourvoice import settings as ov_settings

ROOT = Path(__file__).resolve().parents[3]
VAR = "OURVOICE_TEST_ONLY_VALUE"


# --- helpers, called with a patched environment ----------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_env_bool_true(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert ov_settings._env_bool(VAR, False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "NO", "off", " OFF "])
def test_env_bool_false(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    assert ov_settings._env_bool(VAR, True) is False


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_env_bool_unset_or_blank_is_the_default(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv(VAR, raising=False)
    else:
        monkeypatch.setenv(VAR, raw)
    assert ov_settings._env_bool(VAR, True) is True
    assert ov_settings._env_bool(VAR, False) is False


@pytest.mark.parametrize("raw", ["2", "y", "n", "enabled", "truee", "-1", "t"])
def test_env_bool_rejects_anything_else(monkeypatch, raw):
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} must be one of 1/true/yes/on"):
        ov_settings._env_bool(VAR, False)


def test_env_number(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    assert ov_settings._env_number(VAR, 6.0, float, 0) == 6.0
    monkeypatch.setenv(VAR, " 2.5 ")
    assert ov_settings._env_number(VAR, 6.0, float, 0) == 2.5
    monkeypatch.setenv(VAR, "7")
    value = ov_settings._env_number(VAR, 5, int, 0)
    assert value == 7
    assert isinstance(value, int)
    monkeypatch.setenv(VAR, "0")
    assert ov_settings._env_number(VAR, 5, int, 0) == 0


@pytest.mark.parametrize(("raw", "kind"), [("1.5", int), ("ten", int), ("", None), ("x1", float)])
def test_env_number_rejects_non_numbers(monkeypatch, raw, kind):
    monkeypatch.setenv(VAR, raw)
    if kind is None:  # blank means "use the default", never an error
        assert ov_settings._env_number(VAR, 3, int, 0) == 3
        return
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} must be a {kind.__name__}"):
        ov_settings._env_number(VAR, 3, kind, 0)


def test_env_number_enforces_the_minimum(monkeypatch):
    monkeypatch.setenv(VAR, "-1")
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} must be at least 0"):
        ov_settings._env_number(VAR, 3, int, 0)
    monkeypatch.setenv(VAR, "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        ov_settings._env_number(VAR, 1000, int, 1)
    monkeypatch.setenv(VAR, "-5")
    assert ov_settings._env_number(VAR, 3, int) == -5  # no minimum given


def test_env_choice(monkeypatch):
    choices = ("open", "approval", "closed")
    monkeypatch.delenv(VAR, raising=False)
    assert ov_settings._env_choice(VAR, "approval", choices) == "approval"
    monkeypatch.setenv(VAR, " Closed ")
    assert ov_settings._env_choice(VAR, "approval", choices) == "closed"
    monkeypatch.setenv(VAR, "invite")
    with pytest.raises(ImproperlyConfigured, match=rf"{VAR} must be one of open, approval, closed"):
        ov_settings._env_choice(VAR, "approval", choices)


def test_env_str_strips_and_defaults(monkeypatch):
    monkeypatch.setenv(VAR, "  value ")
    assert ov_settings._env_str(VAR, "d") == "value"
    monkeypatch.setenv(VAR, "  ")
    assert ov_settings._env_str(VAR, "d") == "d"


def test_parse_networks():
    assert ov_settings._parse_networks("") == ()
    assert ov_settings._parse_networks(" 127.0.0.1/8, ::1/128 ,,10.1.2.3") == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        ipaddress.ip_network("10.1.2.3/32"),
    )
    # Host bits are allowed (strict=False): 192.168.1.7/24 means the whole /24.
    assert ov_settings._parse_networks("192.168.1.7/24") == (
        ipaddress.ip_network("192.168.1.0/24"),
    )


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.0/33", "1.2.3.4, nope", "::g/64"])
def test_parse_networks_rejects_non_cidrs(raw):
    with pytest.raises(
        ImproperlyConfigured, match=r"OURVOICE_ALLOWED_PRIVATE_ADDRESSES: .* is not a CIDR"
    ):
        ov_settings._parse_networks(raw)


# --- the whole module, imported in a clean child process --------------------------------------

# Reading `django.conf.settings` imports the module as every process does (without loading
# the apps, which would only make each probe slower).
_PROBE = """
import json
from django.conf import settings as s
from ourvoice.celery import app
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": s.CSRF_TRUSTED_ORIGINS,
    "OURVOICE_DOMAIN": s.OURVOICE_DOMAIN,
    "OURVOICE_BASE_URL": s.OURVOICE_BASE_URL,
    "OURVOICE_STREAMING_URL": s.OURVOICE_STREAMING_URL,
    "OURVOICE_REGISTRATION": s.OURVOICE_REGISTRATION,
    "OURVOICE_OAUTH_PASSWORD_GRANT": s.OURVOICE_OAUTH_PASSWORD_GRANT,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CACHE": s.CACHES["default"]["BACKEND"],
    "CHANNEL_LAYER": s.CHANNEL_LAYERS["default"]["BACKEND"],
    "CELERY_TASK_ALWAYS_EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "CELERY_BROKER_URL": s.CELERY_BROKER_URL,
    "celery_eager": app.conf.task_always_eager,
    "celery_broker": app.conf.broker_url,
    "DATABASE": {k: s.DATABASES["default"].get(k) for k in ("ENGINE", "CONN_MAX_AGE",
                 "CONN_HEALTH_CHECKS")},
    "DATABASE_IS_POSTGRES": s.DATABASE_IS_POSTGRES,
}))
"""


def _clean_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The parent's environment minus every variable the settings read, plus `overrides`."""
    prefixes = ("OURVOICE_", "MODERATION_", "CELERY_", "DJANGO_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(prefixes) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "ourvoice.settings"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'settings-probe.sqlite3'}"
    env.update(overrides)
    return env


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        env=_clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def loaded(tmp_path: Path, **env: str) -> dict:
    result = load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_start_without_a_secret_key_fails_clearly(tmp_path):
    result = load_settings(tmp_path, OURVOICE_DEBUG="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "OURVOICE_SECRET_KEY must be set" in result.stderr
    assert "development key is refused" in result.stderr


def test_production_start_refuses_the_development_key(tmp_path):
    result = load_settings(
        tmp_path, OURVOICE_DEBUG="off", OURVOICE_SECRET_KEY=ov_settings._DEV_SECRET_KEY
    )
    assert result.returncode != 0
    assert "OURVOICE_SECRET_KEY must be set" in result.stderr


def test_debug_start_works_with_the_development_key(tmp_path):
    values = loaded(tmp_path, OURVOICE_DEBUG="1")
    assert values["DEBUG"] is True
    assert values["SECRET_KEY"] == ov_settings._DEV_SECRET_KEY
    # Debug defaults: http, open registration, password grant on.
    assert values["OURVOICE_BASE_URL"] == "http://localhost:8000"
    assert values["OURVOICE_STREAMING_URL"] == "ws://localhost:8000"
    assert values["OURVOICE_REGISTRATION"] == "open"
    assert values["OURVOICE_OAUTH_PASSWORD_GRANT"] is True
    assert values["SESSION_COOKIE_SECURE"] is False


def test_production_defaults(tmp_path):
    values = loaded(tmp_path, OURVOICE_SECRET_KEY="a-real-secret")
    assert values["DEBUG"] is False
    assert values["OURVOICE_BASE_URL"] == "https://localhost:8000"
    assert values["OURVOICE_STREAMING_URL"] == "wss://localhost:8000"
    assert values["OURVOICE_REGISTRATION"] == "approval"
    assert values["OURVOICE_OAUTH_PASSWORD_GRANT"] is False
    assert values["SESSION_COOKIE_SECURE"] is True


def test_invalid_boolean_stops_the_start(tmp_path):
    result = load_settings(tmp_path, OURVOICE_DEBUG="maybe")
    assert result.returncode != 0
    assert "OURVOICE_DEBUG must be one of 1/true/yes/on or 0/false/no/off" in result.stderr


def test_hosts_and_origins_derive_from_the_domain_with_a_port(tmp_path):
    values = loaded(
        tmp_path,
        OURVOICE_SECRET_KEY="a-real-secret",
        OURVOICE_DOMAIN="Social.Example.ORG:8443",
    )
    assert values["OURVOICE_DOMAIN"] == "social.example.org:8443"
    assert values["OURVOICE_BASE_URL"] == "https://social.example.org:8443"
    assert "social.example.org" in values["ALLOWED_HOSTS"]  # host only, no port
    assert not any(":8443" in host for host in values["ALLOWED_HOSTS"])
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://social.example.org:8443"]
    assert values["OURVOICE_STREAMING_URL"] == "wss://social.example.org:8443"


def test_http_scheme_is_allowed_without_debug(tmp_path):
    values = loaded(
        tmp_path,
        OURVOICE_SECRET_KEY="a-real-secret",
        OURVOICE_DOMAIN="127.0.0.1:8001",
        OURVOICE_SCHEME="http",
    )
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == sorted({"127.0.0.1", "localhost", "[::1]"})
    assert values["CSRF_TRUSTED_ORIGINS"] == ["http://127.0.0.1:8001"]


def test_without_redis_everything_is_embedded(tmp_path):
    values = loaded(tmp_path, OURVOICE_DEBUG="1")
    assert values["CACHE"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["CHANNEL_LAYER"] == "channels.layers.InMemoryChannelLayer"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["celery_eager"] is True
    assert values["CELERY_BROKER_URL"] == "memory://"


def test_with_redis_the_services_are_real(tmp_path):
    # Only parsed here: nothing connects while settings load.
    values = loaded(tmp_path, OURVOICE_DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/5")
    assert values["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert values["CHANNEL_LAYER"] == "channels_redis.core.RedisChannelLayer"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["celery_eager"] is False
    assert values["celery_broker"] == "redis://127.0.0.1:6379/5"


def test_postgresql_uses_our_backend_with_persistent_checked_connections(tmp_path):
    # Only parsed here: nothing connects while settings load.
    values = loaded(
        tmp_path, OURVOICE_DEBUG="1", DATABASE_URL="postgres://ov@127.0.0.1:5432/ourvoice"
    )
    assert values["DATABASE"] == {
        "ENGINE": "ourvoice.core.postgres",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    assert values["DATABASE_IS_POSTGRES"] is True


def test_sqlite_keeps_django_backend_without_persistent_connections(tmp_path):
    values = loaded(tmp_path, OURVOICE_DEBUG="1")
    assert values["DATABASE"] == {
        "ENGINE": "django.db.backends.sqlite3",
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
    }
    assert values["DATABASE_IS_POSTGRES"] is False
