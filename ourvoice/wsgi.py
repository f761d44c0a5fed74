"""WSGI entry point: `gunicorn ourvoice.wsgi -w 2 -b HOST:PORT`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")
application = get_wsgi_application()
