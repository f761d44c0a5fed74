"""Delete: of the actor itself, of one of its posts, or of one of its boosts (federation.md §4).

As Mastodon: `object == actor` deletes the account (here: suspends it, which also ends its
follows of local accounts); otherwise, when the object is on the actor's origin, a tombstone
is recorded (so a Create arriving later is refused) and the actor's post with that id is
marked deleted. A Delete naming the actor's Announce removes the boost. Posts of other
accounts are never touched.
"""

from __future__ import annotations

from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import first_id, same_origin
from federation.models import RemoteTombstone
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_suspend
from ourvoice.core.errors import ApplicationError
from ourvoice.interactions.models import Repost
from ourvoice.interactions.services import repost_delete
from ourvoice.posts.selectors import post_get_by_uri
from ourvoice.posts.services import post_delete_remote


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Apply the deletion the actor is entitled to make."""
    object_id = first_id(activity.get("object"))
    if not object_id:
        raise Reject("a Delete without an object id")
    if object_id == actor.uri:
        try:
            account_suspend(account=actor)
        except ApplicationError as exc:
            raise Ignore(f"actor deletion not applied: {exc.message}") from exc
        return
    if not same_origin(object_id, actor.uri):
        raise Reject("the object is not on the actor's origin")
    common.object_lock(object_id)
    post = post_get_by_uri(uri=object_id)
    if post is not None and post.author_id != actor.pk:
        raise Reject("the post belongs to someone else")
    RemoteTombstone.objects.get_or_create(uri=object_id)
    if post is not None:
        post_delete_remote(post=post)
        return
    repost = Repost.objects.filter(uri=object_id, account=actor).select_related("post").first()
    if repost is not None:
        repost_delete(account=actor, post=repost.post)
