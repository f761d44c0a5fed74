"""Small streaming clients for the live tests: a WebSocket client as masto.js uses it (token in
`Sec-WebSocket-Protocol`, multiplexed subscriptions) and a Mastodon.py SSE listener, each
collecting what arrives in a background thread so tests can wait for frames with a timeout."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from mastodon import StreamListener
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


class WsClient:
    """One WebSocket connection; `frames` holds every decoded frame in arrival order."""

    def __init__(
        self, base_ws: str, token: str | None, *, query: str = "", how: str = "protocol"
    ) -> None:
        url = f"{base_ws}/api/v1/streaming{query}"
        self.server_pings = 0
        kwargs: dict[str, Any] = {
            "open_timeout": 10,
            "close_timeout": 5,
            "ping_interval": None,  # only the server pings, so every PING seen is its heartbeat
            "logger": self._frame_logger(),
        }
        if how == "protocol" and token:
            kwargs["subprotocols"] = [token]
        elif how == "header" and token:
            kwargs["additional_headers"] = {"Authorization": f"Bearer {token}"}
        elif how == "query" and token:
            url += ("&" if "?" in url else "?") + f"access_token={token}"
        # Entered as a context manager (websockets ≥ 17.1); `close()` closes it.
        self.ws: ClientConnection = connect(url, **kwargs).__enter__()
        self.frames: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self.closed: ConnectionClosed | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _frame_logger(self) -> logging.Logger:
        """websockets logs each received frame at DEBUG as `< PING ...`: count those."""
        client = self

        class Counter(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.getMessage().startswith("< PING"):
                    client.server_pings += 1

        logger = logging.getLogger(f"tests.streaming.ws.{id(self)}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(Counter())
        return logger

    def _read(self) -> None:
        try:
            for text in self.ws:
                frame = json.loads(text)
                self.frames.append(frame)
                self._new.put(frame)
        except ConnectionClosed as exc:
            self.closed = exc
        else:
            self.closed = self.ws.protocol.close_exc

    def send(self, **message: Any) -> None:
        self.ws.send(json.dumps(message))

    def subscribe(self, stream: str, **params: str) -> None:
        self.send(type="subscribe", stream=stream, **params)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20
    ) -> dict[str, Any]:
        """The first frame (already received or arriving within `timeout`) matching."""
        for frame in list(self.frames):
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no frame {what} within {timeout} s; got {self.frames!r}")
            try:
                frame = self._new.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(frame):
                return frame

    def events(self, event: str, stream: list[str] | None = None) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames
            if f.get("event") == event and (stream is None or f.get("stream") == stream)
        ]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self._thread.join(timeout=5)


def event_of(frame: dict[str, Any]) -> tuple[str, list[str], Any]:
    payload = frame.get("payload")
    if frame.get("event") not in ("delete", "announcement.delete") and payload is not None:
        payload = json.loads(payload)
    return frame.get("event"), frame.get("stream"), payload


class Recorder(StreamListener):
    """Mastodon.py listener that records (event, data) and heartbeats."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.heartbeats = 0
        self._lock = threading.Lock()

    def on_update(self, status: Any) -> None:
        with self._lock:
            self.events.append(("update", status))

    def on_status_update(self, status: Any) -> None:
        with self._lock:
            self.events.append(("status.update", status))

    def on_delete(self, status_id: Any) -> None:
        with self._lock:
            self.events.append(("delete", str(status_id)))

    def on_notification(self, notification: Any) -> None:
        with self._lock:
            self.events.append(("notification", notification))

    def handle_heartbeat(self) -> None:
        self.heartbeats += 1

    def wait_for(
        self, predicate: Callable[[str, Any], bool], what: str, timeout: float = 20
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for name, data in self.events:
                    if predicate(name, data):
                        return data
            time.sleep(0.05)
        raise AssertionError(f"Mastodon.py saw no {what} within {timeout} s: {self.events!r}")
