"""WSGI entry point: `gunicorn ourvoice.wsgi -w 2 -b HOST:PORT`.

Inbox POSTs (`federation.views.inbox.INBOX_PATH`) skip the middleware stack: sessions, auth,
CSRF (the view is exempt anyway), messages, CORS, security headers and static files mean
nothing to a server-to-server POST answered 202 with no body, and the stack costs about
0.15 ms of CPU per request, a tenth of the inbox's whole budget (performance.md §3.5). The
view itself validates the Host header, as CommonMiddleware would. Everything else goes
through the full Django handler.
"""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")
django_application = get_wsgi_application()

from federation.views.inbox import INBOX_PATH  # noqa: E402  (needs the app registry)


class BareHandler(WSGIHandler):
    """Django's WSGI handler without middleware (URL resolution, view, exception handling)."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)


inbox_application = BareHandler()


def application(environ, start_response):
    if environ.get("REQUEST_METHOD") == "POST" and INBOX_PATH.fullmatch(
        environ.get("PATH_INFO", "")
    ):
        return inbox_application(environ, start_response)
    return django_application(environ, start_response)
