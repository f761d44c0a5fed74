"""Home feeds: fan-out on write into `FeedEntry` rows, and their maintenance.

Called by the post and boost services in their own transactions, and by outbox consumers for
follows, unfollows and blocks (wired in `ourvoice/events.py`). Reading is in
`ourvoice.interactions.selectors.timeline_home`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import connection, transaction
from django.db.models import Q

from ourvoice.accounts.models import Account, Block, Follow
from ourvoice.core.ids import snowflake_id
from ourvoice.posts.models import FeedEntry, Mention, Post, Visibility

#: Posts copied into a feed when its owner starts following someone.
BACKFILL_LIMIT = 40


def _pairs(rows: Iterable[tuple[int, int]]) -> dict[int, set[int]]:
    """{second: {first, ...}} from (first, second) pairs."""
    out: dict[int, set[int]] = defaultdict(set)
    for first, second in rows:
        out[second].add(first)
    return out


def _owners_for_posts(posts: Sequence[Post]) -> list[set[int]]:
    """The local home feeds each post belongs to, with a fixed number of queries for the lot.

    A post reaches its author's accepted local followers (and its local author); a direct post
    only those of them it mentions; a reply only the followers who also follow the person
    replied to (as Mastodon); nobody on either side of a block with the author.
    """
    author_ids = {p.author_id for p in posts}
    followers = _pairs(
        Follow.objects.filter(
            target_id__in=author_ids, state=Follow.State.ACCEPTED, follower__domain=""
        ).values_list("follower_id", "target_id")
    )
    direct = [p.pk for p in posts if p.visibility == Visibility.DIRECT]
    mentioned = (
        _pairs(
            Mention.objects.filter(post_id__in=direct, account__domain="").values_list(
                "account_id", "post_id"
            )
        )
        if direct
        else {}
    )
    reply_targets = {
        p.in_reply_to_account_id
        for p in posts
        if p.in_reply_to_account_id and p.in_reply_to_account_id != p.author_id
    }
    reply_followers = (
        _pairs(
            Follow.objects.filter(
                follower_id__in=set().union(*(followers.get(a, set()) for a in author_ids)),
                target_id__in=reply_targets,
                state=Follow.State.ACCEPTED,
            ).values_list("follower_id", "target_id")
        )
        if reply_targets
        else {}
    )
    result: list[set[int]] = []
    for post in posts:
        owners = set(followers.get(post.author_id, ()))
        if post.visibility == Visibility.DIRECT:
            owners &= mentioned.get(post.pk, set())
        reply_to = post.in_reply_to_account_id
        if reply_to and reply_to != post.author_id:
            owners = (owners & reply_followers.get(reply_to, set())) | ({reply_to} & owners)
        result.append(owners)
    everyone = set().union(*result)
    if everyone:
        blocked: dict[int, set[int]] = defaultdict(set)  # author → local accounts on the far side
        for account, target in Block.objects.filter(
            Q(account_id__in=everyone, target_id__in=author_ids)
            | Q(account_id__in=author_ids, target_id__in=everyone)
        ).values_list("account_id", "target_id"):
            if target in author_ids:
                blocked[target].add(account)
            if account in author_ids:
                blocked[account].add(target)
        for post, owners in zip(posts, result, strict=True):
            owners -= blocked.get(post.author_id, set())
    for post, owners in zip(posts, result, strict=True):
        if post.author.local:
            owners.add(post.author_id)
    return result


def feed_fanout_post(*, post: Post) -> int:
    """Put a new post into the home feeds it belongs to; returns how many rows were written."""
    return feed_fanout_posts(posts=[post])


@transaction.atomic
def feed_fanout_posts(*, posts: Sequence[Post]) -> int:
    """Put new posts into the home feeds they belong to, with one query per kind for the whole
    batch (followers, blocks, and mentions or reply targets when some post needs them) and one
    insert; returns how many rows were written."""
    if not posts:
        return 0
    pairs = [
        (owner, post)
        for post, owners in zip(posts, _owners_for_posts(posts), strict=True)
        for owner in owners
    ]
    if connection.vendor == "postgresql" and len(pairs) > 1:
        # Thousands of rows per batch: building them as model instances costs more CPU than
        # PostgreSQL spends inserting them, so pass plain arrays to one INSERT … unnest.
        with connection.cursor() as cursor:
            cursor.execute(
                _FEED_INSERT.format(table=connection.ops.quote_name(FeedEntry._meta.db_table)),
                [
                    [snowflake_id() for _ in pairs],
                    [owner for owner, _ in pairs],
                    [post.id for _, post in pairs],
                    [post.author_id for _, post in pairs],
                ],
            )
        return len(pairs)
    rows = [
        FeedEntry(owner_id=owner, entry_id=post.id, post=post, actor_id=post.author_id)
        for owner, post in pairs
    ]
    FeedEntry.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


_FEED_INSERT = """
INSERT INTO {table} (id, owner_id, entry_id, post_id, repost_id, actor_id)
SELECT id, owner_id, post_id, post_id, NULL, actor_id
FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
    AS t(id, owner_id, post_id, actor_id)
ON CONFLICT DO NOTHING
"""


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
