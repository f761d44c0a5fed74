"""Client-API middleware: CORS as Mastodon sends it (mastodon-api.md §0.9) and rate limits."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

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


class RateLimitMiddleware:
    """Mastodon-style rate limits on the client API (switch: `OURVOICE_RATE_LIMITS`).

    Fixed five-minute windows counted in the cache (Redis in production): 300 requests per
    token, or per IP address without one, and 30 sign-ups or app registrations per IP. Every
    limited response carries `X-RateLimit-Limit`, `-Remaining` and `-Reset`; over the limit the
    answer is 429 `{"error": "Too many requests"}` with `Retry-After`.
    """

    WINDOW = 300
    LIMITS = {"default": 300, "signup": 30}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.OURVOICE_RATE_LIMITS or not request.path.startswith(("/api/", "/oauth/")):
            return self.get_response(request)
        bucket = "default"
        if request.method == "POST" and request.path.rstrip("/") in (
            "/api/v1/accounts",
            "/api/v1/apps",
        ):
            bucket = "signup"
        limit = self.LIMITS[bucket]
        now = int(time.time())
        window_start = now - now % self.WINDOW
        reset = window_start + self.WINDOW
        who = self._identity(request)
        key = f"rl:{bucket}:{who}:{window_start}"
        cache.add(key, 0, timeout=self.WINDOW + 5)
        try:
            used = cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=self.WINDOW + 5)
            used = 1
        if used > limit:
            response: HttpResponse = JsonResponse({"error": "Too many requests"}, status=429)
            response["Retry-After"] = str(reset - now)
        else:
            response = self.get_response(request)
        response["X-RateLimit-Limit"] = str(limit)
        response["X-RateLimit-Remaining"] = str(max(limit - used, 0))
        response["X-RateLimit-Reset"] = datetime.fromtimestamp(reset, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000Z"
        )
        return response

    @staticmethod
    def _identity(request: HttpRequest) -> str:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            return "t:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
        return "ip:" + request.META.get("REMOTE_ADDR", "unknown")
