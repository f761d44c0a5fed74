"""Outbox consumers of moderation (routed in `ourvoice/events.py`).

Incoming federation (signed `ModerationVote`, `Undo` of one, `Flag`) arrives as events recorded
by `federation.inbound`, which never imports this package; reports filed here notify admins;
an author's deletion makes an undecided case moot.
"""

from __future__ import annotations

import logging

from moderation import services
from moderation.models import Report
from ourvoice.accounts.models import Account
from ourvoice.core.errors import ApplicationError
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import Post

logger = logging.getLogger(__name__)


def _remote_actor(event: OutboxEvent) -> Account | None:
    actor_id = event.payload.get("actor_id")
    actor = Account.objects.filter(pk=actor_id).exclude(domain="").first() if actor_id else None
    if actor is None and event.payload.get("actor"):
        actor = Account.objects.filter(uri=event.payload["actor"]).exclude(domain="").first()
    return actor


def on_vote_received(event: OutboxEvent) -> None:
    """Apply a remote `ModerationVote` (refusals are logged and leave no row)."""
    p = event.payload
    voter = _remote_actor(event)
    post = Post.objects.filter(uri=p.get("object", ""), local=True).first()
    if voter is None or post is None:
        logger.info(
            "remote vote ignored activity_id=%s: unknown voter or post", p.get("activity_id")
        )
        return
    try:
        services.vote_receive_remote(
            voter=voter,
            post=post,
            verdict=p.get("verdict", ""),
            uri=p.get("activity_id", ""),
            reason_code=p.get("reason_code", "other"),
            comment=p.get("comment", ""),
            content_version=p.get("object_version", ""),
        )
    except ApplicationError as exc:
        logger.info(
            "remote vote refused activity_id=%s voter=%s reason=%s",
            p.get("activity_id"),
            voter.uri,
            exc.message,
        )


def on_vote_undo_received(event: OutboxEvent) -> None:
    """Apply an `Undo{ModerationVote}` by the vote's own actor."""
    voter = _remote_actor(event)
    if voter is not None:
        services.vote_undo_remote(voter=voter, vote_uri=event.payload.get("vote_uri", ""))


def on_report_received(event: OutboxEvent) -> None:
    """A `Flag` from another server: admin report + one domain-level vote per named post."""
    actor = _remote_actor(event)
    if actor is None:
        return
    services.report_receive_remote(
        actor=actor,
        object_uris=event.payload.get("object_uris", []),
        content=event.payload.get("content", ""),
        activity_id=event.payload.get("activity_id", ""),
    )


def on_report_created(event: OutboxEvent) -> None:
    """Tell admins about a new report (`admin.report` notification)."""
    report = Report.objects.select_related("reporter").filter(pk=event.payload.get("report_id"))
    found = report.first()
    if found is not None:
        services.report_notify_admins(report=found)


def on_post_deleted(event: OutboxEvent) -> None:
    """The author deleted a post under review: its case becomes moot."""
    post = Post.objects.filter(pk=event.payload.get("post_id")).first()
    if post is not None:
        services.case_mark_moot(post=post)
