"""Home feeds: fan-out on write into `FeedEntry` rows, and their maintenance.

Called by the post and boost services in their own transactions, and by outbox consumers for
follows, unfollows and blocks (wired in `ourvoice/events.py`). Reading is in
`ourvoice.interactions.selectors.timeline_home`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q

from ourvoice.accounts.models import Account, Block, Follow
from ourvoice.posts.models import FeedEntry, Mention, Post, Visibility

#: Posts copied into a feed when its owner starts following someone.
BACKFILL_LIMIT = 40


def _local_followers(author_id: int) -> Iterable[int]:
    return Follow.objects.filter(
        target_id=author_id, state=Follow.State.ACCEPTED, follower__domain=""
    ).values_list("follower_id", flat=True)


def _owners_for_post(post: Post) -> set[int]:
    author = post.author
    owners: set[int] = set(_local_followers(author.pk))
    if post.visibility == Visibility.DIRECT:
        mentioned = set(
            Mention.objects.filter(post=post, account__domain="").values_list(
                "account_id", flat=True
            )
        )
        owners &= mentioned
    reply_to = post.in_reply_to_account_id
    if reply_to and reply_to != author.pk:
        # As Mastodon: a reply reaches only followers who also follow the person replied to.
        also_following = set(
            Follow.objects.filter(
                follower_id__in=owners, target_id=reply_to, state=Follow.State.ACCEPTED
            ).values_list("follower_id", flat=True)
        )
        owners = also_following | ({reply_to} & owners)
    if author.local:
        owners.add(author.pk)
    if owners:
        blockers = set(
            Block.objects.filter(
                Q(account_id__in=owners, target_id=author.pk)
                | Q(account_id=author.pk, target_id__in=owners)
            ).values_list("account_id", "target_id")
        )
        owners -= {a for a, _ in blockers} | {t for _, t in blockers}
        if author.local:
            owners.add(author.pk)
    return owners


@transaction.atomic
def feed_fanout_post(*, post: Post) -> int:
    """Put a new post into the home feeds it belongs to; returns how many rows were written."""
    owners = _owners_for_post(post)
    rows = [
        FeedEntry(owner_id=o, entry_id=post.id, post=post, actor_id=post.author_id) for o in owners
    ]
    FeedEntry.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


@transaction.atomic
def feed_fanout_repost(*, repost_id: int, post: Post, booster: Account) -> int:
    """Put a boost into the feeds of the booster's local followers who want boosts."""
    owners = set(
        Follow.objects.filter(
            target=booster, state=Follow.State.ACCEPTED, follower__domain="", show_reblogs=True
        ).values_list("follower_id", flat=True)
    )
    if booster.local:
        owners.add(booster.pk)
    owners -= set(
        Block.objects.filter(account_id__in=owners, target_id=post.author_id).values_list(
            "account_id", flat=True
        )
    )
    if post.author_id != booster.pk:
        owners.discard(post.author_id)  # nobody sees boosts of their own post (as Mastodon)
    rows = [
        FeedEntry(
            owner_id=o, entry_id=repost_id, post=post, repost_id=repost_id, actor_id=booster.pk
        )
        for o in owners
    ]
    FeedEntry.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


@transaction.atomic
def feed_remove_repost(*, repost_id: int) -> int:
    """Take an undone boost out of every feed."""
    deleted, _ = FeedEntry.objects.filter(repost_id=repost_id).delete()
    return deleted


@transaction.atomic
def feed_backfill(*, owner_id: int, author_id: int, limit: int = BACKFILL_LIMIT) -> int:
    """Copy the author's recent posts into a new follower's feed (after a follow is accepted)."""
    owner = Account.objects.filter(pk=owner_id, domain="").first()
    if owner is None:
        return 0
    visible = [Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE]
    posts = list(
        Post.objects.filter(author_id=author_id, state=Post.State.ACTIVE, visibility__in=visible)
        .filter(
            Q(in_reply_to_account__isnull=True)
            | Q(in_reply_to_account_id=author_id)
            | Q(in_reply_to_account_id=owner_id)
        )
        .order_by("-id")
        .values_list("id", flat=True)[:limit]
    )
    rows = [
        FeedEntry(owner_id=owner_id, entry_id=pid, post_id=pid, actor_id=author_id) for pid in posts
    ]
    FeedEntry.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@transaction.atomic
def feed_remove_actor(*, owner_id: int, actor_id: int) -> int:
    """Drop everything `actor_id` put in `owner_id`'s feed (after an unfollow or a block),
    including boosts of the actor's posts by others."""
    deleted, _ = (
        FeedEntry.objects.filter(
            Q(actor_id=actor_id) | Q(post__author_id=actor_id), owner_id=owner_id
        )
        .exclude(owner_id=actor_id)
        .delete()
    )
    return deleted
