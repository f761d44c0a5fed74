"""OUR Voice project package. Exposes the Celery app (standard Django + Celery wiring)."""

from ourvoice.celery import app as celery_app

__all__ = ["celery_app"]
