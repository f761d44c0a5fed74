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
from federation.inbound.note import note_import, notes_import_batch
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


def _embedded_note(activity: Mapping[str, Any], actor: Account) -> dict[str, Any] | None:
    """The embedded object of a plain `Create` that passes every origin and ownership rule,
    else None (the activity then goes through `handle`, which records why it is refused)."""
    if common.types_of(activity) != {"Create"}:
        return None
    objects = as_list(activity.get("object"))
    if len(objects) != 1 or not isinstance(objects[0], Mapping):
        return None
    obj = objects[0]
    if not common.types_of(obj) & common.NOTE_TYPES:
        return None
    try:
        common.activity_check_origin(activity=activity, actor=actor)
        common.object_check_owned(obj, actor=actor)
    except (Ignore, Reject):
        return None
    return dict(obj)


def handle_batch(entries: list[tuple[int, dict[str, Any], Account]]) -> set[int]:
    """Apply many `Create{Note}` activities with embedded objects at once (the inbox's fast
    path); returns the keys of the (key, activity, actor) entries applied. The others must go
    through `dispatch.activity_handle` one by one. Run inside `transaction.atomic()`."""
    notes = [
        (key, obj, activity, actor)
        for key, activity, actor in entries
        if (obj := _embedded_note(activity, actor)) is not None
    ]
    return notes_import_batch(notes) if notes else set()
