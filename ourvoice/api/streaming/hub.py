"""One hub per streaming process: a single channel-layer channel added to the groups its
clients need, fanning every message out to the local subscribers in memory.

Mastodon's streaming server subscribes once per Redis channel and process, not once per client;
this does the same on the Channels layer. A public event costs one message per process,
whatever the number of connections, and each subscriber gets a frame memoised per variant
(`messages.frame_for`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from channels.layers import get_channel_layer

from ourvoice.api.streaming.messages import excluded, frame_for
from ourvoice.api.streaming.streams import Subscription

logger = logging.getLogger(__name__)

#: Group memberships expire in the channel layer (a day by default); re-add them this often.
GROUP_REFRESH_SECONDS = 3600.0


@dataclass(eq=False)
class Listener:
    """One open connection as the hub sees it: who it is and where its frames go."""

    viewer_id: int | None
    sse: bool
    deliver: Callable[[str], None]
    subscriptions: set[Subscription] = field(default_factory=set)
    #: Set once the connection fell too far behind; it is being closed.
    overflowed: bool = False


class Hub:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.groups: dict[str, dict[Listener, set[Subscription]]] = {}
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.received = 0

    async def _start(self) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel("ov-stream.")
            self._tasks = [
                asyncio.create_task(self._receive_loop(), name="streaming-hub-receive"),
                asyncio.create_task(self._refresh_loop(), name="streaming-hub-refresh"),
            ]

    async def subscribe(self, listener: Listener, subscription: Subscription) -> bool:
        """Add a subscription; False if the listener already had it."""
        async with self._lock:
            await self._start()
            if subscription in listener.subscriptions:
                return False
            listener.subscriptions.add(subscription)
            members = self.groups.setdefault(subscription.group, {})
            if not members:
                await self.layer.group_add(subscription.group, self.channel)
            members.setdefault(listener, set()).add(subscription)
            return True

    async def unsubscribe(self, listener: Listener, subscription: Subscription) -> None:
        async with self._lock:
            listener.subscriptions.discard(subscription)
            members = self.groups.get(subscription.group)
            if not members or listener not in members:
                return
            members[listener].discard(subscription)
            if not members[listener]:
                del members[listener]
            if not members:
                del self.groups[subscription.group]
                await self.layer.group_discard(subscription.group, self.channel)

    async def remove(self, listener: Listener) -> None:
        for subscription in list(listener.subscriptions):
            await self.unsubscribe(listener, subscription)

    def dispatch(self, message: dict[str, Any]) -> int:
        """Hand one message to every local subscriber that wants it; returns how many."""
        members = self.groups.get(message.get("group", ""))
        if not members:
            return 0
        delivered = 0
        for listener, subscriptions in list(members.items()):
            if excluded(message, listener.viewer_id):
                continue
            for subscription in subscriptions:
                if not subscription.wants(message):
                    continue
                listener.deliver(
                    frame_for(
                        message,
                        viewer_id=listener.viewer_id,
                        stream=subscription.stream,
                        sse=listener.sse,
                    )
                )
                delivered += 1
        return delivered

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis gone or restarted: wait, then re-add every group (memberships may be lost).
                logger.exception("streaming hub receive failed; retrying")
                await asyncio.sleep(1.0)
                await self._readd_groups()
                continue
            self.received += 1
            try:
                self.dispatch(message)
            except Exception:
                logger.exception("streaming hub dispatch failed event=%s", message.get("event"))

    async def _readd_groups(self) -> None:
        for group in list(self.groups):
            try:
                await self.layer.group_add(group, self.channel)
            except Exception:
                logger.warning("streaming hub could not re-add group=%s", group)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            await self._readd_groups()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub_get() -> Hub:
    """The hub of the running event loop (one per process under uvicorn)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
