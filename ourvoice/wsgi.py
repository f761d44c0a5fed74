"""WSGI entry point: `gunicorn ourvoice.wsgi -w 2 -b HOST:PORT`.

Inbox POSTs (`federation.views.inbox.INBOX_PATH`) skip the middleware stack: sessions, auth,
CSRF (the view is exempt anyway), messages, CORS, security headers and static files mean
nothing to a server-to-server POST answered 202 with no body, and the stack costs about
0.15 ms of CPU per request, a tenth of the inbox's whole budget (performance.md §3.5). They
skip URL resolution too: the path was matched here already. The view itself validates the
Host header, as CommonMiddleware would. Everything else goes through the full Django handler.
"""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.http import Http404, HttpRequest, HttpResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ourvoice.settings")
django_application = get_wsgi_application()

from federation.views.inbox import INBOX_PATH, inbox  # noqa: E402  (needs the app registry)


class InboxHandler(WSGIHandler):
    """Django's WSGI handler for the inbox routes only: no middleware and no URL resolution
    (`INBOX_PATH` already matched; it captures the username of a personal inbox exactly as
    `federation/urls_inbox.py` does). Request signals, exception handling (DisallowedHost →
    400, anything else → 500, logged) and the logging of 4xx/5xx answers stay Django's."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._inbox_view)

    @staticmethod
    def _inbox_view(request: HttpRequest) -> HttpResponse:
        match = INBOX_PATH.fullmatch(request.path_info)
        if match is None:  # only reachable through a misrouted call
            raise Http404
        return inbox(request, username=match["username"])


inbox_application = InboxHandler()


def application(environ, start_response):
    if environ.get("REQUEST_METHOD") == "POST" and INBOX_PATH.fullmatch(
        environ.get("PATH_INFO", "")
    ):
        return inbox_application(environ, start_response)
    return django_application(environ, start_response)
