"""ASGI entry point: `uvicorn ourvoice.asgi:application` (decisions.md, Processes).

The `streaming` process: WebSocket `/api/v1/streaming`, server-sent events under
`/api/v1/streaming/` (`ourvoice.api.streaming`), and every other HTTP path through Django, so
the quick start can run as this one process. In production gunicorn (`ourvoice.wsgi`) serves
the rest and the reverse proxy sends only /api/v1/streaming here.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")
django_application = get_asgi_application()

# These imports need Django set up first.
from channels.routing import ProtocolTypeRouter  # noqa: E402

from ourvoice.api.streaming.routing import http_routes, websocket_routes  # noqa: E402

application = ProtocolTypeRouter(
    {"http": http_routes(django_application), "websocket": websocket_routes()}
)
