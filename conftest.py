"""Root pytest configuration: test defaults for the environment, read by ourvoice/settings.py."""

import os

# Defaults only; CI and developers may override any of them (e.g. DATABASE_URL, REDIS_URL).
os.environ.setdefault("OURVOICE_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("OURVOICE_DOMAIN", "testserver")
os.environ.setdefault("OURVOICE_SCHEME", "https")
os.environ.setdefault("OURVOICE_RATE_LIMITS", "off")
os.environ.setdefault("OURVOICE_REGISTRATION", "open")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")


def pytest_configure(config) -> None:
    # Load the settings now so that pytest-django's own pytest_configure sets Django up.
    from django.conf import settings

    settings.DATABASES  # noqa: B018
