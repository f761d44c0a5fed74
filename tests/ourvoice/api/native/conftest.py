"""Fixtures for native API tests: moderation knobs small enough to decide cases in a test."""

from __future__ import annotations

import pytest

from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_token


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""


@pytest.fixture
def carol(db):
    return local_account("carol")


@pytest.fixture
def bob_post(bob):
    return post_create(author=bob, text="a contested opinion")


def client_for(account, scopes: str = "read write follow push") -> ApiClient:
    return ApiClient(make_token(account.user, scopes=scopes))
