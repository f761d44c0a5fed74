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


class Marker(models.Model):
    """Where an account stopped reading a timeline (Mastodon's read markers).

    Clients sync the position across devices through `GET/POST /api/v1/markers`. One row per
    (account, timeline); `version` counts the writes (Mastodon's `lock_version`).
    """

    class Timeline(models.TextChoices):
        HOME = "home", "Home"
        NOTIFICATIONS = "notifications", "Notifications"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="markers")
    timeline = models.CharField(max_length=16, choices=Timeline.choices)
    #: Id of the last status (home) or notification read; 0 means nothing read yet.
    last_read_id = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "timeline"], name="marker_once")]

    def __str__(self) -> str:
        return f"{self.timeline} marker of {self.account_id}"
