"""Moderation records. For now: reports that local users file through the Mastodon API.

Community votes, cases and decisions (decisions.md, "Community moderation") come later and
will build on `Report`: a report that lists statuses becomes a "remove" vote per status.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField


class Report(models.Model):
    """A report by `reporter` about `target_account`, optionally about some of its posts.

    `status_ids` holds ids of the target's posts that the reporter could read when reporting
    (validated by `report_create`); they are plain ids, not foreign keys, so the report keeps
    its evidence list when a post is later deleted or removed.
    """

    class Category(models.TextChoices):
        SPAM = "spam", "Spam"
        LEGAL = "legal", "Illegal content"
        VIOLATION = "violation", "Violates server rules"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    id = SnowflakeIdField()
    reporter = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="reports_made")
    target_account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="reports_received"
    )
    #: Ids (integers) of reported posts by `target_account`; empty for an account report.
    status_ids = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True, default="", max_length=1000)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    #: Ids (integers) of the `core.InstanceRule`s broken (category "violation" only).
    rule_ids = models.JSONField(default=list, blank=True)
    #: The reporter asked to forward the report to the target's server (remote targets only).
    forward = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    #: The admin who resolved it (null while open, or when resolved by the system).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(fields=["state", "-id"], name="report_state_id"),
            models.Index(fields=["target_account", "-id"], name="report_target_id"),
        ]

    def __str__(self) -> str:
        return f"Report {self.id} on {self.target_account_id} ({self.state})"

    @property
    def is_resolved(self) -> bool:
        return self.state == self.State.RESOLVED

    @property
    def forwarded(self) -> bool:
        """Mastodon's `forwarded`: asked for, and the target lives on another server."""
        return self.forward and bool(self.target_account.domain)
