"""Like, Pleroma/Akkoma `EmojiReact` and Misskey reactions, all stored as favourites.

Misskey sends its reactions as `Like` with `_misskey_reaction`/`content` (federation.md §4);
the emoji itself is not modelled. Only likes of posts we hold count; `Dislike` (Lemmy) is
ignored by the dispatcher.
"""

from __future__ import annotations

from typing import Any

from federation.inbound.errors import Ignore
from federation.jsonld import first_id
from ourvoice.accounts.models import Account
from ourvoice.core.errors import ApplicationError
from ourvoice.interactions.services import like_create
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import post_get_by_uri


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Favourite the local or known post named by `object` (idempotent per actor and post)."""
    object_id = first_id(activity.get("object"))
    post = post_get_by_uri(uri=object_id) if object_id else None
    if post is None or post.state != Post.State.ACTIVE:
        raise Ignore("Like of an unknown post")
    try:
        like_create(account=actor, post=post, uri=activity_id)
    except ApplicationError as exc:  # not visible to the actor, blocked...
        raise Ignore(f"like refused: {exc.message}") from exc
