"""Small helpers shared by the posts tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model

from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import Hashtag, MediaAttachment, Mention, Post, PostEdit

M = TypeVar("M", bound=Model)


def fresh(obj: M) -> M:
    """The row as the database has it now (services update counters with F())."""
    obj.refresh_from_db()
    return obj


@dataclass(frozen=True)
class Counts:
    posts: int
    mentions: int
    hashtags: int
    edits: int
    media_attached: int
    outbox: int


def counts() -> Counts:
    return Counts(
        posts=Post.objects.count(),
        mentions=Mention.objects.count(),
        hashtags=Hashtag.objects.count(),
        edits=PostEdit.objects.count(),
        media_attached=MediaAttachment.objects.filter(post__isnull=False).count(),
        outbox=OutboxEvent.objects.count(),
    )


def events(kind: str) -> list[dict]:
    """Payloads of the outbox events of `kind`, oldest first."""
    return list(
        OutboxEvent.objects.filter(kind=kind).order_by("id").values_list("payload", flat=True)
    )
