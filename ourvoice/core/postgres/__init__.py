"""PostgreSQL database backend: Django's, with a connection health check that costs no round trip.

`ourvoice/settings.py` points `DATABASES["default"]["ENGINE"]` here for postgres:// URLs.
"""
