"""Move: a remote account moved to a new one (federation.md §4, "Move").

`{actor: old, object: old, target: new}`. Valid only if the new account's document, fetched
from its origin, lists the old id in `alsoKnownAs`. Local followers of the old account then
follow the new one (a Follow goes out; a locked target leaves it pending) and stop following
the old one, as Mastodon's MoveWorker does. At most one Move per account per day is applied.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import first_id, ids_of
from ourvoice.accounts.models import Account, Follow
from ourvoice.accounts.services import follow_create, follow_delete
from ourvoice.core.errors import ApplicationError

#: Seconds before another Move of the same account is applied.
MOVE_INTERVAL = 24 * 3600


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Move the local followers of `actor` to the account named by `target`."""
    if first_id(activity.get("object")) != actor.uri:
        raise Reject("an account can only move itself")
    target_uri = first_id(activity.get("target"))
    if not target_uri or target_uri == actor.uri:
        raise Reject("a Move without a new account")
    if common.is_local_uri(target_uri):
        raise Ignore("moves to local accounts are not supported yet")
    document = common.object_get(target_uri)
    if actor.uri not in ids_of(document.get("alsoKnownAs")):
        raise Reject("the new account does not list the old one in alsoKnownAs")
    new = common.actor_get(target_uri, refresh=True)
    common.author_check_allowed(new)
    if not cache.add(f"ov:move:{actor.pk}", activity_id, MOVE_INTERVAL):
        raise Ignore("this account moved less than a day ago")
    followers = Follow.objects.filter(
        target=actor, state=Follow.State.ACCEPTED, follower__domain=""
    ).select_related("follower")
    for follow in followers:
        try:
            follow_create(follower=follow.follower, target=new)
        except ApplicationError:  # blocked either way, suspended...
            continue
        follow_delete(follower=follow.follower, target=actor)
