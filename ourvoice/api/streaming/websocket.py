"""WebSocket `/api/v1/streaming` (an ASGI application).

- The handshake is refused (HTTP 401, or 403 where the server lacks the ASGI response
  extension) for a missing or invalid token, before any frame is sent.
- The first offered `Sec-WebSocket-Protocol` is echoed back: Chrome and Node's `ws` abort a
  handshake that offered one and got none (masto.js sends the token there).
- `?stream=<name>` subscribes at once; an unknown stream there gets an error frame and a
  clean close (1008). Multiplexed clients send `{"type": "subscribe" | "unsubscribe",
  "stream": ..., "tag": ..., "list": ...}`; an unknown stream there gets only an error frame.
- Frames: `{"stream": [name, tag?], "event": ..., "payload": "<JSON string>"}`.
- Heartbeats are WebSocket pings sent by uvicorn (`--ws-ping-interval`, 20 s by default).
- A connection whose token is revoked is closed within `TOKEN_RECHECK_SECONDS`; one that
  cannot keep up (more than `QUEUE_LIMIT` frames waiting) is closed with 1013 so the client
  reconnects and reads what it missed through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson

from ourvoice.api.streaming.auth import identify, query_params, still_valid, token_from
from ourvoice.api.streaming.hub import Listener, hub_get
from ourvoice.api.streaming.streams import StreamError, subscription_resolve

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 5_000
TOKEN_RECHECK_SECONDS = 60.0

#: Queue items that close the connection: policy (1008: bad stream, revoked token) or
#: "try again later" (1013: the client fell too far behind).
_CLOSE_POLICY = object()
_CLOSE_SLOW = object()


def _error(message: str, status: int) -> str:
    return orjson.dumps({"error": message, "status": status}).decode()


async def _refuse(scope: dict[str, Any], send: Any, status: int, message: str) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        body = orjson.dumps({"error": message})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def streaming_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    identity = await identify(token_from(scope))
    if identity is None:
        await _refuse(scope, send, 401, "Invalid access token")
        return
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if scope.get("subprotocols"):
        accept["subprotocol"] = scope["subprotocols"][0]
    await send(accept)

    queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(frame: str) -> None:
        if listener.overflowed:
            return
        if queue.qsize() >= QUEUE_LIMIT:
            listener.overflowed = True
            queue.put_nowait(_CLOSE_SLOW)
            return
        queue.put_nowait(frame)

    hub = hub_get()
    listener = Listener(viewer_id=identity.account_id, sse=False, deliver=deliver)

    async def subscribe(name: str, params: dict[str, Any], *, initial: bool) -> bool:
        try:
            subscription = subscription_resolve(name, params, account_id=identity.account_id)
            if not identity.allows(subscription.scopes):
                raise StreamError("Access token does not have the required scopes", 401)
        except StreamError as exc:
            queue.put_nowait(_error(exc.message, exc.status))
            if initial:
                queue.put_nowait(_CLOSE_POLICY)
            return False
        await hub.subscribe(listener, subscription)
        return True

    async def unsubscribe(name: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(StreamError):
            wanted = subscription_resolve(name, params, account_id=identity.account_id)
            await hub.unsubscribe(listener, wanted)

    async def reader() -> None:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None and event.get("bytes") is not None:
                text = event["bytes"].decode("utf-8", "replace")
            try:
                data = orjson.loads(text or "")
            except orjson.JSONDecodeError:
                queue.put_nowait(_error("Could not parse the message", 400))
                continue
            if not isinstance(data, dict):
                continue
            params = {k: v for k, v in data.items() if k in ("tag", "list")}
            if data.get("type") == "subscribe":
                await subscribe(str(data.get("stream", "")), params, initial=False)
            elif data.get("type") == "unsubscribe":
                await unsubscribe(str(data.get("stream", "")), params)

    async def writer() -> None:
        while True:
            item = await queue.get()
            if item is _CLOSE_POLICY or item is _CLOSE_SLOW:
                code = 1008 if item is _CLOSE_POLICY else 1013
                await send({"type": "websocket.close", "code": code})
                return
            await send({"type": "websocket.send", "text": item})

    async def watchdog() -> None:
        while True:
            await asyncio.sleep(TOKEN_RECHECK_SECONDS)
            if not await still_valid(identity):
                queue.put_nowait(_error("Access token was revoked", 401))
                queue.put_nowait(_CLOSE_POLICY)
                return

    params = {k: v[0] for k, v in query_params(scope).items() if k in ("stream", "tag", "list")}
    tasks: list[asyncio.Task[None]] = []
    try:
        if params.get("stream"):
            await subscribe(params["stream"], params, initial=True)
        tasks = [
            asyncio.create_task(reader()),
            asyncio.create_task(writer()),
            asyncio.create_task(watchdog()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except OSError:
        logger.debug("websocket went away")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await hub.remove(listener)
