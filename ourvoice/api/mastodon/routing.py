"""Route helper: every Mastodon route answers with and without a trailing slash."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, re_path


def api(route: str, view: Any, name: str | None = None) -> URLPattern:
    """`route` is a regex body without anchors, e.g. r"api/v1/statuses/(?P<id>[^/]+)"."""
    target = view.as_view() if hasattr(view, "as_view") else view
    return re_path(rf"^{route}/?$", target, name=name)
