"""Block from a remote actor: the block is recorded and follows both ways end."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore
from ourvoice.accounts.models import Block, Follow
from ourvoice.accounts.services import follow_accept, follow_create
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"


def test_block_ends_follows_both_ways(alice):
    ana = remote_actor(ANA)
    handle(load("mastodon/follow"), ana)
    follow_accept(follow=follow_create(follower=alice, target=ana))
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "https://mastodon.example/bd8b0a3c-1f2e-4d5c-9b8a-7f6e5d4c3b2a",
        "type": "Block",
        "actor": ANA,
        "object": alice.uri,
    }

    handle(activity, ana)

    block = Block.objects.get(account=ana, target=alice)
    assert block.uri == activity["id"]
    assert not Follow.objects.exists()


def test_block_of_an_unknown_account_is_ignored(alice):
    ana = remote_actor(ANA)
    with pytest.raises(Ignore):
        handle({"id": f"{ANA}#b", "type": "Block", "actor": ANA, "object": f"{alice.uri}x"}, ana)
