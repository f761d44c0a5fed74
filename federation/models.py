"""Federation state: remote instances and their policy, stored inbox activities, outgoing
activities with one delivery row per inbox, the inboxes each post reached, and tombstones."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField
from ourvoice.posts.models import Post


class Instance(models.Model):
    """A remote server, keyed by its normalised domain (host[:port]).

    Admins set its policy in Django admin; delivery tracks its health here.
    """

    class Policy(models.TextChoices):
        NONE = "none", "No restriction"
        SILENCE = "silence", "Silence (hidden from public timelines)"
        SUSPEND = "suspend", "Suspend (reject everything, no fetches)"

    class Tier(models.TextChoices):
        DEFAULT = "", "Default (MODERATION_DOMAIN_TIER_DEFAULT)"
        TRUSTED = "trusted", "Trusted (weight 1.0)"
        STANDARD = "standard", "Standard (weight 0.5)"
        NEW = "new", "New (weight 0.25)"
        LIMITED = "limited", "Limited (weight 0)"

    domain = models.CharField(max_length=255, unique=True)
    policy = models.CharField(max_length=16, choices=Policy.choices, default=Policy.NONE)
    reject_media = models.BooleanField(default=False)
    reject_reports = models.BooleanField(default=False)
    #: Moderation weight tier of this domain's voters (moderation issue); "" = default.
    moderation_tier = models.CharField(
        max_length=16, choices=Tier.choices, blank=True, default=Tier.DEFAULT
    )
    #: Private note for admins.
    note = models.TextField(blank=True, default="")

    ### NodeInfo ###
    software = models.CharField(max_length=64, blank=True, default="")
    software_version = models.CharField(max_length=64, blank=True, default="")
    #: Inbox of an OUR Voice server's moderation actor ("" when not OUR Voice).
    moderation_inbox = models.URLField(max_length=2048, blank=True, default="")
    nodeinfo_fetched_at = models.DateTimeField(null=True, blank=True)

    ### Delivery health (Mastodon's DeliveryFailureTracker) ###
    #: ISO dates of days with failed deliveries since the last success.
    failure_days = models.JSONField(default=list, blank=True)
    unavailable_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    first_seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.domain

    @property
    def is_suspended(self) -> bool:
        return self.policy == self.Policy.SUSPEND


class InboxItem(models.Model):
    """A verified incoming activity, written once by the inbox view and processed by workers."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Processed"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    id = SnowflakeIdField()
    #: The activity's id; unique, so a replayed activity is stored (and processed) once.
    activity_id = models.URLField(max_length=2048, null=True, blank=True, unique=True)
    activity_type = models.CharField(max_length=64, blank=True, default="")
    actor_uri = models.URLField(max_length=2048)
    key_id = models.URLField(max_length=2048, blank=True, default="")
    #: The JSON body as received (≤ 1 MiB).
    body = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="inbox_pending", condition=models.Q(state="pending")),
        ]

    def __str__(self) -> str:
        return f"{self.activity_type} {self.activity_id or self.id}"


class OutgoingActivity(models.Model):
    """An activity we publish: the body is serialised once, at creation, and never changes."""

    id = SnowflakeIdField()
    uri = models.URLField(max_length=2048, unique=True)
    type = models.CharField(max_length=64)
    actor = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    #: orjson bytes of the activity; deliveries sign these exact bytes.
    body = models.BinaryField()
    #: `SHA-256=<b64>` of `body`, computed once.
    digest = models.CharField(max_length=128)
    #: The post it concerns (Create/Update/Delete of a Note), for recipient tracking.
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.uri}"


class Delivery(models.Model):
    """One (activity, inbox) pair, with its own attempts and Mastodon's retry semantics."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed for good (4xx)"
        EXPIRED = "expired", "Retries exhausted"
        SKIPPED = "skipped", "Skipped (domain unavailable or suspended)"

    id = SnowflakeIdField()
    activity = models.ForeignKey(
        OutgoingActivity, on_delete=models.CASCADE, related_name="deliveries"
    )
    inbox = models.URLField(max_length=2048)
    domain = models.CharField(max_length=255, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "inbox"], name="delivery_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="delivery_due", condition=models.Q(state="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id} → {self.inbox} ({self.state})"


class PostInbox(models.Model):
    """An inbox a local post was delivered to; kept while the post exists (removals go here)."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    inbox = models.URLField(max_length=2048)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "inbox"], name="post_inbox_once")]

    def __str__(self) -> str:
        return f"{self.post_id} → {self.inbox}"


class RemoteTombstone(models.Model):
    """A remote object deleted (possibly before we saw it): a later Create for it is refused."""

    uri = models.URLField(max_length=2048, unique=True)
    deleted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.uri
