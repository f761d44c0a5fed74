"""Bearer-token authentication and scope checks for the Mastodon API.

Tokens are django-oauth-toolkit `AccessToken` rows found by the SHA-256 checksum of the bearer
string (the plain token is never stored). An app token (client_credentials) has no user.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ourvoice.api.mastodon.scopes import covers


class InvalidToken(Exception):
    """The request carried a token that does not exist, expired or was revoked."""


class PendingApproval(Exception):
    """The token is valid but its user signed up under approval and waits for an admin."""


def bearer_token(request: Any) -> str | None:
    """The token from `Authorization: Bearer`, or the `access_token` query parameter."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    value = request.GET.get("access_token")
    return value.strip() if value else None


def access_token_lookup(raw: str) -> AccessToken | None:
    """The live token row for this bearer string (user and application loaded), else None.

    Raises PendingApproval for a user whose sign-up an admin has not approved yet.
    """
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    token = (
        AccessToken.objects.select_related("user", "user__account", "application")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or token.expires <= timezone.now():
        return None
    if token.user_id is not None and not token.user.is_active:
        if token.user.approval == token.user.Approval.PENDING:
            raise PendingApproval()
        return None
    return token


class BearerTokenAuthentication(BaseAuthentication):
    """DRF authentication: `request.user` = the token's user (or None), `request.auth` = token."""

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        raw = bearer_token(request._request)
        if raw is None:
            return None
        token = access_token_lookup(raw)
        if token is None:
            raise InvalidToken()
        return (token.user, token)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="Doorkeeper", error="invalid_token"'


def token_scopes(token: AccessToken | None) -> list[str]:
    return token.scope.split() if token is not None else []


def token_covers(token: AccessToken | None, required: str) -> bool:
    return token is not None and covers(token_scopes(token), required)
