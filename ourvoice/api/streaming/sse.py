"""Server-sent events: `GET /api/v1/streaming/<stream>` and `/api/v1/streaming/health`
(ASGI applications).

`text/event-stream` with `Cache-Control: no-store`; the body opens with the comment `:)` and
sends `:thump` every `OURVOICE_STREAMING_HEARTBEAT` seconds (Mastodon: 15; Mastodon.py reads
with a 300 s timeout). Events are `event: <name>\\ndata: <payload>\\n\\n`. A missing or invalid
token is 401, an unknown stream 400 `{"error": "Unknown channel requested"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

import orjson
from django.conf import settings

from ourvoice.api.streaming.auth import identify, query_params, still_valid, token_from
from ourvoice.api.streaming.hub import Listener, hub_get
from ourvoice.api.streaming.streams import SSE_PATHS, StreamError, subscription_resolve
from ourvoice.api.streaming.websocket import QUEUE_LIMIT, TOKEN_RECHECK_SECONDS

MAX_BODY = 8192
_CORS = [(b"access-control-allow-origin", b"*")]


async def _respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"cache-control", b"no-store"), *_CORS],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _error(send: Any, status: int, message: str) -> None:
    await _respond(send, status, orjson.dumps({"error": message}), b"application/json")


async def _read_body(receive: Any, limit: int = MAX_BODY) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body") or len(body) > limit:
            return body[:limit]


async def streaming_health(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """`GET /api/v1/streaming/health` → `OK` (Mastodon.py accepts `OK` or `success`)."""
    await _respond(send, 200, b"OK", b"text/plain; charset=utf-8")


async def streaming_sse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope.get("method") not in ("GET", "HEAD"):
        await _error(send, 405, "Method not allowed")
        return
    path = scope["url_route"]["kwargs"].get("path") or ""
    params = {k: v[0] for k, v in query_params(scope).items()}
    # Mastodon.py sends the parameters (`tag`, `list`) as a form body of its GET.
    body = await _read_body(receive)
    if body:
        form = parse_qs(body.decode("latin-1"), keep_blank_values=True)
        for key in ("tag", "list", "stream"):
            if key in form and key not in params:
                params[key] = form[key][0]
    name = SSE_PATHS.get(path.strip("/")) if path.strip("/") else params.get("stream", "")
    identity = await identify(token_from(scope))
    if identity is None:
        await _error(send, 401, "Error: Missing access token")
        return
    try:
        if not name:
            raise StreamError("Unknown channel requested")
        subscription = subscription_resolve(name, params, account_id=identity.account_id)
        if not identity.allows(subscription.scopes):
            raise StreamError("Access token does not have the required scopes", 401)
    except StreamError as exc:
        message = "Unknown channel requested" if exc.status == 400 else exc.message
        await _error(send, exc.status, message)
        return

    queue: asyncio.Queue[str | None] = asyncio.Queue()
    listener = Listener(viewer_id=identity.account_id, sse=True, deliver=queue.put_nowait)

    def deliver(frame: str) -> None:
        if listener.overflowed:
            return
        if queue.qsize() >= QUEUE_LIMIT:
            listener.overflowed = True
            queue.put_nowait(None)
            return
        queue.put_nowait(frame)

    listener.deliver = deliver
    hub = hub_get()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"),
                *_CORS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b":)\n", "more_body": True})
    await hub.subscribe(listener, subscription)

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def writer() -> None:
        heartbeat = settings.OURVOICE_STREAMING_HEARTBEAT
        loop = asyncio.get_running_loop()
        recheck_at = loop.time() + TOKEN_RECHECK_SECONDS
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), timeout=heartbeat)
            except TimeoutError:
                frame = ":thump\n"
            if frame is None:
                return
            await send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
            if loop.time() >= recheck_at:
                recheck_at = loop.time() + TOKEN_RECHECK_SECONDS
                if not await still_valid(identity):
                    return

    tasks = [asyncio.create_task(disconnected()), asyncio.create_task(writer())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await hub.remove(listener)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
