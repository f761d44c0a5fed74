"""Fixtures for the discovery and serving views: accounts, posts, AP requests, signed GETs.

Unsigned and malformed requests go through the real `federation.verify.verify_signed_get`;
tests that need a particular verification outcome patch it (fixture `signed_as`), and
test_authorized_fetch.py also signs real requests.
"""

from __future__ import annotations

import pytest

from federation import verify
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BASE = "https://testserver"


@pytest.fixture
def alice(db):
    return local_account("alice", display_name="Alice")


@pytest.fixture
def bob(db):
    return local_account("bob")


@pytest.fixture
def remote(db):
    return RemoteAccountFactory(username="carol", domain="remote.example")


@pytest.fixture
def post_of():
    """post_of(author, text="…", **kwargs) → a local post through the real service."""

    def make(author, text="Hello fediverse", **kwargs):
        return post_create(author=author, text=text, **kwargs)

    return make


@pytest.fixture
def ap_get(client):
    """GET with an ActivityPub Accept header (activity+json unless `accept` is given)."""

    def get(path, accept=AP, **extra):
        return client.get(path, HTTP_ACCEPT=accept, **extra)

    return get


@pytest.fixture
def signed_as(monkeypatch):
    """signed_as(account) makes every signed GET verify as `account`; signed_as(exc) raises."""

    def install(result):
        def fake(request):
            if "Signature" not in request.headers:
                raise verify.SignatureRejected("missing signature")
            if isinstance(result, BaseException):
                raise result
            return result

        monkeypatch.setattr(verify, "verify_signed_get", fake)

    return install


@pytest.fixture
def authorized_fetch(settings):
    settings.OURVOICE_AUTHORIZED_FETCH = True
    return settings
