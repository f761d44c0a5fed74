"""Shared kernel models: the transactional outbox."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ourvoice.core.fields import SnowflakeIdField


class OutboxEvent(models.Model):
    """A domain event written in the same transaction as the change it describes.

    After commit a Celery task hands it to every consumer registered for its `kind`
    (`ourvoice/events.py`); a periodic sweep re-dispatches events left behind.
    """

    id = SnowflakeIdField()
    kind = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    #: Set once every consumer has a receipt; unprocessed events are swept again.
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_pending_idx",
                condition=models.Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.id}"


class OutboxReceipt(models.Model):
    """Proof that one consumer applied one event; unique, so each effect happens once."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="receipts")
    consumer = models.CharField(max_length=128)
    done_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="outbox_receipt_once")
        ]

    def __str__(self) -> str:
        return f"{self.consumer} ← {self.event_id}"


class InstanceRule(models.Model):
    """A server rule shown to users (`/api/v1/instance/rules`), edited by admins.

    Moderation votes cite these rules as reason codes.
    """

    id = SnowflakeIdField()
    text = models.CharField(max_length=300)
    hint = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.text
