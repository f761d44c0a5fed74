"""Outbox consumers that turn domain events into streaming events (wired in ourvoice/events.py).

Each renders once, in the worker that dispatches the event, and publishes to the channel layer
after its transaction commits (so a consumer that rolls back publishes nothing, and the receipt
that makes it run once per event is stored before anything is sent). Streaming is best effort:
a client that was not connected reads the same posts and notifications through the REST API.

| event | stream event | to |
|---|---|---|
| post.created | update | home feeds holding it; public and hashtag groups if public |
| post.created (direct) | conversation | the author and mentioned local accounts (`direct`) |
| post.updated | status.update | home feeds holding it or a boost of it; public and hashtags |
| post.deleted, post.removed, post.archived | delete | home feeds holding it; public, hashtags |
| repost.created | update (the boost) | home feeds holding the boost |
| repost.deleted | delete (the boost's id) | the booster's local followers |
| notification.created | notification | the recipient (`user`, `user:notification`) |
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from ourvoice.accounts.models import Account
from ourvoice.api.mastodon.entities import (
    StatusContext,
    render_account,
    render_notifications,
    render_post,
    render_repost,
)
from ourvoice.api.streaming import audience
from ourvoice.api.streaming.streams import (
    DIRECT,
    HOME,
    NOTIFICATION,
    PUBLIC_GROUP,
    hashtag_group,
    user_group,
)
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Repost
from ourvoice.notifications.selectors import notifications_for
from ourvoice.posts.models import Post, Visibility

logger = logging.getLogger(__name__)

Message = dict[str, Any]


def _send_now(messages: list[tuple[str, Message]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:
        # Streaming is best effort; the rows are the truth and clients read them via REST.
        logger.exception("streaming publish failed messages=%s", len(messages))


def _publish(messages: list[tuple[str, Message]]) -> None:
    """Send the messages to their groups once the current transaction commits."""
    if messages:
        transaction.on_commit(lambda: _send_now(messages), robust=True)


def _message(event: str, **fields: Any) -> Message:
    return {"type": "stream.event", "event": event, "sent": time.time(), **fields}


def _load_post(event: OutboxEvent) -> Post | None:
    return Post.objects.select_related("author").filter(pk=event.payload["post_id"]).first()


def _anonymous(post: Post) -> dict[str, Any]:
    return render_post(post, StatusContext.build(viewer=None, posts=[post]))


def _public_messages(
    post: Post, event: str, *, hidden: set[int], status: dict[str, Any] | None = None, **fields: Any
) -> list[tuple[str, Message]]:
    """Messages for the public and hashtag groups, if the post belongs on public timelines
    (active, public, author neither suspended nor silenced: `timeline_public`). `hidden` are
    the local accounts that must not get it (`audience.accounts_hiding`)."""
    if post.visibility != Visibility.PUBLIC or post.author.is_suspended or post.author.is_silenced:
        return []
    if status is not None:
        media = bool(status["media_attachments"])
        tags = [t["name"] for t in status["tags"]]
        fields["status"] = status
    else:
        media = post.media.exists()
        tags = list(post.hashtags.values_list("name", flat=True))
    base = _message(event, local=post.local, media=media, exclude=sorted(hidden), **fields)
    groups = [PUBLIC_GROUP] + [hashtag_group(n) for n in tags]
    return [(group, {**base, "group": group}) for group in groups]


def _user_messages(owners: set[int], kind: str, event: str, **fields: Any) -> list:
    return [
        (user_group(o), _message(event, group=user_group(o), kind=kind, **fields))
        for o in sorted(owners)
    ]


# --- posts ----------------------------------------------------------------------------------


def on_post_created(event: OutboxEvent) -> None:
    """`update` to home feeds and public streams; `conversation` for direct posts."""
    post = _load_post(event)
    if post is None or post.state != Post.State.ACTIVE:
        return
    status = _anonymous(post)
    viewer = audience.viewer_state(post=post)
    hidden = audience.accounts_hiding(authors=[post.author])
    owners = audience.accounts_reading(
        post=post, candidates=audience.feed_owners(post_id=post.pk) - hidden
    )
    messages = _user_messages(owners, HOME, "update", status=status, viewer=viewer)
    if post.visibility == Visibility.DIRECT:
        participants = audience.local_mentioned(post=post) | (
            {post.author_id} if post.author.local else set()
        )
        readers = audience.accounts_reading(post=post, candidates=participants - hidden)
        accounts = [render_account(post.author)] + [render_account(a) for a in post.mentions.all()]
        conversation = {
            "id": str(post.thread_root_id or post.pk),
            "accounts": accounts,
            "author_id": str(post.author_id),
        }
        messages += _user_messages(
            readers, DIRECT, "conversation", status=status, viewer=viewer, conversation=conversation
        )
    messages += _public_messages(post, "update", hidden=hidden, status=status, viewer=viewer)
    _publish(messages)


def on_post_updated(event: OutboxEvent) -> None:
    """`status.update` wherever the post was streamed: home feeds (the post or a boost of it)
    and public streams."""
    post = _load_post(event)
    if post is None or post.state != Post.State.ACTIVE:
        return
    status = _anonymous(post)
    viewer = audience.viewer_state(post=post)
    hidden = audience.accounts_hiding(authors=[post.author])
    holders = {owner for owner, _ in audience.feed_entries_of_post(post_id=post.pk)}
    owners = audience.accounts_reading(post=post, candidates=holders - hidden)
    messages = _user_messages(owners, HOME, "status.update", status=status, viewer=viewer)
    messages += _public_messages(post, "status.update", hidden=hidden, status=status, viewer=viewer)
    _publish(messages)


def on_post_gone(event: OutboxEvent) -> None:
    """`delete` (payload: the bare id) for a post deleted, removed by moderation or archived:
    to every home feed that held it or a boost of it (the boost's id too), and to the public
    streams if it was public. An archived post stays readable by its author."""
    post = _load_post(event)
    if post is None:
        return
    keep_author = event.kind == "post.archived"
    messages: list[tuple[str, Message]] = []
    for owner, repost_id in audience.feed_entries_of_post(post_id=post.pk):
        if keep_author and owner == post.author_id:
            continue
        group = user_group(owner)
        ids = [str(post.pk)] if repost_id is None else [str(repost_id), str(post.pk)]
        messages.extend(
            (group, _message("delete", group=group, kind=HOME, payload=item)) for item in ids
        )
    if post.visibility == Visibility.PUBLIC:
        groups = [PUBLIC_GROUP] + [
            hashtag_group(n) for n in post.hashtags.values_list("name", flat=True)
        ]
        messages.extend(
            (group, _message("delete", group=group, local=post.local, payload=str(post.pk)))
            for group in groups
        )
    _publish(_unique(messages))


def _unique(messages: list[tuple[str, Message]]) -> list[tuple[str, Message]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for group, message in messages:
        key = (group, message.get("payload") or "")
        if key not in seen:
            seen.add(key)
            out.append((group, message))
    return out


# --- boosts ---------------------------------------------------------------------------------


def on_repost_created(event: OutboxEvent) -> None:
    """`update` carrying the boost (Status with `reblog`) to the home feeds that hold it."""
    repost = (
        Repost.objects.select_related("account", "post__author")
        .filter(pk=event.payload["repost_id"])
        .first()
    )
    if repost is None or repost.post.state != Post.State.ACTIVE:
        return
    post = repost.post
    status = render_repost(repost, StatusContext.build(viewer=None, posts=[post]))
    viewer = audience.viewer_state(post=post, booster_id=repost.account_id)
    hidden = audience.accounts_hiding(authors=[post.author, repost.account])
    candidates = audience.feed_owners(post_id=post.pk, repost_id=repost.pk) - hidden
    owners = audience.accounts_reading(post=post, candidates=candidates)
    _publish(_user_messages(owners, HOME, "update", status=status, viewer=viewer))


def on_repost_deleted(event: OutboxEvent) -> None:
    """`delete` with the boost's id for the booster's local followers (their feeds held it)."""
    booster = Account.objects.filter(pk=event.payload["account_id"]).first()
    if booster is None:
        return
    owners = audience.local_followers(account=booster, reblogs_only=True)
    _publish(_user_messages(owners, HOME, "delete", payload=str(event.payload["repost_id"])))


# --- notifications ----------------------------------------------------------------------------


def on_notification_created(event: OutboxEvent) -> None:
    """`notification` with the Notification entity as the recipient reads it through REST."""
    recipient = Account.objects.filter(pk=event.payload["recipient_id"], domain="").first()
    if recipient is None:
        return
    item = (
        notifications_for(recipient=recipient).filter(pk=event.payload["notification_id"]).first()
    )
    if item is None:
        return  # dismissed, or its post or sender is already gone
    payload = orjson.dumps(render_notifications([item], viewer=recipient)[0]).decode()
    _publish(_user_messages({recipient.pk}, NOTIFICATION, "notification", payload=payload))
