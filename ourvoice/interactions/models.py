"""Likes, reposts (boosts) and bookmarks: one per (account, post)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField
from ourvoice.posts.models import Post, Visibility


class Like(models.Model):
    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="likes")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    #: Id of the Like activity.
    uri = models.URLField(max_length=2048, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "post"], name="like_once")]
        indexes = [models.Index(fields=["post", "-id"], name="like_post_id")]

    def __str__(self) -> str:
        return f"{self.account_id} likes {self.post_id}"


class Repost(models.Model):
    """A boost. Its id and `uri` (the Announce id) make it its own timeline entry."""

    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="reposts")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reposts")
    uri = models.URLField(max_length=2048, blank=True, default="")
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "post"], name="repost_once")]
        indexes = [
            models.Index(fields=["post", "-id"], name="repost_post_id"),
            models.Index(fields=["account", "-id"], name="repost_account_id"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} boosts {self.post_id}"


class Bookmark(models.Model):
    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="bookmarks")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "post"], name="bookmark_once")]

    def __str__(self) -> str:
        return f"{self.account_id} bookmarks {self.post_id}"


class Pin(models.Model):
    """A post the author pinned to its profile (Mastodon `pinned`, AP `featured` collection)."""

    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="pins")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="pins")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "post"], name="pin_once")]

    def __str__(self) -> str:
        return f"{self.account_id} pins {self.post_id}"
