"""Outbox consumers that carry community moderation to other servers (moderation.md §2).

The moderation package records the events; these consumers render one activity per event and
publish it through `consumers.activity_publish` (body serialised once, one Delivery row per
inbox, signed at send time with the key of the activity's actor).

- `moderation.vote.forward` → `ModerationVote`, by (and signed with the key of) the local
  voter, to the moderation actor of the post's origin (OUR Voice peers only);
- `moderation.vote.withdraw` → `Undo{ModerationVote}`, by the voter, to the same actor;
- `moderation.flag` → one aggregated `Flag` per case (not wrapped in Create), by our
  moderation actor, to the remote author (shared inbox preferred).

The removal `Delete{Tombstone}` is `post.removed`, published by `consumers.on_post_removed`.
Votes go only to servers that advertise the moderation protocol
(`federation.moderation_peers.moderation_service`); for any other origin the event is dropped
with a log line (moderation sends that origin one aggregated Flag instead). A peer that cannot
be reached right now raises, so the outbox retries the event later.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_aware, make_aware

from federation import moderation_peers
from federation.inbound.common import is_local_uri
from federation.jsonld import host_of
from federation.outbound import audience
from federation.outbound.consumers import _local_account, activity_publish
from federation.outbound.renderers import CONTEXT, iso
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import Post

logger = logging.getLogger(__name__)

#: Mastodon truncates report comments there (moderation.md §2.5).
MAX_FLAG_CONTENT = 5_000
MAX_VOTE_CONTENT = 500


# --- Renderers (pure) ------------------------------------------------------------------------


def render_moderation_vote(
    *,
    vote_uri: str,
    voter: Account,
    post_uri: str,
    service_uri: str,
    verdict: str,
    reason_code: str,
    comment: str,
    content_version: str,
    published: str,
) -> dict[str, Any]:
    """`ModerationVote` (moderation.md §2.2): never Public, addressed to one moderation actor."""
    vote: dict[str, Any] = {
        "@context": CONTEXT,
        "id": vote_uri,
        "type": "ModerationVote",
        "actor": voter.uri,
        "object": post_uri,
        "verdict": verdict,
        "reasonCode": reason_code or "other",
        "content": (comment or "")[:MAX_VOTE_CONTENT],
        "published": published,
        "to": [service_uri],
    }
    if content_version:
        vote["objectVersion"] = content_version
    return vote


def render_moderation_vote_undo(
    *, undo_uri: str, vote_uri: str, voter: Account, post_uri: str, service_uri: str
) -> dict[str, Any]:
    """`Undo{ModerationVote}` with the vote embedded (id, type, actor, object)."""
    return {
        "@context": CONTEXT,
        "id": undo_uri,
        "type": "Undo",
        "actor": voter.uri,
        "object": {
            "id": vote_uri,
            "type": "ModerationVote",
            "actor": voter.uri,
            "object": post_uri,
        },
        "to": [service_uri],
    }


def render_moderation_flag(
    *, flag_uri: str, moderator: Account, post: Post, content: str, decision_url: str
) -> dict[str, Any]:
    """One aggregated `Flag` from our moderation actor about a remote post (moderation.md
    §2.5): `object` = [author, post], plain-text `content` ≤ 5,000 characters, `decision`."""
    flag: dict[str, Any] = {
        "@context": CONTEXT,
        "id": flag_uri,
        "type": "Flag",
        "actor": moderator.uri,
        "object": [post.author.uri, post.uri],
        "content": (content or "")[:MAX_FLAG_CONTENT],
        "to": [post.author.uri],
    }
    if decision_url:
        flag["decision"] = decision_url
    return flag


# --- Consumers -------------------------------------------------------------------------------


def _voter(event: OutboxEvent) -> Account | None:
    voter = _local_account(event.payload.get("voter_id"))
    if voter is None or voter.is_suspended:
        logger.info(
            "moderation event dropped event=%s kind=%s reason=no active local voter",
            event.pk,
            event.kind,
        )
        return None
    return voter


def _origin_service(event: OutboxEvent) -> moderation_peers.ModerationService | None:
    """The moderation actor of the voted post's origin, or None (logged) when there is none."""
    post_uri = event.payload.get("post_uri") or ""
    if not isinstance(post_uri, str) or not post_uri or is_local_uri(post_uri):
        logger.info(
            "moderation event dropped event=%s kind=%s reason=not a remote post post=%s",
            event.pk,
            event.kind,
            str(post_uri)[:200],
        )
        return None
    try:
        domain = host_of(post_uri)
    except ValueError:
        logger.info("moderation event dropped event=%s reason=bad post uri", event.pk)
        return None
    service = moderation_peers.moderation_service(domain)
    if service is None:
        logger.info(
            "moderation event dropped event=%s kind=%s reason=origin is not OUR Voice domain=%s",
            event.pk,
            event.kind,
            domain,
        )
    return service


def _published(value: object, event: OutboxEvent) -> str:
    """The vote's time as AS2 wants it (`2026-11-20T14:03:11Z`); the event's if unreadable."""
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        return iso(event.created_at)
    return iso(moment if is_aware(moment) else make_aware(moment, UTC))


def on_vote_forward(event: OutboxEvent) -> None:
    """ModerationVote by the local voter to the post's origin's moderation actor only."""
    voter = _voter(event)
    if voter is None:
        return
    service = _origin_service(event)
    if service is None:
        return
    payload = event.payload
    activity = render_moderation_vote(
        vote_uri=payload["vote_uri"],
        voter=voter,
        post_uri=payload["post_uri"],
        service_uri=service.actor_uri,
        verdict=payload["verdict"],
        reason_code=payload.get("reason_code") or "other",
        comment=payload.get("comment") or "",
        content_version=payload.get("content_version") or "",
        published=_published(payload.get("published"), event),
    )
    activity_publish(activity=activity, actor=voter, inboxes=[service.inbox])


def on_vote_withdraw(event: OutboxEvent) -> None:
    """Undo{ModerationVote} by the voter to the same moderation actor."""
    voter = _voter(event)
    if voter is None:
        return
    service = _origin_service(event)
    if service is None:
        return
    payload = event.payload
    activity = render_moderation_vote_undo(
        undo_uri=payload.get("undo_uri") or f"{payload['vote_uri']}/undo",
        vote_uri=payload["vote_uri"],
        voter=voter,
        post_uri=payload["post_uri"],
        service_uri=service.actor_uri,
    )
    activity_publish(activity=activity, actor=voter, inboxes=[service.inbox])


def on_moderation_flag(event: OutboxEvent) -> None:
    """One aggregated Flag about a remote post, from our moderation actor to its author."""
    payload = event.payload
    post = Post.objects.select_related("author").filter(pk=payload.get("post_id")).first()
    if post is None or post.local or post.author.local:
        logger.info(
            "moderation flag dropped event=%s case=%s reason=not a remote post",
            event.pk,
            payload.get("case_id"),
        )
        return
    inbox = audience.account_preferred_inbox(post.author)
    if not inbox:
        logger.info(
            "moderation flag dropped event=%s case=%s reason=author has no inbox",
            event.pk,
            payload.get("case_id"),
        )
        return
    moderator = system_actor_get(role=Account.Role.MODERATION)
    activity = render_moderation_flag(
        flag_uri=payload["flag_uri"],
        moderator=moderator,
        post=post,
        content=payload.get("content") or "",
        decision_url=payload.get("decision_url") or "",
    )
    activity_publish(activity=activity, actor=moderator, inboxes=[inbox])


#: Consumers by event kind (registered in `ourvoice.events.CONSUMERS`).
CONSUMERS_BY_KIND = {
    "moderation.vote.forward": on_vote_forward,
    "moderation.vote.withdraw": on_vote_withdraw,
    "moderation.flag": on_moderation_flag,
}
