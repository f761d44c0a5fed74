"""Root pytest configuration: test defaults for the environment, read by ourvoice/settings.py."""

import os

# Defaults only; CI and developers may override any of them (e.g. DATABASE_URL, REDIS_URL).
os.environ.setdefault("OURVOICE_SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("OURVOICE_DOMAIN", "testserver")
os.environ.setdefault("OURVOICE_SCHEME", "https")
os.environ.setdefault("OURVOICE_RATE_LIMITS", "off")
os.environ.setdefault("OURVOICE_REGISTRATION", "open")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")


# Set Django up now: conftest files deeper in tests/ import models at import time, and they can
# be loaded before pytest-django's own setup (pytest-django then finds the registry ready).
import django

django.setup()
