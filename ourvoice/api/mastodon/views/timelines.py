"""Home, public, local and hashtag timelines."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import render_entries
from ourvoice.api.mastodon.pagination import page_from
from ourvoice.interactions.selectors import timeline_home, timeline_public


class HomeTimeline(MastodonView):
    scopes = {"GET": "read:statuses"}

    def get(self, request: Request) -> Response:
        page = page_from(self.params, default=20, maximum=40)
        entries = timeline_home(viewer=self.viewer, page=page)
        return self.paginated(
            request, render_entries(entries, viewer=self.viewer), [e.id for e in entries], page
        )


class PublicTimeline(MastodonView):
    scopes = {"GET": "read:statuses"}
    public = {"GET"}

    def get(self, request: Request) -> Response:
        p = self.params
        page = page_from(p, default=20, maximum=40)
        entries = timeline_public(
            viewer=self.viewer,
            page=page,
            local=p.bool("local"),
            remote=p.bool("remote"),
            only_media=p.bool("only_media"),
        )
        return self.paginated(
            request, render_entries(entries, viewer=self.viewer), [e.id for e in entries], page
        )


class TagTimeline(MastodonView):
    scopes = {"GET": "read:statuses"}
    public = {"GET"}

    def get(self, request: Request, tag: str) -> Response:
        p = self.params
        page = page_from(p, default=20, maximum=40)
        entries = timeline_public(
            viewer=self.viewer,
            page=page,
            local=p.bool("local"),
            remote=p.bool("remote"),
            hashtag=tag,
            only_media=p.bool("only_media"),
        )
        return self.paginated(
            request, render_entries(entries, viewer=self.viewer), [e.id for e in entries], page
        )
