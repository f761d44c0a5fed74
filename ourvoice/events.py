"""Outbox routing table (event kind → consumers) and the Celery tasks that dispatch events.

This module is the composition root of the event flow: domain services record events with
`ourvoice.core.outbox.outbox_record`; the tasks below hand them to the consumers listed here.
Federation, notifications and moderation add their consumers to `CONSUMERS` as they grow;
domain apps never import them.
"""

from __future__ import annotations

import logging

from celery import shared_task

from federation.outbound import consumers as outgoing
from federation.outbound import moderation as outgoing_moderation
from moderation import consumers as moderation_consumers
from ourvoice.api.streaming import consumers as streaming
from ourvoice.core.models import OutboxEvent
from ourvoice.core.outbox import (
    Consumer,
    outbox_event_dispatch,
    outbox_events_dispatch,
    outbox_pending_ids,
)
from ourvoice.notifications import consumers as notification_consumers
from ourvoice.posts.feeds import feed_backfill, feed_remove_actor

logger = logging.getLogger(__name__)

#: Event kinds, with the payload keys each carries.
EVENT_KINDS = {
    "account.created": ["account_id"],
    "account.updated": ["account_id"],
    "account.suspended": ["account_id"],
    "account.unsuspended": ["account_id"],
    "follow.requested": ["follow_id", "follower_id", "target_id"],
    "follow.accepted": ["follow_id", "follower_id", "target_id"],
    "follow.rejected": ["follow_id", "follower_id", "target_id", "uri"],
    "follow.deleted": ["follow_id", "follower_id", "target_id", "uri"],
    "block.created": ["block_id", "account_id", "target_id"],
    "block.deleted": ["block_id", "account_id", "target_id", "uri"],
    "post.created": ["post_id", "author_id"],
    "post.updated": ["post_id", "author_id"],
    "post.deleted": ["post_id", "author_id"],
    "post.archived": ["post_id", "author_id"],
    "post.restored": ["post_id", "author_id"],
    "post.removed": ["post_id", "author_id"],
    "like.created": ["like_id", "account_id", "post_id"],
    "like.deleted": ["like_id", "account_id", "post_id", "uri"],
    "repost.created": ["repost_id", "account_id", "post_id"],
    "repost.deleted": ["repost_id", "account_id", "post_id", "uri"],
    "report.created": ["report_id", "reporter_id", "target_account_id", "post_ids"],
    # Recorded by federation (incoming), consumed by moderation.
    "report.received": ["actor", "actor_id", "object_uris", "content", "activity_id"],
    "moderation.vote.received": [
        "activity_id",
        "actor_id",
        "object",
        "verdict",
        "reason_code",
        "comment",
        "object_version",
        "target",
    ],
    "moderation.vote.undo_received": ["activity_id", "actor_id", "vote_uri"],
    # Recorded by moderation, published by federation (federation.outbound.moderation).
    "moderation.vote.forward": [
        "vote_uri",
        "voter_id",
        "post_uri",
        "verdict",
        "reason_code",
        "comment",
        "content_version",
        "published",
    ],
    "moderation.vote.withdraw": ["vote_uri", "voter_id", "post_uri", "undo_uri"],
    "moderation.flag": ["case_id", "flag_uri", "post_id", "content", "decision_url"],
    "pin.created": ["pin_id", "account_id", "post_id"],
    "pin.deleted": ["account_id", "post_id"],
    "notification.created": ["notification_id", "recipient_id"],
}

# --- Home feeds: follows and blocks change what fan-out on write put in a feed. -------------


def feed_on_follow_accepted(event: OutboxEvent) -> None:
    """A new follower sees the followed account's recent posts at once (as Mastodon merges)."""
    feed_backfill(owner_id=event.payload["follower_id"], author_id=event.payload["target_id"])


def feed_on_follow_ended(event: OutboxEvent) -> None:
    """An unfollow (or a rejected/revoked follow) takes that account out of the feed."""
    feed_remove_actor(owner_id=event.payload["follower_id"], actor_id=event.payload["target_id"])


def feed_on_block(event: OutboxEvent) -> None:
    """A block empties both feeds of the other side's posts and boosts."""
    account, target = event.payload["account_id"], event.payload["target_id"]
    feed_remove_actor(owner_id=account, actor_id=target)
    feed_remove_actor(owner_id=target, actor_id=account)


CONSUMERS: dict[str, list[Consumer]] = {
    "account.created": [notification_consumers.on_account_created],
    "account.updated": [outgoing.on_account_updated],
    "account.suspended": [outgoing.on_account_suspended],
    "account.unsuspended": [outgoing.on_account_unsuspended],
    "follow.requested": [notification_consumers.on_follow_requested, outgoing.on_follow_requested],
    "follow.accepted": [
        notification_consumers.on_follow_accepted,
        feed_on_follow_accepted,
        outgoing.on_follow_accepted,
    ],
    "follow.rejected": [feed_on_follow_ended, outgoing.on_follow_rejected],
    "follow.deleted": [feed_on_follow_ended, outgoing.on_follow_deleted],
    "block.created": [feed_on_block, outgoing.on_block_created],
    "block.deleted": [outgoing.on_block_deleted],
    "report.created": [moderation_consumers.on_report_created],
    "report.received": [moderation_consumers.on_report_received],
    "moderation.vote.received": [moderation_consumers.on_vote_received],
    "moderation.vote.undo_received": [moderation_consumers.on_vote_undo_received],
    "moderation.vote.forward": [outgoing_moderation.on_vote_forward],
    "moderation.vote.withdraw": [outgoing_moderation.on_vote_withdraw],
    "moderation.flag": [outgoing_moderation.on_moderation_flag],
    "post.created": [
        notification_consumers.on_post_created,
        outgoing.on_post_created,
        streaming.on_post_created,
    ],
    "post.updated": [
        notification_consumers.on_post_updated,
        outgoing.on_post_updated,
        streaming.on_post_updated,
    ],
    "post.deleted": [
        outgoing.on_post_deleted,
        streaming.on_post_gone,
        moderation_consumers.on_post_deleted,
    ],
    "post.removed": [outgoing.on_post_removed, streaming.on_post_gone],
    "post.archived": [streaming.on_post_gone],
    "like.created": [notification_consumers.on_like_created, outgoing.on_like_created],
    "like.deleted": [outgoing.on_like_deleted],
    "repost.created": [
        notification_consumers.on_repost_created,
        outgoing.on_repost_created,
        streaming.on_repost_created,
    ],
    "repost.deleted": [outgoing.on_repost_deleted, streaming.on_repost_deleted],
    "notification.created": [streaming.on_notification_created],
}


@shared_task(name="ourvoice.events.outbox_dispatch", acks_late=True)
def outbox_dispatch(event_id: int) -> bool:
    """Hand one event to its consumers (idempotent; safe to run twice or concurrently)."""
    return outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS)


@shared_task(name="ourvoice.events.outbox_dispatch_many", acks_late=True)
def outbox_dispatch_many(event_ids: list[int]) -> int:
    """Hand several events to their consumers, one after the other (recorded together by
    `outbox_record_many`); returns how many are done. Same guarantees as `outbox_dispatch`
    (a failing one is left to the sweep and does not stop the others), one transaction per
    consumer for the lot."""
    return outbox_events_dispatch(event_ids=event_ids, consumers=CONSUMERS)


@shared_task(name="ourvoice.events.outbox_sweep")
def outbox_sweep(older_than_seconds: float = 10.0) -> int:
    """Re-dispatch events left behind (broker down, worker killed); returns how many."""
    ids = outbox_pending_ids(older_than_seconds=older_than_seconds)
    for event_id in ids:
        outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS)
    if ids:
        logger.info("outbox sweep task=outbox_sweep redispatched=%s", len(ids))
    return len(ids)


def outbox_drain() -> int:
    """Dispatch every pending event in-process (tests and management commands).

    Events recorded by consumers along the way are dispatched too. An event whose consumer
    fails is tried once per call and then left to the sweep; it does not stop the others.
    Returns how many events were completed.
    """
    total = 0
    failed: set[int] = set()
    while True:
        ids = [
            i
            for i in outbox_pending_ids(older_than_seconds=-1, limit=500 + len(failed))
            if i not in failed
        ]
        if not ids:
            return total
        for event_id in ids:
            if outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS):
                total += 1
            else:
                failed.add(event_id)
