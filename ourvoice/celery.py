"""Celery app: queues `inbox`, `delivery` and `default`, routes and the beat schedule."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")

app = Celery("ourvoice", include=["ourvoice.events"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("inbox"), Queue("delivery"), Queue("default"))


def route_task(
    name: str, args: object, kwargs: object, options: object, task: object = None, **kw: object
) -> dict[str, str]:
    """Every task goes to one of the three queues of the Processes table."""
    if name.startswith("federation.tasks.inbox_"):
        return {"queue": "inbox"}
    if name.startswith("federation.tasks.delivery_"):
        return {"queue": "delivery"}
    return {"queue": "default"}


app.conf.task_routes = (route_task,)
app.conf.beat_schedule = {
    "outbox-sweep": {"task": "ourvoice.events.outbox_sweep", "schedule": 30.0},
    "delivery-sweep": {"task": "federation.tasks.delivery_sweep", "schedule": 30.0},
    "inbox-sweep": {"task": "federation.tasks.inbox_sweep", "schedule": 15.0},
    "moderation-sweep": {"task": "moderation.tasks.moderation_sweep", "schedule": 30.0},
}
app.autodiscover_tasks()
