"""Create{Note}: a remote actor publishes a post (federation.md §4 and §5).

The object must be on the actor's origin and attributed to the actor; an object given only by
id is fetched from that origin. A Create for an object already stored is a no-op; one for a
tombstoned object (its Delete came first) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.inbound.note import note_import
from federation.jsonld import as_list, same_origin
from ourvoice.accounts.models import Account


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Import the created object as a post."""
    objects = as_list(activity.get("object"))
    if len(objects) != 1:
        raise Reject("a Create carries exactly one object")
    obj = objects[0]
    fetched = False
    if isinstance(obj, str):
        if not same_origin(obj, actor.uri):
            raise Reject("the object is not on the actor's origin")
        obj = common.object_get(obj)
        fetched = True
    if not isinstance(obj, Mapping):
        raise Reject("a Create without an object")
    if not common.types_of(obj) & common.NOTE_TYPES:
        raise Ignore(f"Create of {sorted(common.types_of(obj))} is not supported")
    common.object_check_owned(obj, actor=actor)
    note_import(dict(obj), fetched_by_id=fetched, activity=activity, sender=actor)
