"""Who is connecting: the access token of a WebSocket handshake or an SSE request.

Mastodon clients send it three ways (mastodon-api.md §5): an `Authorization: Bearer` header
(Mastodon.py), the `Sec-WebSocket-Protocol` header (masto.js: Elk, Phanpy) or the
`access_token` query parameter (older clients). Tokens are checked with the REST API's lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.utils import timezone
from oauth2_provider.models import AccessToken

from ourvoice.api.mastodon.auth import PendingApproval, access_token_lookup
from ourvoice.api.mastodon.scopes import covers


@dataclass(frozen=True)
class Identity:
    token_id: int
    account_id: int | None
    scopes: tuple[str, ...]

    def allows(self, required: tuple[str, ...]) -> bool:
        return any(covers(self.scopes, scope) for scope in required)


def query_params(scope: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def token_from(scope: dict[str, Any]) -> str | None:
    """The raw token: bearer header, then `access_token`, then the WebSocket subprotocol."""
    authorization = header(scope, b"authorization")
    if authorization[:7].lower() == "bearer " and authorization[7:].strip():
        return authorization[7:].strip()
    value = (query_params(scope).get("access_token") or [""])[0].strip()
    if value:
        return value
    protocols = scope.get("subprotocols") or []
    if protocols and protocols[0].strip():
        return protocols[0].strip()
    return None


def _identify(raw: str) -> Identity | None:
    try:
        token = access_token_lookup(raw)
    except PendingApproval:
        return None
    if token is None:
        return None
    account_id = None
    if token.user_id is not None:
        account = getattr(token.user, "account", None)
        if account is None or account.is_suspended:
            return None
        account_id = account.pk
    return Identity(token_id=token.pk, account_id=account_id, scopes=tuple(token.scope.split()))


@database_sync_to_async
def identify(raw: str | None) -> Identity | None:
    """The identity behind a raw token, or None for a missing, unknown, expired or revoked
    token, a user waiting for approval, or a suspended account."""
    if not raw:
        return None
    return _identify(raw)


@database_sync_to_async
def still_valid(identity: Identity) -> bool:
    """False once the token was revoked or expired (checked periodically on open streams)."""
    return AccessToken.objects.filter(pk=identity.token_id, expires__gt=timezone.now()).exists()
