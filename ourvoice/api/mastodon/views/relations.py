"""Relations between accounts and the viewer's own lists.

Relationship actions (follow, unfollow, block, mute, note, remove_from_followers), the
relationships lookup, follow requests, blocks, mutes, domain blocks, favourites and bookmarks.
Every list is paginated by the id of its own row (Follow, Block, Mute, Like...), so clients can
only page through it by following the `Link` header.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.accounts import services as accounts
from ourvoice.accounts.models import Account, Follow
from ourvoice.accounts.selectors import (
    account_get,
    accounts_get_many,
    blocks_of_account,
    domain_blocks_of_account,
    follow_get,
    follow_request_get,
    follow_requests_for,
    mutes_of_account,
    relationships_for,
)
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import iso, render_account, render_posts, render_relationship
from ourvoice.api.mastodon.pagination import page_from, window
from ourvoice.core.errors import Invalid
from ourvoice.interactions.selectors import bookmarks_of_account, likes_of_account

#: Longest mute `duration` accepted (100 years, in seconds); beyond it dates overflow.
MAX_MUTE_SECONDS = 100 * 365 * 24 * 3600
#: Mastodon accepts up to 2000 characters in a personal note.
MAX_NOTE = 2000


def _relationship(viewer: Account, account_id: int) -> dict[str, Any]:
    rel = relationships_for(viewer=viewer, account_ids=[account_id])[account_id]
    return render_relationship(account_id, rel)


class Relationships(MastodonView):
    """GET /api/v1/accounts/relationships?id[]= (`id=` too), in the order asked for.

    Unknown ids are left out, and suspended accounts too unless `with_suspended`.
    """

    scopes = {"GET": "read:follows"}

    def get(self, request: Request) -> Response:
        p = self.params
        ids = p.str_list("id")[:100]
        found = accounts_get_many(account_ids=ids, include_suspended=p.bool("with_suspended"))
        rels = relationships_for(viewer=self.viewer, account_ids=list(found))
        order = list(dict.fromkeys(int(i) for i in ids if i.isdigit() and int(i) in rels))
        return Response([render_relationship(pk, rels[pk]) for pk in order])


class AccountAction(MastodonView):
    """POST /api/v1/accounts/:id/<action> → the Relationship after the action.

    Following a locked or remote account leaves a request (`requested: true`); following
    yourself is 422; an unknown or suspended account is 404; a blocked one is 403.
    """

    action: str = ""
    _scope_by_action = {
        "follow": "write:follows",
        "unfollow": "write:follows",
        "remove_from_followers": "write:follows",
        "block": "write:blocks",
        "unblock": "write:blocks",
        "mute": "write:mutes",
        "unmute": "write:mutes",
        "note": "write:accounts",
    }

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.scopes = {"POST": self._scope_by_action[self.action]}
        super().initial(request, *args, **kwargs)

    def post(self, request: Request, id: str) -> Response:
        viewer: Account = self.viewer
        target = account_get(account_id=id)
        getattr(self, f"_{self.action}")(viewer, target)
        return Response(_relationship(viewer, target.pk))

    def _follow(self, viewer: Account, target: Account) -> None:
        p = self.params
        current = follow_get(follower=viewer, target=target)
        # Like Mastodon, a repeated follow changes only the options it names.
        accounts.follow_create(
            follower=viewer,
            target=target,
            show_reblogs=p.bool("reblogs", current.show_reblogs if current else True),
            notify=p.bool("notify", current.notify if current else False),
        )

    def _unfollow(self, viewer: Account, target: Account) -> None:
        accounts.follow_delete(follower=viewer, target=target)

    def _remove_from_followers(self, viewer: Account, target: Account) -> None:
        follow = follow_get(follower=target, target=viewer)
        if follow is not None and follow.state == Follow.State.ACCEPTED:
            accounts.follow_reject(follow=follow)

    def _block(self, viewer: Account, target: Account) -> None:
        accounts.block_create(account=viewer, target=target)

    def _unblock(self, viewer: Account, target: Account) -> None:
        accounts.block_delete(account=viewer, target=target)

    def _mute(self, viewer: Account, target: Account) -> None:
        p = self.params
        notifications = p.bool("notifications", True)
        duration = p.int("duration", 0) or 0
        if duration < 0 or duration > MAX_MUTE_SECONDS:
            raise Invalid("duration must be a number of seconds (0 for no end)")
        expires_at = timezone.now() + timedelta(seconds=duration) if duration else None
        accounts.mute_create(
            account=viewer, target=target, notifications=notifications, expires_at=expires_at
        )

    def _unmute(self, viewer: Account, target: Account) -> None:
        accounts.mute_delete(account=viewer, target=target)

    def _note(self, viewer: Account, target: Account) -> None:
        # Personal notes are not stored yet: the comment is checked and dropped, and the
        # relationship keeps `note: ""`.
        self.params.str("comment", max_length=MAX_NOTE)


class FollowRequests(MastodonView):
    """GET /api/v1/follow_requests: accounts waiting for the viewer's approval."""

    scopes = {"GET": "read:follows"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=40, maximum=80)
        rows = window(follow_requests_for(account=self.viewer), page)
        data = [render_account(row.follower) for row in rows]
        return self.paginated(request, data, [row.id for row in rows], page)


class FollowRequestAction(MastodonView):
    """POST /api/v1/follow_requests/:account_id/authorize|reject → Relationship (404: none)."""

    scopes = {"POST": "write:follows"}
    action: str = "authorize"

    def post(self, request: Request, id: str) -> Response:
        follow = follow_request_get(account=self.viewer, follower_id=id)
        if self.action == "authorize":
            accounts.follow_accept(follow=follow)
        else:
            accounts.follow_reject(follow=follow)
        return Response(_relationship(self.viewer, follow.follower_id))


class Blocks(MastodonView):
    """GET /api/v1/blocks: accounts the viewer blocks."""

    scopes = {"GET": "read:blocks"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=40, maximum=80)
        rows = window(blocks_of_account(account=self.viewer), page)
        data = [render_account(row.target) for row in rows]
        return self.paginated(request, data, [row.id for row in rows], page)


class Mutes(MastodonView):
    """GET /api/v1/mutes: accounts the viewer mutes, each with `mute_expires_at`."""

    scopes = {"GET": "read:mutes"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=40, maximum=80)
        rows = window(mutes_of_account(account=self.viewer), page)
        data = [
            {**render_account(row.target), "mute_expires_at": iso(row.expires_at)} for row in rows
        ]
        return self.paginated(request, data, [row.id for row in rows], page)


class DomainBlocks(MastodonView):
    """GET (strings), POST `domain` and DELETE `domain` on /api/v1/domain_blocks."""

    scopes = {"GET": "read:blocks", "POST": "write:blocks", "DELETE": "write:blocks"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=100, maximum=200)
        rows = window(domain_blocks_of_account(account=self.viewer), page)
        return self.paginated(request, [row.domain for row in rows], [r.id for r in rows], page)

    def post(self, request: Request) -> Response:
        domain = self.params.str("domain", max_length=2048)
        accounts.account_domain_block_create(account=self.viewer, domain=domain)
        return Response({})

    def delete(self, request: Request) -> Response:
        domain = self.params.str("domain", max_length=2048)
        accounts.account_domain_block_delete(account=self.viewer, domain=domain)
        return Response({})


class Favourites(MastodonView):
    """GET /api/v1/favourites: posts the viewer favourited and may still read."""

    scopes = {"GET": "read:favourites"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=20, maximum=40)
        rows = window(likes_of_account(account=self.viewer), page)
        data = render_posts([row.post for row in rows], viewer=self.viewer)
        return self.paginated(request, data, [row.id for row in rows], page)


class Bookmarks(MastodonView):
    """GET /api/v1/bookmarks: posts the viewer bookmarked and may still read."""

    scopes = {"GET": "read:bookmarks"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=20, maximum=40)
        rows = window(bookmarks_of_account(account=self.viewer), page)
        data = render_posts([row.post for row in rows], viewer=self.viewer)
        return self.paginated(request, data, [row.id for row in rows], page)
