"""Outbox consumers that publish local actions to the fediverse (FEP-67ff: what we send).

Each consumer runs inside the outbox dispatcher's transaction (with its receipt, so an event is
published at most once). It renders the activity with `federation.outbound.renderers`,
serialises it ONCE with orjson into an `OutgoingActivity` (body and Digest fixed from then on),
writes one `Delivery` row per recipient inbox (audience: `federation.outbound.audience`) and,
after commit, queues `federation.tasks.delivery_send` with chunks of row ids.

Only local actors publish: events about remote actors (recorded when the inbox applies their
activities) produce nothing, so nothing is ever federated back to where it came from.

| event | activity | recipients |
|---|---|---|
| post.created | Create{Note} | by visibility (`post_audience_inboxes`), kept as PostInbox |
| post.updated | Update{Note} | PostInbox + audience (+ interactors if public/unlisted) |
| post.deleted, post.removed | Delete{Tombstone} | PostInbox + mentioned + interactors |
| like.created / like.deleted | Like / Undo{Like} | the post's author |
| repost.created / repost.deleted | Announce / Undo{Announce} | followers + post's author |
| follow.requested (local → remote) | Follow | the target |
| follow.accepted / follow.rejected (remote → local) | Accept / Reject{Follow} | the follower |
| follow.deleted (local → remote) | Undo{Follow} | the target |
| account.updated | Update{Person} | followers |
| block.created / block.deleted (local → remote) | Block / Undo{Block} | the target |

`post.removed` payloads may carry `extra` (merged into the Delete: moderation's summary and
decision link) and `activity_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from federation.delivery import deliveries_enqueue
from federation.models import Delivery, OutgoingActivity, PostInbox
from federation.outbound import audience, renderers
from federation.signatures import digest_sha256
from ourvoice.accounts.models import Account, Block, Follow
from ourvoice.core.ids import snowflake_id
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import Post, Visibility

logger = logging.getLogger(__name__)


# --- Publishing ----------------------------------------------------------------------------------


def _store(
    *, activity: dict[str, Any], actor: Account, post: Post | None
) -> tuple[OutgoingActivity, bool]:
    """Insert the activity with its body serialised once.

    If the id is taken (an Accept sent again for a repeated Follow, two edits within one
    second), the stored row is reused when the body is identical, and otherwise the new
    activity gets an id of its own (`<id>-<snowflake>`), so a stored body never changes.
    Returns the row and whether it was created.
    """
    body = orjson.dumps(activity)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                stored = OutgoingActivity.objects.create(
                    uri=activity["id"],
                    type=activity["type"],
                    actor=actor,
                    body=body,
                    digest=digest_sha256(body),
                    post=post,
                )
            return stored, True
        except IntegrityError:
            existing = OutgoingActivity.objects.get(uri=activity["id"])
            if bytes(existing.body) == body:
                return existing, False
            activity = {**activity, "id": f"{activity['id']}-{snowflake_id()}"}
            body = orjson.dumps(activity)
    raise RuntimeError(f"could not store activity {activity['id']}")


def activity_publish(
    *,
    activity: dict[str, Any],
    actor: Account,
    inboxes: Iterable[str],
    post: Post | None = None,
    record_post_inboxes: bool = False,
) -> OutgoingActivity | None:
    """Store `activity` and one Delivery row per inbox; queue the sending after commit.

    Inboxes of suspended or unavailable domains get a `skipped` row (visible in admin) and no
    request; this server's own inboxes are dropped. With `record_post_inboxes`, the inboxes
    are remembered as the post's recipients (PostInbox) for later Update/Delete. Publishing
    an identical activity again (same id and body) re-arms its finished rows. Returns the
    stored activity, or None when nobody is to receive it (then nothing is stored).
    """
    partition = audience.inboxes_partition(inboxes)
    if not partition.deliver and not partition.skip:
        return None
    stored, created = _store(activity=activity, actor=actor, post=post)
    now = timezone.now()
    rows = [
        (inbox, domain, Delivery.State.PENDING, "") for inbox, domain in partition.deliver.items()
    ]
    rows += [
        (inbox, domain, Delivery.State.SKIPPED, partition.reasons[inbox])
        for inbox, domain in partition.skip.items()
    ]
    _insert_deliveries(stored.pk, rows, now)
    if not created:
        # An identical activity published again: send it again to these inboxes.
        Delivery.objects.filter(activity=stored, inbox__in=list(partition.deliver)).exclude(
            state=Delivery.State.PENDING
        ).update(
            state=Delivery.State.PENDING,
            attempts=0,
            next_attempt_at=now,
            last_status=None,
            last_error="",
            sent_at=None,
        )
    if record_post_inboxes and post is not None and partition.deliver:
        _insert_post_inboxes(post.pk, list(partition.deliver))
    ids = list(
        Delivery.objects.filter(activity=stored, state=Delivery.State.PENDING)
        .order_by("domain", "inbox")
        .values_list("id", flat=True)
    )
    if ids:
        transaction.on_commit(lambda: deliveries_enqueue(ids), robust=True)
    logger.info(
        "activity published activity=%s type=%s actor=%s deliveries=%s skipped=%s",
        stored.uri,
        stored.type,
        actor.uri,
        len(partition.deliver),
        len(partition.skip),
    )
    return stored


#: Rows per INSERT statement (SQLite allows 32,766 parameters per statement).
_INSERT_BATCH = 1000


def _insert_rows(table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of many rows in few statements.

    A fan-out writes thousands of rows per activity; building Django model instances for
    them cost more CPU than sending the requests (~0.3 ms per row). PostgreSQL gets one
    `unnest` of arrays per batch; SQLite a multi-row VALUES list.
    """
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_BATCH):
            batch = rows[start : start + _INSERT_BATCH]
            if connection.vendor == "postgresql":
                types = [_PG_TYPES[column] for column in columns]
                cursor.execute(
                    f"INSERT INTO {table} ({quoted}) SELECT * FROM unnest("
                    + ", ".join(f"%s::{t}[]" for t in types)
                    + ") ON CONFLICT DO NOTHING",
                    [list(values) for values in zip(*batch, strict=True)],
                )
            else:
                row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
                cursor.execute(
                    f"INSERT INTO {table} ({quoted}) VALUES "
                    + ", ".join([row_sql] * len(batch))
                    + " ON CONFLICT DO NOTHING",
                    [value for row in batch for value in row],
                )


_PG_TYPES = {
    "id": "bigint",
    "activity_id": "bigint",
    "post_id": "bigint",
    "inbox": "text",
    "domain": "text",
    "state": "text",
    "last_error": "text",
    "attempts": "smallint",
    "next_attempt_at": "timestamptz",
    "created_at": "timestamptz",
}


def _insert_deliveries(
    activity_id: int, rows: list[tuple[str, str, str, str]], now: datetime
) -> None:
    """One Delivery row per (inbox, domain, state, last_error); existing pairs are kept."""
    stamp = connection.ops.adapt_datetimefield_value(now)
    _insert_rows(
        connection.ops.quote_name(Delivery._meta.db_table),
        [
            "id",
            "activity_id",
            "inbox",
            "domain",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
        ],
        [
            (snowflake_id(), activity_id, inbox, domain, state, 0, stamp, error, stamp)
            for inbox, domain, state, error in rows
        ],
    )


def _insert_post_inboxes(post_id: int, inboxes: list[str]) -> None:
    _insert_rows(
        connection.ops.quote_name(PostInbox._meta.db_table),
        ["post_id", "inbox"],
        [(post_id, inbox) for inbox in inboxes],
    )


def _stored_activity(uri: str) -> dict[str, Any] | None:
    """The body we sent for an activity id, if we stored one (to embed it in an Undo)."""
    if not uri:
        return None
    body = OutgoingActivity.objects.filter(uri=uri).values_list("body", flat=True).first()
    return orjson.loads(bytes(body)) if body is not None else None


def _previous_inboxes(uri: str) -> set[str]:
    """Every inbox an activity was addressed to (to send its Undo to the same places)."""
    if not uri:
        return set()
    return set(Delivery.objects.filter(activity__uri=uri).values_list("inbox", flat=True))


def _undo(*, inner: dict[str, Any], actor: Account, inboxes: Iterable[str]) -> None:
    activity = renderers.render_undo(inner, actor_uri=actor.uri, activity_id=f"{inner['id']}/undo")
    activity_publish(activity=activity, actor=actor, inboxes=inboxes)


def _local_account(account_id: int | None) -> Account | None:
    if account_id is None:
        return None
    return Account.objects.filter(pk=account_id, domain="").first()


def _account(account_id: int | None) -> Account | None:
    return Account.objects.filter(pk=account_id).first() if account_id is not None else None


def _local_post(event: OutboxEvent) -> Post | None:
    post = (
        Post.objects.select_related("author", "in_reply_to_account", "in_reply_to__author")
        .filter(pk=event.payload.get("post_id"))
        .first()
    )
    if post is None or not post.local or not post.author.local:
        return None
    return post


# --- Posts ---------------------------------------------------------------------------------------


def on_post_created(event: OutboxEvent) -> None:
    """Create{Note} to the post's audience; the inboxes are kept as the post's recipients."""
    post = _local_post(event)
    if post is None or post.state != Post.State.ACTIVE:
        return
    activity_publish(
        activity=renderers.render_create(post),
        actor=post.author,
        inboxes=audience.post_audience_inboxes(post),
        post=post,
        record_post_inboxes=True,
    )


def on_post_updated(event: OutboxEvent) -> None:
    """Update{Note} to everyone who got the post, plus its current audience."""
    post = _local_post(event)
    if post is None or post.state != Post.State.ACTIVE:
        return
    inboxes = audience.post_recipient_inboxes(post) | audience.post_audience_inboxes(post)
    if post.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        inboxes |= audience.interactor_inboxes(post)
    activity_publish(
        activity=renderers.render_update_note(post),
        actor=post.author,
        inboxes=inboxes,
        post=post,
        record_post_inboxes=True,
    )


def _post_delete(event: OutboxEvent, state: str) -> None:
    post = _local_post(event)
    if post is None or post.state != state:
        return
    extra = event.payload.get("extra")
    activity = renderers.render_delete_note(
        post,
        activity_id=event.payload.get("activity_id") or None,
        extra=extra if isinstance(extra, dict) else None,
    )
    inboxes = (
        audience.post_recipient_inboxes(post)
        | audience.mentioned_inboxes(post)
        | audience.interactor_inboxes(post)
    )
    activity_publish(activity=activity, actor=post.author, inboxes=inboxes, post=post)


def on_post_deleted(event: OutboxEvent) -> None:
    """Delete{Tombstone} by the author, to every inbox that got the post and to interactors."""
    _post_delete(event, Post.State.DELETED)


def on_post_removed(event: OutboxEvent) -> None:
    """Delete{Tombstone} for a moderation removal, signed by the author (Mastodon ignores a
    Delete from anyone else), to the same inboxes as an author's delete."""
    _post_delete(event, Post.State.REMOVED)


# --- Likes and boosts ----------------------------------------------------------------------------


def on_like_created(event: OutboxEvent) -> None:
    """Like to the liked post's remote author."""
    like = (
        Like.objects.select_related("account", "post__author")
        .filter(pk=event.payload.get("like_id"))
        .first()
    )
    if like is None or not like.account.local:
        return
    inbox = audience.account_inbox(like.post.author)
    if inbox:
        activity_publish(activity=renderers.render_like(like), actor=like.account, inboxes=[inbox])


def on_like_deleted(event: OutboxEvent) -> None:
    """Undo{Like} to the post's remote author (the Like row is gone: payload `uri`)."""
    account = _local_account(event.payload.get("account_id"))
    post = Post.objects.select_related("author").filter(pk=event.payload.get("post_id")).first()
    uri = event.payload.get("uri", "")
    if account is None or post is None or not uri:
        return
    inbox = audience.account_inbox(post.author)
    if not inbox:
        return
    inner = _stored_activity(uri) or {
        "@context": renderers.ACTIVITY_CONTEXT,
        "id": uri,
        "type": "Like",
        "actor": account.uri,
        "object": post.uri,
    }
    _undo(inner=inner, actor=account, inboxes=[inbox])


def _announce_inboxes(booster: Account, post: Post) -> set[str]:
    inboxes = audience.followers_inboxes(booster)
    author_inbox = audience.account_preferred_inbox(post.author)
    if author_inbox:
        inboxes.add(author_inbox)
    return inboxes


def on_repost_created(event: OutboxEvent) -> None:
    """Announce to the booster's followers and the boosted post's author."""
    repost = (
        Repost.objects.select_related("account", "post__author")
        .filter(pk=event.payload.get("repost_id"))
        .first()
    )
    if repost is None or not repost.account.local:
        return
    activity_publish(
        activity=renderers.render_announce(repost),
        actor=repost.account,
        inboxes=_announce_inboxes(repost.account, repost.post),
    )


def on_repost_deleted(event: OutboxEvent) -> None:
    """Undo{Announce} to wherever the Announce went, plus the current followers."""
    account = _local_account(event.payload.get("account_id"))
    post = Post.objects.select_related("author").filter(pk=event.payload.get("post_id")).first()
    uri = event.payload.get("uri", "")
    if account is None or post is None or not uri:
        return
    inner = _stored_activity(uri) or {
        "@context": renderers.ACTIVITY_CONTEXT,
        "id": uri,
        "type": "Announce",
        "actor": account.uri,
        "object": post.uri,
    }
    inboxes = _previous_inboxes(uri) | _announce_inboxes(account, post)
    _undo(inner=inner, actor=account, inboxes=inboxes)


# --- Follows -------------------------------------------------------------------------------------


def _follow(event: OutboxEvent) -> Follow | None:
    return (
        Follow.objects.select_related("follower", "target")
        .filter(pk=event.payload.get("follow_id"))
        .first()
    )


def _gone_follow(event: OutboxEvent) -> Follow | None:
    """The Follow row of a removed follow, rebuilt (unsaved) from the event payload."""
    follower = _account(event.payload.get("follower_id"))
    target = _account(event.payload.get("target_id"))
    if follower is None or target is None:
        return None
    return Follow(
        id=event.payload.get("follow_id"),
        follower=follower,
        target=target,
        uri=event.payload.get("uri", ""),
    )


def on_follow_requested(event: OutboxEvent) -> None:
    """Follow from a local account to a remote one."""
    follow = _follow(event)
    if follow is None or not follow.follower.local or follow.target.local:
        return
    inbox = audience.account_inbox(follow.target)
    if inbox:
        activity_publish(
            activity=renderers.render_follow(follow), actor=follow.follower, inboxes=[inbox]
        )


def on_follow_accepted(event: OutboxEvent) -> None:
    """Accept{Follow} (embedding the remote Follow with its own id) from a local target."""
    follow = _follow(event)
    if follow is None or not follow.target.local or follow.follower.local:
        return
    inbox = audience.account_inbox(follow.follower)
    if inbox:
        activity_publish(
            activity=renderers.render_accept(follow), actor=follow.target, inboxes=[inbox]
        )


def on_follow_rejected(event: OutboxEvent) -> None:
    """Reject{Follow} from a local target (request refused, follower removed or blocked)."""
    follow = _gone_follow(event)
    if follow is None or not follow.target.local or follow.follower.local:
        return
    inbox = audience.account_inbox(follow.follower)
    if inbox:
        activity_publish(
            activity=renderers.render_reject(follow), actor=follow.target, inboxes=[inbox]
        )


def on_follow_deleted(event: OutboxEvent) -> None:
    """Undo{Follow} from a local follower to the remote target."""
    follow = _gone_follow(event)
    if follow is None or not follow.follower.local or follow.target.local or not follow.uri:
        return
    inbox = audience.account_inbox(follow.target)
    if inbox:
        inner = _stored_activity(follow.uri) or renderers.render_follow(follow)
        _undo(inner=inner, actor=follow.follower, inboxes=[inbox])


# --- Accounts and blocks -------------------------------------------------------------------------


def on_account_updated(event: OutboxEvent) -> None:
    """Update{Person} of a local account to its followers' servers."""
    account = _local_account(event.payload.get("account_id"))
    if account is None or account.is_suspended:
        return
    activity_publish(
        activity=renderers.render_update_actor(account),
        actor=account,
        inboxes=audience.followers_inboxes(account),
    )


def on_account_suspended(event: OutboxEvent) -> None:
    """Delete{Person} of a suspended local account to everyone who may hold a copy of it
    (`audience.account_deletion_inboxes`), as Mastodon does when an account goes away; signed
    with the account's own key, the only one remote servers accept for it."""
    account = _local_account(event.payload.get("account_id"))
    if account is None or not account.is_suspended:
        return  # unsuspended again before this ran: nothing to announce
    activity_publish(
        activity=renderers.render_delete_actor(account),
        actor=account,
        inboxes=audience.account_deletion_inboxes(account),
    )


def on_account_unsuspended(event: OutboxEvent) -> None:
    """Update{Person} after a suspension is lifted: servers that dropped the actor on our
    Delete fetch it again when its followers next see it (Mastodon's UnsuspendAccountService
    sends the same Update)."""
    account = _local_account(event.payload.get("account_id"))
    if account is None or account.is_suspended:
        return
    activity_publish(
        activity=renderers.render_update_actor(account),
        actor=account,
        inboxes=audience.account_deletion_inboxes(account),
    )


def on_block_created(event: OutboxEvent) -> None:
    """Block from a local account to the remote blocked actor."""
    block = (
        Block.objects.select_related("account", "target")
        .filter(pk=event.payload.get("block_id"))
        .first()
    )
    if block is None or not block.account.local or block.target.local or not block.uri:
        return
    inbox = audience.account_inbox(block.target)
    if inbox:
        activity_publish(
            activity=renderers.render_block(block), actor=block.account, inboxes=[inbox]
        )


def on_block_deleted(event: OutboxEvent) -> None:
    """Undo{Block} from a local account to the remote actor it unblocked."""
    account = _local_account(event.payload.get("account_id"))
    target = _account(event.payload.get("target_id"))
    uri = event.payload.get("uri", "")
    if account is None or target is None or target.local or not uri:
        return
    inbox = audience.account_inbox(target)
    if not inbox:
        return
    gone = Block(id=event.payload.get("block_id"), account=account, target=target, uri=uri)
    inner = _stored_activity(uri) or renderers.render_block(gone)
    _undo(inner=inner, actor=account, inboxes=[inbox])


#: Consumers by event kind (registered in `ourvoice.events.CONSUMERS`).
CONSUMERS_BY_KIND = {
    "post.created": on_post_created,
    "post.updated": on_post_updated,
    "post.deleted": on_post_deleted,
    "post.removed": on_post_removed,
    "like.created": on_like_created,
    "like.deleted": on_like_deleted,
    "repost.created": on_repost_created,
    "repost.deleted": on_repost_deleted,
    "follow.requested": on_follow_requested,
    "follow.accepted": on_follow_accepted,
    "follow.rejected": on_follow_rejected,
    "follow.deleted": on_follow_deleted,
    "account.updated": on_account_updated,
    "block.created": on_block_created,
    "block.deleted": on_block_deleted,
}
