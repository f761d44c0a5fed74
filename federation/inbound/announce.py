"""Announce: a remote actor boosts a post (federation.md §4 and §5).

The boosted object is looked up by id; an unknown remote one is fetched from its origin and
imported first. An embedded object is used as is only when it has the announcer's origin (a
server vouches for its own objects); a third party's embedded copy is only a hint and is
re-fetched. A FEP-1b12 Group (Lemmy) wraps activities, `Announce{Create{Page}}`: only the
inner object's id is used, fetched from its origin, and the inner activity is never trusted.
Authors of boosted objects pass the domain policy too (Mastodon CVE-2026-23961).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.inbound.note import note_import
from federation.jsonld import as_list, first_id, is_public, same_origin
from ourvoice.accounts.models import Account
from ourvoice.core.errors import ApplicationError
from ourvoice.interactions.models import Repost
from ourvoice.interactions.services import repost_create
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import post_get_by_uri


def _boost_visibility(activity: Mapping[str, Any]) -> str:
    if is_public(activity.get("to")):
        return Visibility.PUBLIC
    if is_public(activity.get("cc")):
        return Visibility.UNLISTED
    return Visibility.PRIVATE


def _target(activity: Mapping[str, Any], actor: Account) -> tuple[str, Mapping[str, Any] | None]:
    """(id of the boosted object, a copy we may trust or None)."""
    objects = as_list(activity.get("object"))
    if len(objects) != 1:
        raise Reject("an Announce carries exactly one object")
    obj = objects[0]
    if common.types_of(obj) & common.ACTIVITY_TYPES:
        # FEP-1b12: the Group relays an activity. Boost what it created, fetched by id.
        if not common.types_of(obj) & {"Create"}:
            raise Ignore(f"Announce of {sorted(common.types_of(obj))} is not applied")
        inner_id = first_id(obj.get("object"))
        if not inner_id:
            raise Reject("an announced Create without an object id")
        return inner_id, None
    object_id = first_id(obj)
    if not object_id:
        raise Reject("an Announce without an object id")
    trusted = obj if isinstance(obj, Mapping) and same_origin(object_id, actor.uri) else None
    return object_id, trusted


def _post_for(object_id: str, trusted: Mapping[str, Any] | None) -> Post:
    """The boosted post: stored, or imported from the trusted copy or a fetch by id."""
    post = post_get_by_uri(uri=object_id)
    if post is not None:
        return post
    if common.is_local_uri(object_id):
        raise Ignore("Announce of an unknown local post")
    if trusted is not None:
        return note_import(dict(trusted))
    document = common.object_get(object_id)
    if "Create" in common.types_of(document):
        # A bare id may name a Group's relayed Create: boost its object, fetched by id.
        inner_id = first_id(document.get("object"))
        if not inner_id:
            raise Reject("an announced Create without an object id")
        post = post_get_by_uri(uri=inner_id)
        if post is not None:
            return post
        document = common.object_get(inner_id)
    return note_import(document, fetched_by_id=True)


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Record the boost (idempotent on the Announce id and on (actor, post))."""
    if Repost.objects.filter(uri=activity_id).exists():
        return
    object_id, trusted = _target(activity, actor)
    post = _post_for(object_id, trusted)
    if post.state != Post.State.ACTIVE:
        raise Ignore("Announce of a deleted post")
    common.author_check_allowed(post.author)
    try:
        repost_create(
            account=actor, post=post, uri=activity_id, visibility=_boost_visibility(activity)
        )
    except ApplicationError as exc:  # not boostable, not visible, blocked...
        raise Ignore(f"boost refused: {exc.message}") from exc
