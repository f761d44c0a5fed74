"""Bearer-token authentication and scope checks for the Mastodon API.

Tokens are django-oauth-toolkit `AccessToken` rows found by the SHA-256 checksum of the bearer
string (the plain token is never stored). An app token (client_credentials) has no user.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from ourvoice.accounts.models import Account, User
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


@dataclass(frozen=True)
class _Part:
    """One model of the lookup: its class, column attribute names and value converters."""

    model: type[Model]
    attnames: list[str]
    converters: list[tuple[Any, list[Any]]]


@cache
def _lookup_sql() -> tuple[str, tuple[_Part, ...]]:
    """One hand-written SELECT of the token with its user, account and application.

    Every authenticated request runs it; compiling the equivalent `select_related` query with
    the ORM cost more than running it, so the statement is built once per process from the
    models' own fields.
    """
    parts = (
        (AccessToken, "t"),
        (User, "u"),
        (Account, "a"),
        (Application, "p"),
    )
    columns, layout = [], []
    for model, alias in parts:
        fields = list(model._meta.concrete_fields)
        columns += [f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields]
        converters = []
        for field in fields:
            col = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
            converters.append((col, found))
        layout.append(_Part(model, [f.attname for f in fields], converters))
    table = {model: connection.ops.quote_name(model._meta.db_table) for model, _ in parts}
    sql = (
        f"SELECT {', '.join(columns)} FROM {table[AccessToken]} t"
        f" LEFT JOIN {table[User]} u ON u.id = t.user_id"
        f" LEFT JOIN {table[Account]} a ON a.user_id = u.id"
        f" LEFT JOIN {table[Application]} p ON p.id = t.application_id"
        " WHERE t.token_checksum = %s LIMIT 1"
    )
    return sql, tuple(layout)


def _instance(part: _Part, values: list[Any]) -> Model | None:
    """A model instance from raw column values, converted as the ORM converts them."""
    if values[0] is None:  # outer join without a row
        return None
    converted = []
    for (col, converters), value in zip(part.converters, values, strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return part.model.from_db(connection.alias, part.attnames, converted)


def access_token_lookup(raw: str) -> AccessToken | None:
    """The live token row for this bearer string (user, account and application loaded).

    Returns None for an unknown, expired or deactivated token. Raises PendingApproval for a
    user whose sign-up an admin has not approved yet.
    """
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    sql, layout = _lookup_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [checksum])
        row = cursor.fetchone()
    if row is None:
        return None
    objects, start = [], 0
    for part in layout:
        objects.append(_instance(part, list(row[start : start + len(part.attnames)])))
        start += len(part.attnames)
    token, user, account, application = objects
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
