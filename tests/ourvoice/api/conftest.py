"""Fixtures for Mastodon API tests: OAuth apps and tokens, and a client that sends them."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, set_token_value

from ourvoice.api.mastodon.models import AppProfile
from tests.factories import local_account

ALL_SCOPES = "read write follow push"


def make_app(name: str = "Test client", scopes: str = ALL_SCOPES) -> Application:
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        client_secret=secrets.token_urlsafe(32),
    )
    AppProfile.objects.create(
        application=app, scopes=scopes, redirect_uris=["urn:ietf:wg:oauth:2.0:oob"]
    )
    return app


def make_token(user=None, scopes: str = ALL_SCOPES, app: Application | None = None) -> str:
    """A bearer token for `user` (None: an app token) with these scopes."""
    raw = secrets.token_urlsafe(32)
    token = AccessToken(
        user=user,
        application=app or make_app(),
        scope=scopes,
        expires=timezone.now() + timedelta(days=365 * 100),
    )
    set_token_value(token, raw)
    token.save()
    return raw


class ApiClient(Client):
    """Django test client that adds `Authorization: Bearer` when given a token."""

    def __init__(self, token: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token = token

    def _base_environ(self, **request):
        environ = super()._base_environ(**request)
        if self.token and "HTTP_AUTHORIZATION" not in environ:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        return environ


@pytest.fixture
def alice(db):
    return local_account("alice")


@pytest.fixture
def bob(db):
    return local_account("bob")


@pytest.fixture
def alice_client(alice) -> ApiClient:
    return ApiClient(make_token(alice.user))


@pytest.fixture
def bob_client(bob) -> ApiClient:
    return ApiClient(make_token(bob.user))


@pytest.fixture
def anon_client(db) -> ApiClient:
    return ApiClient()
