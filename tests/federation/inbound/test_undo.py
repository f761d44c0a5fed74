"""Undo of Follow, Like and Announce (Mastodon shapes), and Undo by someone else."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore
from ourvoice.accounts.models import Block, Follow
from ourvoice.accounts.services import follow_accept, follow_create
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import FeedEntry
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"


@pytest.fixture
def ana(db):
    return remote_actor(ANA)


def test_undo_follow(alice, ana):
    handle(load("mastodon/follow"), ana)

    handle(load("mastodon/undo_follow"), ana)

    assert not Follow.objects.exists()
    alice.refresh_from_db()
    assert alice.followers_count == 0


def test_undo_follow_matches_by_target_when_the_id_is_unknown(alice, ana):
    handle(load("mastodon/follow"), ana)
    activity = load("mastodon/undo_follow")
    activity["object"]["id"] = "https://mastodon.example/some-other-follow-id"

    handle(activity, ana)

    assert not Follow.objects.exists()


def test_undo_like(alice, alice_post, ana):
    handle(load("mastodon/like", LOCAL_POST_ID=alice_post.id), ana)

    handle(load("mastodon/undo_like", LOCAL_POST_ID=alice_post.id), ana)

    assert not Like.objects.exists()
    alice_post.refresh_from_db()
    assert alice_post.likes_count == 0


def test_undo_by_id_only(alice, alice_post, ana):
    handle(load("mastodon/like", LOCAL_POST_ID=alice_post.id), ana)
    activity = load("mastodon/undo_like", LOCAL_POST_ID=alice_post.id)
    activity["object"] = activity["object"]["id"]

    handle(activity, ana)

    assert not Like.objects.exists()


def test_undo_announce(alice, alice_post, ana):
    bob = local_account("bob")
    follow_accept(follow=follow_create(follower=bob, target=ana))
    handle(load("mastodon/announce", LOCAL_POST_ID=alice_post.id), ana)
    assert FeedEntry.objects.filter(owner=bob, repost_id__isnull=False).exists()

    handle(load("mastodon/undo_announce", LOCAL_POST_ID=alice_post.id), ana)

    assert not Repost.objects.exists()
    alice_post.refresh_from_db()
    assert alice_post.reposts_count == 0
    assert not FeedEntry.objects.filter(repost_id__isnull=False).exists()


def test_undo_block(alice, ana):
    handle({"id": f"{ANA}#blocks/1", "type": "Block", "actor": ANA, "object": alice.uri}, ana)

    handle(
        {
            "id": f"{ANA}#blocks/1/undo",
            "type": "Undo",
            "actor": ANA,
            "object": {"id": f"{ANA}#blocks/1", "type": "Block", "actor": ANA, "object": alice.uri},
        },
        ana,
    )

    assert not Block.objects.exists()


def test_undo_of_another_actors_activity_is_ignored(alice, alice_post, ana):
    handle(load("mastodon/like", LOCAL_POST_ID=alice_post.id), ana)
    bea = remote_actor("https://mastodon.example/users/bea")
    activity = load("mastodon/undo_like", LOCAL_POST_ID=alice_post.id)
    activity["id"] = "https://mastodon.example/users/bea#likes/98765/undo"
    activity["actor"] = bea.uri

    with pytest.raises(Ignore):
        handle(activity, bea)  # the embedded Like is ana's

    activity["object"]["actor"] = bea.uri
    with pytest.raises(Ignore):
        handle(activity, bea)  # bea has no like to undo, ana's is untouched

    assert Like.objects.filter(account=ana).exists()


def test_undo_of_nothing_is_ignored(alice, alice_post, ana):
    with pytest.raises(Ignore):
        handle(load("mastodon/undo_like", LOCAL_POST_ID=alice_post.id), ana)


def test_undo_of_an_unknown_type_is_ignored(alice, ana):
    with pytest.raises(Ignore):
        handle(
            {
                "id": f"{ANA}#x/undo",
                "type": "Undo",
                "actor": ANA,
                "object": {"id": f"{ANA}#x", "type": "Listen", "actor": ANA},
            },
            ana,
        )
