"""Fixtures for the interactions tests: a few local people, a remote actor, posts and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ourvoice.accounts.models import Account
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account


@pytest.fixture
def alice(db) -> Account:
    return local_account("alice")


@pytest.fixture
def bob(db) -> Account:
    return local_account("bob")


@pytest.fixture
def carol(db) -> Account:
    return local_account("carol")


@pytest.fixture
def remote(db) -> Account:
    """`@rita@remote.example`, a remote actor."""
    return RemoteAccountFactory(username="rita", domain="remote.example")


@pytest.fixture
def post_of(db) -> Callable[..., Post]:
    """Publish a local post through `post_create`."""

    def make(author: Account, text: str = "hello", **kwargs: Any) -> Post:
        return post_create(author=author, text=text, **kwargs)

    return make


@pytest.fixture
def events(db) -> Callable[[str], list[dict[str, Any]]]:
    """Payloads of the outbox events of one kind, oldest first."""

    def of(kind: str) -> list[dict[str, Any]]:
        return list(
            OutboxEvent.objects.filter(kind=kind).order_by("id").values_list("payload", flat=True)
        )

    return of
