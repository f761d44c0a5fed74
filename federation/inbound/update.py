"""Update: an edited post, or a changed actor (federation.md §4).

`Update{Note}` edits a stored post of the actor when its `updated` is newer. `Update{Person}`
(or Service, Application, Group, Organization) must name the actor itself, and only triggers
a refetch of the actor document from its origin: the payload is never applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.inbound.note import note_update
from federation.jsonld import as_list, first_id, same_origin
from ourvoice.accounts.models import Account
from ourvoice.posts.selectors import post_get_by_uri


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Refresh the actor, or apply the edit of one of its posts."""
    objects = as_list(activity.get("object"))
    if len(objects) != 1:
        raise Reject("an Update carries exactly one object")
    obj = objects[0]
    object_id = first_id(obj)
    if not object_id:
        raise Reject("an Update without an object id")
    if object_id == actor.uri or common.types_of(obj) & common.ACTOR_TYPES:
        if object_id != actor.uri:
            raise Reject("an actor can only update itself")
        common.actor_get(actor.uri, refresh=True)
        return
    if not same_origin(object_id, actor.uri):
        raise Reject("the object is not on the actor's origin")
    if isinstance(obj, str):
        obj = common.object_get(obj)
    if not isinstance(obj, Mapping) or not common.types_of(obj) & common.NOTE_TYPES:
        raise Ignore(f"Update of {sorted(common.types_of(obj))} is not supported")
    common.object_check_owned(obj, actor=actor)
    post = post_get_by_uri(uri=object_id)
    if post is None or post.author_id != actor.pk:
        raise Ignore("Update of an unknown post")
    note_update(dict(obj), post=post)
