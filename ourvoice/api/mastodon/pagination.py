"""Mastodon cursor pagination: `max_id`, `since_id`, `min_id`, clamped `limit`, `Link` header."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from django.conf import settings

from ourvoice.api.mastodon.params import Params
from ourvoice.interactions.selectors import Page, window

__all__ = ["link_header", "page_from", "window"]

_CURSOR_KEYS = ("max_id", "since_id", "min_id", "limit", "access_token")


def _cursor(params: Params, name: str) -> int | None:
    value = params.str(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # Mastodon ignores cursors it cannot parse


def page_from(params: Params, *, default: int = 20, maximum: int = 40) -> Page:
    """The page the request asks for; `limit` is clamped to [1, maximum], never an error."""
    try:
        limit = params.int("limit", default) or default
    except Exception:
        limit = default
    limit = max(1, min(limit, maximum))
    return Page(
        max_id=_cursor(params, "max_id"),
        since_id=_cursor(params, "since_id"),
        min_id=_cursor(params, "min_id"),
        limit=limit,
    )


def link_header(request: object, ids: Sequence[int], page: Page) -> str | None:
    """`<…max_id=oldest>; rel="next", <…min_id=newest>; rel="prev"`, or None on an empty page."""
    if not ids:
        return None
    base = f"{settings.OURVOICE_BASE_URL}{request.path}"  # type: ignore[attr-defined]
    keep: list[tuple[str, str]] = []
    query = request.GET  # type: ignore[attr-defined]
    for key in query:
        if key in _CURSOR_KEYS:
            continue
        keep.extend((key, v) for v in query.getlist(key))
    limit = [("limit", str(page.limit))]
    newest, oldest = max(ids), min(ids)
    next_url = f"{base}?{urlencode([*keep, ('max_id', str(oldest)), *limit])}"
    prev_url = f"{base}?{urlencode([*keep, ('min_id', str(newest)), *limit])}"
    return f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
