"""Likes, reposts and bookmarks. Post counters change in the same transaction as the row."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from ourvoice.accounts.models import Account, Block
from ourvoice.core import urls
from ourvoice.core.errors import Conflict, Invalid, NotAllowed, NotFound
from ourvoice.core.outbox import outbox_record
from ourvoice.interactions.models import Bookmark, Like, Pin, Repost
from ourvoice.posts.feeds import feed_fanout_repost, feed_remove_repost
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import posts_visible_q

logger = logging.getLogger(__name__)


def _check_target(account: Account, post: Post) -> None:
    """Raise unless `account` may like or boost `post` (checked against the database, not the
    possibly stale `post` instance)."""
    if account.is_suspended:
        raise NotAllowed("Your account is suspended.")
    active = Post.objects.filter(pk=post.pk, state=Post.State.ACTIVE)
    if active.filter(posts_visible_q(account)).exists():
        return
    # posts_visible_q already hides the posts of an author who blocks the account; tell the
    # blocked account why instead of pretending that an existing, active post is missing.
    if Block.objects.filter(account=post.author_id, target=account).exists() and active.exists():
        raise NotAllowed("The author of this post has blocked you.")
    raise NotFound("Record not found")


#: A unique-constraint race is retried: the winner's row may be undone before we can read it.
_INSERT_ATTEMPTS = 5


def _insert(row: Like | Repost) -> bool:
    """Insert `row` in a savepoint; False when a concurrent writer inserted the same
    (account, post) first (the caller reads that row instead)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


@transaction.atomic
def like_create(*, account: Account, post: Post, uri: str = "") -> Like:
    """Favourite a post (idempotent). Records `like.created` only when a row was added."""
    _check_target(account, post)
    for _attempt in range(_INSERT_ATTEMPTS):
        existing = Like.objects.filter(account=account, post=post).first()
        if existing:
            return existing
        like = Like(account=account, post=post)
        like.uri = uri or (
            urls.activity_uri(account.username, "likes", like.id) if account.local else ""
        )
        if _insert(like):
            break
    else:
        raise Conflict("The post changed while you liked it; please try again.")
    Post.objects.filter(pk=post.pk).update(likes_count=F("likes_count") + 1)
    outbox_record(
        kind="like.created",
        payload={"like_id": like.id, "account_id": account.id, "post_id": post.id},
    )
    return like


@transaction.atomic
def like_delete(*, account: Account, post: Post) -> bool:
    """Undo a favourite. Returns False when there was none (and changes nothing)."""
    like = Like.objects.filter(account=account, post=post).first()
    if like is None:
        return False
    deleted, _ = Like.objects.filter(pk=like.pk).delete()
    if not deleted:
        return False
    Post.objects.filter(pk=post.pk).update(likes_count=Greatest(F("likes_count") - 1, 0))
    outbox_record(
        kind="like.deleted",
        payload={"like_id": like.id, "account_id": account.id, "post_id": post.id, "uri": like.uri},
    )
    return True


@transaction.atomic
def repost_create(
    *, account: Account, post: Post, uri: str = "", visibility: str = Visibility.PUBLIC
) -> Repost:
    """Boost a post (idempotent). Only public and unlisted posts can be boosted."""
    _check_target(account, post)
    if post.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED):
        raise Invalid("This post cannot be boosted.")
    if visibility not in (Visibility.PUBLIC, Visibility.UNLISTED, Visibility.PRIVATE):
        raise Invalid("A boost must be public, unlisted or followers-only.")
    for _attempt in range(_INSERT_ATTEMPTS):
        existing = Repost.objects.filter(account=account, post=post).first()
        if existing:
            return existing
        repost = Repost(account=account, post=post, visibility=visibility)
        repost.uri = uri or (
            urls.activity_uri(account.username, "reposts", repost.id) if account.local else ""
        )
        if _insert(repost):
            break
    else:
        raise Conflict("The post changed while you boosted it; please try again.")
    Post.objects.filter(pk=post.pk).update(reposts_count=F("reposts_count") + 1)
    feed_fanout_repost(repost_id=repost.id, post=post, booster=account)
    outbox_record(
        kind="repost.created",
        payload={"repost_id": repost.id, "account_id": account.id, "post_id": post.id},
    )
    return repost


@transaction.atomic
def repost_delete(*, account: Account, post: Post) -> bool:
    """Undo a boost. Returns False when there was none."""
    repost = Repost.objects.filter(account=account, post=post).first()
    if repost is None:
        return False
    deleted, _ = Repost.objects.filter(pk=repost.pk).delete()
    if not deleted:
        return False
    Post.objects.filter(pk=post.pk).update(reposts_count=Greatest(F("reposts_count") - 1, 0))
    feed_remove_repost(repost_id=repost.id)
    outbox_record(
        kind="repost.deleted",
        payload={
            "repost_id": repost.id,
            "account_id": account.id,
            "post_id": post.id,
            "uri": repost.uri,
        },
    )
    return True


@transaction.atomic
def bookmark_create(*, account: Account, post: Post) -> Bookmark:
    """Bookmark a post the account can read (private to the account; nothing federates)."""
    if not Post.objects.filter(posts_visible_q(account), pk=post.pk).exists():
        raise NotFound("Record not found")
    bookmark, _ = Bookmark.objects.get_or_create(account=account, post=post)
    return bookmark


@transaction.atomic
def bookmark_delete(*, account: Account, post: Post) -> bool:
    """Remove a bookmark. Returns False when there was none."""
    deleted, _ = Bookmark.objects.filter(account=account, post=post).delete()
    return bool(deleted)


MAX_PINS = 5


@transaction.atomic
def pin_create(*, account: Account, post: Post) -> Pin:
    """Pin one of the account's own public or unlisted posts (at most five)."""
    if post.author_id != account.pk:
        raise Invalid("You can only pin your own posts.")
    if post.state != Post.State.ACTIVE:
        raise NotFound("Record not found")
    if post.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED):
        raise Invalid("Only public and unlisted posts can be pinned.")
    existing = Pin.objects.filter(account=account, post=post).first()
    if existing:
        return existing
    Account.objects.select_for_update().filter(pk=account.pk).first()
    if Pin.objects.filter(account=account).count() >= MAX_PINS:
        raise Invalid(f"You can pin at most {MAX_PINS} posts.")
    pin = Pin.objects.create(account=account, post=post)
    outbox_record(
        kind="pin.created", payload={"pin_id": pin.id, "account_id": account.id, "post_id": post.id}
    )
    return pin


@transaction.atomic
def pin_delete(*, account: Account, post: Post) -> bool:
    """Unpin. Returns False when the post was not pinned."""
    deleted, _ = Pin.objects.filter(account=account, post=post).delete()
    if deleted:
        outbox_record(kind="pin.deleted", payload={"account_id": account.id, "post_id": post.id})
    return bool(deleted)
