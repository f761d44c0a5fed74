"""Fixtures for the posts tests: a few local people, a remote actor, media and remote posts.

Model imports stay inside the fixtures: pytest loads this file before Django is set up when
the folder is given on the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ourvoice.accounts.models import Account
    from ourvoice.posts.models import MediaAttachment, Post


@pytest.fixture
def alice(db) -> Account:
    from tests.factories import local_account

    return local_account("alice")


@pytest.fixture
def bob(db) -> Account:
    from tests.factories import local_account

    return local_account("bob")


@pytest.fixture
def carol(db) -> Account:
    from tests.factories import local_account

    return local_account("carol")


@pytest.fixture
def remote(db) -> Account:
    """A remote actor `@rita@remote.example`."""
    from tests.factories import RemoteAccountFactory

    return RemoteAccountFactory(username="rita", domain="remote.example")


@pytest.fixture
def make_media(db) -> Callable[..., MediaAttachment]:
    """An uploaded, not yet attached image of `account` (what the media API would leave)."""
    from ourvoice.posts.models import MediaAttachment

    def make(account: Account, **kwargs) -> MediaAttachment:
        fields = {
            "type": MediaAttachment.Type.IMAGE,
            "mime_type": "image/png",
            "url": "https://testserver/media/x.png",
            **kwargs,
        }
        return MediaAttachment.objects.create(account=account, **fields)

    return make


@pytest.fixture
def make_remote_post(db) -> Callable[..., Post]:
    """A post as federation would store it for a remote author (test data, not a service)."""
    from ourvoice.posts.models import Post

    def make(author: Account, text: str = "remote words", **kwargs) -> Post:
        post = Post(author=author, content=f"<p>{text}</p>", local=False, **kwargs)
        post.uri = f"{author.uri}/statuses/{post.id}"
        post.save(force_insert=True)
        return post

    return make
