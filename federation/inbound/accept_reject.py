"""Accept / Reject of a Follow one of our accounts sent (federation.md §4).

The object is the original Follow, embedded or by id. It is matched to our follow by its id,
or by (follower = our account in the embedded Follow's `actor`, target = the sender) for
servers that answer with a fresh or missing Follow id. Only the followed actor can answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import first_id
from ourvoice.accounts.models import Account, Follow
from ourvoice.accounts.services import follow_accept, follow_reject


def _follow_for(activity: Mapping[str, Any], actor: Account) -> Follow:
    obj = activity.get("object")
    types = common.types_of(obj)
    if types and "Follow" not in types:
        raise Ignore(f"Accept/Reject of {sorted(types)} is not supported")
    object_id = first_id(obj)
    ours = Follow.objects.filter(follower__domain="", target=actor).select_related("follower")
    follow = ours.filter(uri=object_id).first() if object_id else None
    if follow is None and isinstance(obj, Mapping):
        embedded_target = first_id(obj.get("object"))
        if embedded_target is not None and embedded_target != actor.uri:
            raise Reject("the embedded Follow is not addressed to the sender")
        follower = common.local_account_by_uri(first_id(obj.get("actor")))
        if follower is not None:
            follow = ours.filter(follower=follower).first()
    if follow is None:
        raise Ignore("no follow of ours matches")
    return follow


def handle_accept(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """The followed remote actor accepted our follow (idempotent)."""
    follow_accept(follow=_follow_for(activity, actor))


def handle_reject(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """The followed remote actor refused (or revoked) our follow: the row goes."""
    follow_reject(follow=_follow_for(activity, actor))
