"""Follow: a remote actor follows a local account (federation.md §4, "Follow → Accept/Reject").

An unlocked account accepts at once; a locked one keeps the follow pending until its owner
decides. `follow.accepted` makes federation send the Accept. A repeated Follow of an accepted
follow re-sends the Accept (the peer may have lost it), as Mastodon does.
"""

from __future__ import annotations

from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore
from federation.jsonld import first_id
from ourvoice.accounts.models import Account, AccountDomainBlock, Follow
from ourvoice.accounts.services import follow_accept, follow_create, follow_reaccept
from ourvoice.core.errors import ApplicationError


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Create (or re-acknowledge) the follow of the local account named by `object`."""
    target = common.local_account_by_uri(first_id(activity.get("object")))
    if target is None or target.role != Account.Role.USER:
        raise Ignore("Follow of an unknown or system account")
    if AccountDomainBlock.objects.filter(account=target, domain=actor.domain).exists():
        raise Ignore("the target blocks the follower's domain")
    existing = Follow.objects.filter(follower=actor, target=target).first()
    try:
        if existing is not None and existing.state == Follow.State.ACCEPTED:
            follow_reaccept(follow=existing, uri=activity_id)
            return
        if existing is not None:
            # Still waiting for the owner's decision: remember the newest Follow id, so the
            # eventual Accept names the activity the peer last sent.
            Follow.objects.filter(pk=existing.pk).update(uri=activity_id)
            follow = existing
        else:
            follow = follow_create(follower=actor, target=target, uri=activity_id)
        if follow.state != Follow.State.ACCEPTED and not target.locked:
            follow_accept(follow=follow)
    except ApplicationError as exc:  # blocked, suspended...
        raise Ignore(f"follow refused: {exc.message}") from exc
