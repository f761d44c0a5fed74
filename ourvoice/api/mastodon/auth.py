"""Bearer-token authentication and scope checks for the Mastodon API.

Tokens are django-oauth-toolkit `AccessToken` rows found by the SHA-256 checksum of the bearer
string (the plain token is never stored). An app token (client_credentials) has no user.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ourvoice.accounts.models import Account, User
from ourvoice.api.mastodon.scopes import covers
from ourvoice.core import rawsql
from ourvoice.core.rawsql import ModelColumns, model_columns, quoted_table, split_row


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


@cache
def _lookup_sql() -> tuple[str, tuple[ModelColumns, ...]]:
    """One hand-written SELECT of the token with its user, account and application.

    Every authenticated request runs it; compiling the equivalent `select_related` query with
    the ORM cost more than running it, so the statement is built once per process from the
    models' own fields.
    """
    layout = (
        model_columns(AccessToken, "t"),
        model_columns(User, "u"),
        model_columns(Account, "a"),
        model_columns(Application, "p"),
    )
    sql = (
        f"SELECT {', '.join(part.select for part in layout)}"
        f" FROM {quoted_table(AccessToken)} t"
        f" LEFT JOIN {quoted_table(User)} u ON u.id = t.user_id"
        f" LEFT JOIN {quoted_table(Account)} a ON a.user_id = u.id"
        f" LEFT JOIN {quoted_table(Application)} p ON p.id = t.application_id"
        " WHERE t.token_checksum = %s LIMIT 1"
    )
    return sql, layout


def access_token_lookup(raw: str) -> AccessToken | None:
    """The live token row for this bearer string (user, account and application loaded).

    Returns None for an unknown, expired or deactivated token. Raises PendingApproval for a
    user whose sign-up an admin has not approved yet.
    """
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    sql, layout = _lookup_sql()
    row = rawsql.fetchone(sql, [checksum])
    if row is None:
        return None
    (token, user, account, application), _ = split_row(row, *layout)
    assert isinstance(token, AccessToken)
    token._state.fields_cache["user"] = user
    token._state.fields_cache["application"] = application
    if user is not None:
        user._state.fields_cache["account"] = account
        if account is not None:
            account._state.fields_cache["user"] = user
    if token.expires <= timezone.now():
        return None
    if user is not None and not user.is_active:
        if user.approval == user.Approval.PENDING:
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
