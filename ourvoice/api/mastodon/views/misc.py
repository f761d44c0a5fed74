"""Small endpoints clients call at startup: emojis, filters, announcements, trends, tags,
suggestions, push subscription, conversations and scheduled statuses.

Where OUR Voice has the data (trends, tags, suggestions) the answers are real; where a feature
does not exist yet the answer is what Mastodon gives a user who has none of it (`[]`, or 404
for the push subscription), never a 500 (mastodon-api.md §2.4).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.accounts.selectors import accounts_suggested
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import render_account, render_posts
from ourvoice.api.mastodon.errors import ApiError
from ourvoice.api.mastodon.params import Params
from ourvoice.core.urls import hashtag_url
from ourvoice.posts.models import Hashtag
from ourvoice.posts.selectors import (
    hashtag_get,
    hashtags_history,
    hashtags_trending,
    posts_trending,
)

#: Days of history in a Tag entity, and the window trending hashtags are counted over.
TAG_HISTORY_DAYS = 7
#: Posts count as trending for this many days.
TRENDING_POSTS_DAYS = 2


# --- Shared renderers and helpers ---------------------------------------------------------------


def render_tags(tags: Sequence[Hashtag]) -> list[dict[str, Any]]:
    """Tag entities with their 7-day `history` (one query for the whole list).

    `following` is always false: following hashtags is not supported yet.
    """
    history = hashtags_history(hashtag_ids=[t.pk for t in tags], days=TAG_HISTORY_DAYS)
    return [
        {
            "id": str(tag.id),
            "name": tag.name,
            "url": hashtag_url(tag.name),
            "history": [
                {
                    "day": str(calendar.timegm(h.day.timetuple())),
                    "uses": str(h.uses),
                    "accounts": str(h.accounts),
                }
                for h in history.get(tag.pk, [])
            ],
            "following": False,
        }
        for tag in tags
    ]


def offset_window(params: Params, *, default: int, maximum: int) -> tuple[int, int]:
    """(offset, limit) for offset-paginated lists; bad values fall back, never an error."""
    try:
        limit = params.int("limit", default) or default
    except Exception:
        limit = default
    try:
        offset = params.int("offset", 0) or 0
    except Exception:
        offset = 0
    return max(offset, 0), max(1, min(limit, maximum))


def offset_link(request: Request, *, offset: int, limit: int, count: int) -> str | None:
    """Mastodon's `Link` for offset lists: `next` when the page is full, `prev` after page 1."""
    base = f"{settings.OURVOICE_BASE_URL}{request.path}"
    keep = [
        (k, v) for k in request.GET if k not in ("offset", "limit") for v in request.GET.getlist(k)
    ]
    links = []
    if count and count >= limit:
        query = urlencode([*keep, ("offset", str(offset + limit)), ("limit", str(limit))])
        links.append(f'<{base}?{query}>; rel="next"')
    if offset > 0:
        query = urlencode([*keep, ("offset", str(max(offset - limit, 0))), ("limit", str(limit))])
        links.append(f'<{base}?{query}>; rel="prev"')
    return ", ".join(links) or None


def _with_link(data: list[Any], link: str | None) -> Response:
    response = Response(data)
    if link:
        response["Link"] = link
    return response


# --- Features with nothing to list yet ----------------------------------------------------------


class _EmptyList(MastodonView):
    """A list endpoint of a feature this server has no rows for yet: always `[]`."""

    def get(self, request: Request) -> Response:
        return Response([])


class CustomEmojis(_EmptyList):
    """GET /api/v1/custom_emojis: no custom emoji on this server."""

    public = {"GET"}


class Filters(_EmptyList):
    """GET /api/v1/filters and /api/v2/filters: content filters are not supported yet."""

    scopes = {"GET": "read:filters"}


class Announcements(_EmptyList):
    """GET /api/v1/announcements: the server publishes no announcements yet."""

    scopes = {"GET": "read"}


class TrendingLinks(_EmptyList):
    """GET /api/v1/trends/links: no link previews are collected, so no link trends."""

    public = {"GET"}


class Conversations(_EmptyList):
    """GET /api/v1/conversations: the conversations view of direct posts is not built yet."""

    scopes = {"GET": "read:statuses"}


class ScheduledStatuses(_EmptyList):
    """GET /api/v1/scheduled_statuses: scheduling is refused at creation, so there are none."""

    scopes = {"GET": "read:statuses"}


# --- Trends -------------------------------------------------------------------------------------


class TrendingTags(MastodonView):
    """GET /api/v1/trends/tags (and /api/v1/trends): hashtags of recent public local posts,
    most distinct authors first."""

    public = {"GET"}

    def get(self, request: Request) -> Response:
        offset, limit = offset_window(self.params, default=10, maximum=20)
        tags = hashtags_trending(days=TAG_HISTORY_DAYS, limit=limit, offset=offset)
        link = offset_link(request, offset=offset, limit=limit, count=len(tags))
        return _with_link(render_tags(tags), link)


class TrendingStatuses(MastodonView):
    """GET /api/v1/trends/statuses: public posts of the last 2 days, most liked and boosted
    first."""

    public = {"GET"}

    def get(self, request: Request) -> Response:
        offset, limit = offset_window(self.params, default=20, maximum=40)
        posts = posts_trending(
            viewer=self.viewer, days=TRENDING_POSTS_DAYS, limit=limit, offset=offset
        )
        link = offset_link(request, offset=offset, limit=limit, count=len(posts))
        return _with_link(render_posts(posts, viewer=self.viewer), link)


# --- Suggestions --------------------------------------------------------------------------------


class SuggestionsV2(MastodonView):
    """GET /api/v2/suggestions: accounts followed by people you follow.

    `sources` is `["friends_of_friends"]`; the deprecated `source` carries the value Mastodon
    4.3 maps that source to (`past_interactions`), because clients decode it as a closed enum
    of `staff`, `past_interactions` and `global`.
    """

    scopes = {"GET": "read"}

    def get(self, request: Request) -> Response:
        _, limit = offset_window(self.params, default=40, maximum=80)
        accounts = accounts_suggested(viewer=self.viewer, limit=limit)
        return Response(
            [
                {
                    "source": "past_interactions",
                    "sources": ["friends_of_friends"],
                    "account": render_account(a),
                }
                for a in accounts
            ]
        )


class SuggestionsV1(MastodonView):
    """GET /api/v1/suggestions: the same suggestions as a plain list of accounts."""

    scopes = {"GET": "read"}

    def get(self, request: Request) -> Response:
        _, limit = offset_window(self.params, default=40, maximum=80)
        accounts = accounts_suggested(viewer=self.viewer, limit=limit)
        return Response([render_account(a) for a in accounts])


# --- Tags ---------------------------------------------------------------------------------------

TAG_FOLLOW_UNSUPPORTED = "Following hashtags is not supported yet"


class TagDetail(MastodonView):
    """GET /api/v1/tags/:name: a known hashtag with its history, else 404."""

    public = {"GET"}

    def get(self, request: Request, name: str) -> Response:
        return Response(render_tags([hashtag_get(name=name)])[0])


class TagFollow(MastodonView):
    """POST /api/v1/tags/:name/follow and /unfollow.

    Following hashtags does not exist here yet, so both answer 422 with a clear message
    (an unknown hashtag is 404 first), rather than pretending to follow.
    """

    scopes = {"POST": "write:follows"}

    def post(self, request: Request, name: str) -> Response:
        hashtag_get(name=name)
        raise ApiError(422, TAG_FOLLOW_UNSUPPORTED)


# --- Web Push -----------------------------------------------------------------------------------

PUSH_UNSUPPORTED = "Web Push is not supported by this server yet"


class PushSubscription(MastodonView):
    """/api/v1/push/subscription: no Web Push yet, so there is never a subscription.

    GET and PUT answer Mastodon's 404 for "no subscription" (clients such as Elk expect it);
    DELETE of the missing subscription is `{}` as in Mastodon; creating one (POST) is refused
    with 422 and a clear message.
    """

    scopes = {"GET": "push", "POST": "push", "PUT": "push", "DELETE": "push"}

    def get(self, request: Request) -> Response:
        raise ApiError(404, "Record not found")

    def post(self, request: Request) -> Response:
        raise ApiError(422, PUSH_UNSUPPORTED)

    def put(self, request: Request) -> Response:
        raise ApiError(404, "Record not found")

    def delete(self, request: Request) -> Response:
        return Response({})
