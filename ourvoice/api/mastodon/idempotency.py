"""Idempotency-Key for status creation (Mastodon replays the same status for one hour)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from ourvoice.accounts.models import User
from ourvoice.api.mastodon.models import IdempotentRequest
from ourvoice.posts.models import Post

IDEMPOTENCY_TTL = timedelta(hours=1)
KEY_MAX_LENGTH = 255


def idempotent_post_get(*, user: User, key: str) -> Post | None:
    """The post created under `key` by `user` within the last hour, if any."""
    if not key:
        return None
    seen = IdempotentRequest.objects.filter(
        user=user, key=key, created_at__gte=timezone.now() - IDEMPOTENCY_TTL
    ).first()
    if seen is None:
        return None
    return Post.objects.select_related("author").filter(pk=seen.post_id).first()


@transaction.atomic
def idempotent_post_create(*, user: User, key: str, create: Callable[[], Post]) -> Post:
    """Run `create` and remember its post under `key` in the same transaction.

    Two requests racing with the same key (neither committed yet) may both create a post; the
    key then names the later one.
    """
    post = create()
    if key:
        try:
            with transaction.atomic():
                IdempotentRequest.objects.update_or_create(
                    user=user, key=key, defaults={"post_id": post.id, "created_at": timezone.now()}
                )
        except IntegrityError:
            pass
    return post
