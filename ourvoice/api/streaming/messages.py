"""Channel-layer messages → the frames one connection sends (pure; no database).

A message is rendered once, by the outbox consumer, as the anonymous Status entity plus what
the viewer-relative fields need (`viewer`: who liked, boosted, bookmarked or pinned it). Here
each subscriber gets exactly what `render_status(post, viewer=...)` would give it, with one
serialisation per distinct variant (most subscribers share one), so a public event reaches a
thousand connections for the cost of a few `orjson.dumps`.

Message keys: `type` ("stream.event"), `group`, `event` (update, status.update, delete,
notification, conversation), `kind` (home, notification, direct on user groups), `local`,
`media`, either `payload` (a ready JSON string) or `status` + `viewer`, and `exclude` (local
account ids that must not receive it: blocks, mutes, domain blocks).
"""

from __future__ import annotations

from typing import Any

import orjson

_FLAGS = ("favourited", "reblogged", "bookmarked", "muted", "filtered")


def _sets(message: dict[str, Any]) -> dict[str, Any]:
    cached = message.get("_sets")
    if cached is None:
        viewer = message.get("viewer") or {}
        cached = {
            "liked": frozenset(viewer.get("liked", ())),
            "reposted": frozenset(viewer.get("reposted", ())),
            "bookmarked": frozenset(viewer.get("bookmarked", ())),
            "author": viewer.get("author"),
            "booster": viewer.get("booster"),
            "pinned": bool(viewer.get("pinned")),
            "exclude": frozenset(message.get("exclude", ())),
        }
        message["_sets"] = cached
    return cached


def excluded(message: dict[str, Any], viewer_id: int | None) -> bool:
    return viewer_id is not None and viewer_id in _sets(message)["exclude"]


def _variant(message: dict[str, Any], viewer_id: int | None) -> tuple[Any, ...]:
    if viewer_id is None or message.get("status") is None:
        return ()
    s = _sets(message)
    return (
        viewer_id in s["liked"],
        viewer_id in s["reposted"],
        viewer_id in s["bookmarked"],
        viewer_id == s["author"],
        viewer_id == s["booster"],
    )


def _post_for(data: dict[str, Any], variant: tuple[Any, ...], pinned: bool) -> dict[str, Any]:
    liked, reposted, bookmarked, is_author, _ = variant
    out = dict(data)
    out["favourited"] = liked
    out["reblogged"] = reposted
    out["bookmarked"] = bookmarked
    out["muted"] = False
    if is_author:
        out["pinned"] = pinned
    out["filtered"] = []
    return out


def status_for(message: dict[str, Any], viewer_id: int | None) -> dict[str, Any]:
    """The message's status as `viewer_id` sees it through the REST API (mirrors
    `entities.render_post` / `render_repost`)."""
    status = message["status"]
    variant = _variant(message, viewer_id)
    if not variant:
        return status
    pinned = _sets(message)["pinned"]
    original = status.get("reblog")
    if original is None:
        return _post_for(status, variant, pinned)
    inner = _post_for(original, variant, pinned)
    out = dict(status)
    out["reblog"] = inner
    for key in _FLAGS:
        out[key] = inner[key]
    if variant[4]:
        out["pinned"] = False
    return out


def payload_for(message: dict[str, Any], viewer_id: int | None) -> str | None:
    """The `payload` string for this viewer (None for events without one)."""
    if message.get("status") is None:
        return message.get("payload")
    if message.get("event") == "conversation":
        conversation = dict(message["conversation"])
        conversation["last_status"] = status_for(message, viewer_id)
        conversation["accounts"] = [
            a for a in conversation["accounts"] if a["id"] != str(viewer_id)
        ] or conversation["accounts"]
        conversation["unread"] = str(viewer_id) != conversation.get("author_id")
        conversation.pop("author_id", None)
        return orjson.dumps(conversation).decode()
    return orjson.dumps(status_for(message, viewer_id)).decode()


def websocket_frame(stream: tuple[str, ...], event: str, payload: str | None) -> str:
    """`{"stream": [...], "event": ..., "payload": "<json string>"}` (stream is an array)."""
    frame: dict[str, Any] = {"stream": list(stream), "event": event}
    if payload is not None:
        frame["payload"] = payload
    return orjson.dumps(frame).decode()


def sse_frame(event: str, payload: str | None) -> str:
    """`event: <name>\\ndata: <payload>\\n\\n`; the space after each colon is required."""
    return f"event: {event}\ndata: {payload if payload is not None else 'undefined'}\n\n"


def frame_for(
    message: dict[str, Any], *, viewer_id: int | None, stream: tuple[str, ...], sse: bool
) -> str:
    """The frame text for one subscriber, memoised per (format, stream, variant) on the
    message so that subscribers seeing the same thing share one serialisation."""
    memo = message.setdefault("_memo", {})
    variant = _variant(message, viewer_id)
    if message.get("event") == "conversation":
        variant = (*variant, viewer_id)
    key = (sse, stream, variant)
    frame = memo.get(key)
    if frame is None:
        payload = payload_for(message, viewer_id)
        event = message["event"]
        frame = sse_frame(event, payload) if sse else websocket_frame(stream, event, payload)
        memo[key] = frame
    return frame
