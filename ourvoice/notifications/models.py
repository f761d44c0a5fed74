"""Notification rows for local recipients, created by outbox consumers."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField
from ourvoice.posts.models import Post


class Notification(models.Model):
    class Type(models.TextChoices):
        MENTION = "mention", "Mention"
        STATUS = "status", "New post by a followed account"
        REBLOG = "reblog", "Boost"
        FAVOURITE = "favourite", "Favourite"
        FOLLOW = "follow", "Follow"
        FOLLOW_REQUEST = "follow_request", "Follow request"
        UPDATE = "update", "Edited post"
        POLL = "poll", "Poll ended"
        ADMIN_SIGN_UP = "admin.sign_up", "Sign-up (admins)"
        ADMIN_REPORT = "admin.report", "Report (admins)"

    id = SnowflakeIdField()
    recipient = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notifications")
    from_account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=32, choices=Type.choices)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    #: Identifies the event that caused it, so a repeated event creates no second row.
    dedupe_key = models.CharField(max_length=255)
    #: Optional reference to a moderation report (filled by the moderation package).
    report_id = models.BigIntegerField(null=True, blank=True)
    dismissed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedupe_key"], name="notification_once")
        ]
        indexes = [models.Index(fields=["recipient", "-id"], name="notification_recipient_id")]

    def __str__(self) -> str:
        return f"{self.type} for {self.recipient_id}"
