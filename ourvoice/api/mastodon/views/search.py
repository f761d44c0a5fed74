"""GET /api/v2/search: accounts, statuses and hashtags (always all three keys).

Mirrors Mastodon's SearchService: a URL query looks up that exact account or status; any
other query matches accounts by username or display name (an exact `user@domain` first),
hashtags by prefix and, for a signed-in viewer only, the text of posts the viewer may read.
Anonymous callers get accounts and hashtags, and may neither paginate nor resolve.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from federation import services as federation_services
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_find_by_url, account_get_by_acct, accounts_search
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import render_account, render_posts
from ourvoice.api.mastodon.errors import ApiError
from ourvoice.api.mastodon.views.misc import offset_window, render_tags
from ourvoice.core.errors import NotFound
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import (
    hashtags_search,
    post_find_by_url,
    post_get_visible_to,
    posts_search,
)

TYPES = ("accounts", "statuses", "hashtags")
DEFAULT_LIMIT = 20
MAX_LIMIT = 40


def _resolve_remote(query: str) -> Account | Post | None:
    """Fetch the unknown remote account (`user@domain`) or object (URL) that `query` names.

    WebFinger plus an actor fetch for an acct, a signed GET of the object for a URL (a post,
    else an actor), both through federation's guarded fetcher, storing what they find.
    """
    if _is_url(query):
        return federation_services.post_resolve(query) or federation_services.account_resolve(query)
    return federation_services.account_resolve(query)


def _id_param(value: str) -> int | None:
    """A cursor id, or None when absent or not a number (Mastodon ignores such cursors)."""
    return int(value) if value.isdigit() else None


def _is_url(query: str) -> bool:
    return query.startswith(("https://", "http://")) and " " not in query


def _is_acct(query: str) -> bool:
    """`user@domain` or `@user@domain`: an account address with a domain."""
    username, _, domain = query.removeprefix("@").partition("@")
    return bool(username and domain) and " " not in query


class SearchV2(MastodonView):
    scopes = {"GET": "read:search"}
    public = {"GET"}

    def get(self, request: Request) -> Response:
        p = self.params
        query = p.str("q").strip()
        if not query:
            raise ApiError(400, "param is missing or the value is empty: q")
        offset, limit = offset_window(p, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
        resolve = p.bool("resolve")
        if self.viewer is None and p.str("offset"):
            raise ApiError(401, "Search queries pagination is not supported without authentication")
        if self.viewer is None and resolve:
            raise ApiError(
                401,
                "Search queries that resolve remote resources are not supported without "
                "authentication",
            )
        kind = p.str("type")
        wanted = set(TYPES) if not kind else {kind} & set(TYPES)
        accounts: list[Account] = []
        posts: list[Post] = []
        tags: list[Any] = []
        if _is_url(query):
            accounts, posts = self._by_url(query, wanted, offset, resolve)
        else:
            if "accounts" in wanted:
                accounts = self._accounts(query, limit, offset, resolve)
            if "statuses" in wanted and self.viewer is not None:
                posts = self._statuses(query, limit, offset)
            if "hashtags" in wanted:
                tags = hashtags_search(query=query, limit=limit, offset=offset)
        return Response(
            {
                "accounts": [render_account(a) for a in accounts],
                "statuses": render_posts(posts, viewer=self.viewer),
                "hashtags": render_tags(tags),
            }
        )

    def _by_url(
        self, url: str, wanted: set[str], offset: int, resolve: bool
    ) -> tuple[list[Account], list[Post]]:
        """The account or status stored under this exact URL (uri or web page)."""
        if offset > 0:  # a URL names one resource: there is no second page
            return [], []
        account = account_find_by_url(viewer=self.viewer, url=url)
        post = post_find_by_url(viewer=self.viewer, url=url) if self.viewer else None
        if account is None and post is None and resolve:
            found = _resolve_remote(url)
            if isinstance(found, Account):
                account = found
            elif isinstance(found, Post):
                post = self._readable(found)
        accounts = [account] if account is not None and "accounts" in wanted else []
        posts = [post] if post is not None and "statuses" in wanted else []
        return accounts, posts

    def _accounts(self, query: str, limit: int, offset: int, resolve: bool) -> list[Account]:
        found = accounts_search(
            viewer=self.viewer,
            query=query,
            limit=limit,
            offset=offset,
            following=self.params.bool("following"),
        )
        if resolve and offset == 0 and _is_acct(query):
            try:
                account_get_by_acct(acct=query)
            except NotFound:
                remote = _resolve_remote(query)
                if isinstance(remote, Account) and remote.pk not in {a.pk for a in found}:
                    found = [remote, *found][:limit]
        return found

    def _statuses(self, query: str, limit: int, offset: int) -> list[Post]:
        account_id = self.params.str("account_id")
        if account_id and not account_id.isdigit():
            return []
        return posts_search(
            viewer=self.viewer,
            query=query,
            limit=limit,
            offset=offset,
            account_id=int(account_id) if account_id else None,
            max_id=_id_param(self.params.str("max_id")),
            min_id=_id_param(self.params.str("min_id")),
        )

    def _readable(self, post: Post) -> Post | None:
        try:
            return post_get_visible_to(viewer=self.viewer, post_id=post.pk)
        except NotFound:
            return None
