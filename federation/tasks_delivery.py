"""Celery tasks of the `delivery` queue: thin wrappers around `federation.delivery`."""

from __future__ import annotations

from celery import shared_task

from federation.delivery import SWEEP_GRACE_SECONDS, deliveries_send, deliveries_sweep


@shared_task(name="federation.tasks.delivery_send", acks_late=True, ignore_result=True)
def delivery_send(ids: list[int]) -> int:
    """Send a chunk of Delivery rows (safe to run twice); returns how many were sent."""
    return deliveries_send(ids=ids).sent


@shared_task(name="federation.tasks.delivery_sweep", ignore_result=True)
def delivery_sweep(older_than_seconds: float = SWEEP_GRACE_SECONDS) -> int:
    """Re-queue overdue pending deliveries (beat, every 30 s); returns how many."""
    return deliveries_sweep(older_than_seconds=older_than_seconds)
