"""Undo of a Follow, Like (or EmojiReact), Announce, Block or ModerationVote (federation.md §4).

The undone activity is embedded or named by id. It must be the Undo actor's own: an embedded
activity with another `actor` is ignored, and rows are only ever looked up among the actor's
own follows, likes, boosts and blocks (by the activity id, else by the embedded object).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.inbound import common, moderation_vote
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import as_list, first_id
from ourvoice.accounts.models import Account, Block, Follow
from ourvoice.accounts.services import block_delete, follow_delete
from ourvoice.interactions.models import Like, Repost
from ourvoice.interactions.services import like_delete, repost_delete
from ourvoice.posts.selectors import post_get_by_uri

_LIKE_TYPES = frozenset({"Like", "EmojiReact", "EmojiReaction"})


def _undo_follow(actor: Account, inner_id: str | None, target_uri: str | None) -> bool:
    follow = Follow.objects.filter(follower=actor, uri=inner_id).first() if inner_id else None
    target = follow.target if follow else common.local_account_by_uri(target_uri)
    return target is not None and follow_delete(follower=actor, target=target)


def _undo_like(actor: Account, inner_id: str | None, object_uri: str | None) -> bool:
    like = Like.objects.filter(account=actor, uri=inner_id).first() if inner_id else None
    post = like.post if like else (post_get_by_uri(uri=object_uri) if object_uri else None)
    return post is not None and like_delete(account=actor, post=post)


def _undo_announce(actor: Account, inner_id: str | None, object_uri: str | None) -> bool:
    repost = Repost.objects.filter(account=actor, uri=inner_id).first() if inner_id else None
    post = repost.post if repost else (post_get_by_uri(uri=object_uri) if object_uri else None)
    return post is not None and repost_delete(account=actor, post=post)


def _undo_block(actor: Account, inner_id: str | None, target_uri: str | None) -> bool:
    block = Block.objects.filter(account=actor, uri=inner_id).first() if inner_id else None
    target = block.target if block else common.local_account_by_uri(target_uri)
    return target is not None and block_delete(account=actor, target=target)


def _type_by_id(actor: Account, inner_id: str) -> str | None:
    """The type of one of the actor's activities we stored under `inner_id`."""
    for kind, exists in (
        ("Follow", Follow.objects.filter(follower=actor, uri=inner_id).exists),
        ("Like", Like.objects.filter(account=actor, uri=inner_id).exists),
        ("Announce", Repost.objects.filter(account=actor, uri=inner_id).exists),
        ("Block", Block.objects.filter(account=actor, uri=inner_id).exists),
        (
            "ModerationVote",
            lambda: moderation_vote.vote_was_received(actor=actor, vote_uri=inner_id),
        ),
    ):
        if exists():
            return kind
    return None


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Undo the actor's earlier activity; Ignore when there is nothing of theirs to undo."""
    objects = as_list(activity.get("object"))
    if len(objects) != 1:
        raise Reject("an Undo carries exactly one object")
    inner = objects[0]
    inner_id = first_id(inner)
    target_uri: str | None = None
    if isinstance(inner, Mapping) and common.types_of(inner) & moderation_vote.VOTE_TYPES:
        moderation_vote.undo_record(actor=actor, activity_id=activity_id, inner=inner)
        return
    if isinstance(inner, Mapping):
        if first_id(inner.get("actor")) not in (None, actor.uri):
            raise Ignore("Undo of another actor's activity")
        types = common.types_of(inner)
        target_uri = first_id(inner.get("object"))
    elif inner_id:
        found = _type_by_id(actor, inner_id)
        types = {found} if found else set()
    else:
        raise Reject("an Undo without an object")
    if types & moderation_vote.VOTE_TYPES:
        moderation_vote.undo_record(actor=actor, activity_id=activity_id, inner=inner_id)
        return
    if "Follow" in types:
        done = _undo_follow(actor, inner_id, target_uri)
    elif types & _LIKE_TYPES:
        done = _undo_like(actor, inner_id, target_uri)
    elif "Announce" in types:
        done = _undo_announce(actor, inner_id, target_uri)
    elif "Block" in types:
        done = _undo_block(actor, inner_id, target_uri)
    else:
        raise Ignore(f"Undo of {sorted(types) or 'an unknown activity'} is not supported")
    if not done:
        raise Ignore("nothing to undo")
