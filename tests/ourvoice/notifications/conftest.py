"""Fixtures for the notifications tests: local people, a remote actor, posts and notifications."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ourvoice.accounts.models import Account
from ourvoice.notifications.models import Notification
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
def notes(db) -> Callable[..., list[tuple[str, str, int | None]]]:
    """(type, sender acct, post id) of a recipient's notification rows (dismissed too), oldest
    first; optionally only one type."""

    def of(recipient: Account, type: str | None = None) -> list[tuple[str, str, int | None]]:
        qs = Notification.objects.filter(recipient=recipient).select_related("from_account")
        if type is not None:
            qs = qs.filter(type=type)
        return [(n.type, n.from_account.acct, n.post_id) for n in qs.order_by("id")]

    return of
