"""Live streaming for Mastodon clients: WebSocket `/api/v1/streaming` and server-sent events.

Served by the ASGI app (`ourvoice.asgi`) in its own `streaming` process (decisions.md,
Processes). Outbox consumers (`consumers.py`) render events once, in the worker that dispatches
them, and publish them to the channel layer; each streaming process receives them on one hub
channel (`hub.py`) and fans them out to its open connections (`websocket.py`, `sse.py`).
"""
