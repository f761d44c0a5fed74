"""Mastodon-specific data about OAuth applications (django-oauth-toolkit holds the rest)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppProfile(models.Model):
    """What Mastodon clients register beyond DOT's Application: scopes, website, raw URIs."""

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
    )
    #: Space-separated scopes the app may request.
    scopes = models.TextField(default="read")
    website = models.URLField(max_length=2048, blank=True, default="")
    #: Redirect URIs exactly as registered (compared byte for byte, never normalised).
    redirect_uris = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"profile of {self.application_id}"


class IdempotentRequest(models.Model):
    """A status creation keyed by the client's `Idempotency-Key` (replayed for one hour)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    post_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_once")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
