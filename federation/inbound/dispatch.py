"""Incoming activities: the type table and the entry point `activity_handle`.

Called by `federation.processing` for each stored inbox item, after the inbox verified the
HTTP signature and that the signer is the activity's `actor`. Every activity first passes the
origin rules (`common.activity_check_origin`); the handler then parses what it needs with the
tolerant accessors and calls domain services, all in one transaction, so a rejected activity
leaves nothing behind. Unknown types raise Ignore (the inbox has answered 202 anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from federation.inbound import (
    accept_reject,
    announce,
    block,
    common,
    create,
    delete,
    flag,
    follow,
    like,
    moderation_vote,
    move,
    undo,
    update,
)
from federation.inbound.errors import Ignore, Reject
from ourvoice.accounts.models import Account

logger = logging.getLogger(__name__)

#: A verb handler: `handler(*, activity, actor, activity_id)`, run after the origin rules.
HandlerFunc = Callable[..., None]


def _not_applied(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    raise Ignore(f"{activity.get('type')} is accepted and not applied")


#: Activity type → handler. Anything else is ignored.
HANDLERS: dict[str, HandlerFunc] = {
    "Follow": follow.handle,
    "Accept": accept_reject.handle_accept,
    "Reject": accept_reject.handle_reject,
    "Undo": undo.handle,
    "Create": create.handle,
    "Update": update.handle,
    "Delete": delete.handle,
    "Like": like.handle,
    "EmojiReact": like.handle,  # Pleroma/Akkoma
    "EmojiReaction": like.handle,  # older Pleroma spelling
    "Dislike": _not_applied,  # Lemmy downvotes: nothing to map them to
    "Announce": announce.handle,
    "Block": block.handle,
    "Flag": flag.handle,
    "Move": move.handle,
    # OUR Voice's moderation votes, in every spelling of the type (moderation.md §2.2).
    **dict.fromkeys(moderation_vote.VOTE_TYPES, moderation_vote.handle),
}


def activity_handle(activity: dict[str, Any], *, actor: Account) -> None:
    """Apply one verified incoming activity sent by `actor` (a remote Account).

    Raises Ignore (Reject for broken security rules) when the activity is dropped; any other
    exception means "try again later" (a fetch timed out, the database was unavailable).
    Idempotent: replaying an activity changes nothing more.
    """
    if not isinstance(activity, dict):
        raise Reject("an activity is a JSON object")
    types = common.types_of(activity)
    handler = next((HANDLERS[t] for t in sorted(types) if t in HANDLERS), None)
    if handler is None:
        raise Ignore(f"unsupported activity type {sorted(types)}")
    try:
        with transaction.atomic():
            activity_id = common.activity_check_origin(activity=activity, actor=actor)
            handler(activity=activity, actor=actor, activity_id=activity_id)
    except Reject as exc:
        logger.warning(
            "activity rejected id=%s actor=%s reason=%s", activity.get("id"), actor.uri, exc
        )
        raise
    except Ignore as exc:
        logger.info("activity ignored id=%s actor=%s reason=%s", activity.get("id"), actor.uri, exc)
        raise
    logger.info("activity applied id=%s type=%s actor=%s", activity.get("id"), types, actor.uri)
