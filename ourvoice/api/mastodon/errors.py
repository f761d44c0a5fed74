"""Map every failure to Mastodon's `{"error": ...}` body and status code."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from ourvoice.api.mastodon.auth import InvalidToken, PendingApproval
from ourvoice.core import errors

logger = logging.getLogger(__name__)

INVALID_TOKEN = "The access token is invalid"
OUTSIDE_SCOPES = "This action is outside the authorized scopes"
USER_REQUIRED = "This method requires an authenticated user"


class ApiError(Exception):
    """An error with an explicit status and message, raised by views and the base class."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def error_body(status: int, message: str, **extra: Any) -> Response:
    return Response({"error": message, **extra}, status=status)


def mastodon_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler used by every Mastodon API view."""
    if isinstance(exc, ApiError):
        return error_body(exc.status, exc.message, **exc.extra)
    if isinstance(exc, PendingApproval):
        return error_body(403, "Your login is currently pending approval")
    unauthenticated = exceptions.NotAuthenticated | exceptions.AuthenticationFailed
    if isinstance(exc, InvalidToken | unauthenticated):
        return error_body(401, INVALID_TOKEN)
    if isinstance(exc, errors.Invalid):
        return error_body(422, f"Validation failed: {exc.message}")
    if isinstance(exc, errors.NotFound | Http404 | exceptions.NotFound):
        return error_body(404, "Record not found")
    if isinstance(exc, errors.NotAllowed):
        return error_body(403, exc.message)
    if isinstance(exc, errors.Conflict):
        return error_body(422, exc.message)
    if isinstance(exc, errors.LimitReached):
        return error_body(429, exc.message)
    if isinstance(exc, exceptions.PermissionDenied):
        return error_body(403, OUTSIDE_SCOPES)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return error_body(405, "Method not allowed")
    if isinstance(exc, exceptions.UnsupportedMediaType | exceptions.ParseError):
        return error_body(400, f"Malformed request: {exc.detail}")
    if isinstance(exc, exceptions.Throttled):
        return error_body(429, "Too many requests")
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_body(exc.status_code, detail)
    return None


def api_not_found(request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown routes under /api/ answer JSON, never an HTML page."""
    return JsonResponse({"error": "Record not found"}, status=404)
