"""CORS as Mastodon sends it (mastodon-api.md §0.9), for browser clients such as Elk and Phanpy."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CORS_PREFIXES = (
    "/api/",
    "/oauth/token",
    "/oauth/revoke",
    "/.well-known/",
    "/nodeinfo/",
    "/oauth/userinfo",
)
EXPOSE = "Link, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id"
METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


class CorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(CORS_PREFIXES):
            return self.get_response(request)
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            response = HttpResponse(status=200)
            response["Access-Control-Allow-Methods"] = METHODS
            response["Access-Control-Allow-Headers"] = (
                request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "*") or "*"
            )
            response["Access-Control-Max-Age"] = "7200"
        else:
            response = self.get_response(request)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = EXPOSE
        return response
