"""ASGI routes of the streaming API; `ourvoice/asgi.py` mounts them in front of Django."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import re_path

from ourvoice.api.streaming.sse import streaming_health, streaming_sse
from ourvoice.api.streaming.websocket import streaming_websocket


async def _not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.close", "code": 1008})


def http_routes(django_app: Any) -> URLRouter:
    """SSE and health under /api/v1/streaming; everything else goes to Django."""
    return URLRouter(
        [
            re_path(r"^api/v1/streaming/health/?$", streaming_health),
            re_path(r"^api/v1/streaming(?:/(?P<path>[a-z/]*))?/?$", streaming_sse),
            re_path(r"", django_app),
        ]
    )


def websocket_routes() -> URLRouter:
    return URLRouter(
        [
            re_path(r"^api/v1/streaming/?$", streaming_websocket),
            re_path(r"", _not_found),
        ]
    )
