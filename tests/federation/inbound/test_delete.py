"""Delete of posts, boosts and actors, and the tombstones that refuse a late Create."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore, Reject
from federation.models import RemoteTombstone
from ourvoice.accounts.models import Follow
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Repost
from ourvoice.posts.models import FeedEntry, Post
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"
ANA_NOTE = "https://mastodon.example/users/ana/statuses/113400000000000001"


def test_mastodon_delete_marks_the_post_deleted(alice, outbox):
    ana = remote_actor(ANA)
    handle(load("mastodon/create_note"), ana)

    handle(load("mastodon/delete_note"), ana)

    post = Post.objects.get(uri=ANA_NOTE)
    assert post.state == Post.State.DELETED
    ana.refresh_from_db()
    assert ana.statuses_count == 0
    assert RemoteTombstone.objects.filter(uri=ANA_NOTE).exists()
    assert OutboxEvent.objects.filter(kind="post.deleted", payload__post_id=post.id).exists()
    outbox.drain()


def test_deleting_a_reply_decrements_the_parent(alice, alice_post):
    ana = remote_actor(ANA)
    handle(load("mastodon/create_note_reply", LOCAL_POST_ID=alice_post.id), ana)
    reply_uri = "https://mastodon.example/users/ana/statuses/113400000000000002"

    handle(
        {"id": f"{reply_uri}#delete", "type": "Delete", "actor": ANA, "object": reply_uri},
        ana,
    )

    alice_post.refresh_from_db()
    assert alice_post.replies_count == 0


def test_delete_arriving_first_is_remembered(alice):
    ana = remote_actor(ANA)

    handle(load("mastodon/delete_note"), ana)

    assert RemoteTombstone.objects.filter(uri=ANA_NOTE).exists()
    with pytest.raises(Ignore):
        handle(load("mastodon/create_note"), ana)
    assert not Post.objects.filter(uri=ANA_NOTE).exists()


def test_delete_of_another_accounts_post_is_rejected(alice):
    ana = remote_actor(ANA)
    bea = remote_actor("https://mastodon.example/users/bea")
    handle(load("mastodon/create_note"), ana)
    activity = load("mastodon/delete_note")
    activity["id"] = "https://mastodon.example/users/bea#delete-1"
    activity["actor"] = bea.uri

    with pytest.raises(Reject):
        handle(activity, bea)

    assert Post.objects.get(uri=ANA_NOTE).state == Post.State.ACTIVE
    assert not RemoteTombstone.objects.exists()


def test_cross_origin_delete_is_rejected(alice):
    ana = remote_actor(ANA)
    handle(load("mastodon/create_note"), ana)
    eve = remote_actor("https://elsewhere.example/users/eve")
    activity = load("mastodon/delete_note")
    activity["id"] = "https://elsewhere.example/users/eve#delete"
    activity["actor"] = eve.uri

    with pytest.raises(Reject):
        handle(activity, eve)

    assert Post.objects.get(uri=ANA_NOTE).state == Post.State.ACTIVE
    assert not RemoteTombstone.objects.exists()


def test_delete_of_a_local_post_by_a_remote_actor_is_rejected(alice, alice_post):
    ana = remote_actor(ANA)

    with pytest.raises(Reject):
        handle({"id": f"{ANA}#d", "type": "Delete", "actor": ANA, "object": alice_post.uri}, ana)

    alice_post.refresh_from_db()
    assert alice_post.state == Post.State.ACTIVE


def test_delete_of_an_announce_removes_the_boost(alice, alice_post):
    ana = remote_actor(ANA)
    handle(load("mastodon/announce", LOCAL_POST_ID=alice_post.id), ana)
    announce_id = "https://mastodon.example/users/ana/statuses/113400000000000003/activity"
    assert Repost.objects.filter(uri=announce_id).exists()

    handle(
        {"id": f"{ANA}#delete-boost", "type": "Delete", "actor": ANA, "object": announce_id}, ana
    )

    assert not Repost.objects.exists()
    alice_post.refresh_from_db()
    assert alice_post.reposts_count == 0
    assert not FeedEntry.objects.filter(repost_id__isnull=False).exists()


def test_delete_of_the_actor_suspends_it_and_ends_its_follows(alice):
    ana = remote_actor(ANA)
    handle(load("mastodon/follow"), ana)
    alice.refresh_from_db()
    assert alice.followers_count == 1

    handle(load("mastodon/delete_actor"), ana)

    ana.refresh_from_db()
    assert ana.is_suspended
    assert not Follow.objects.filter(follower=ana).exists()
    alice.refresh_from_db()
    assert alice.followers_count == 0
    assert OutboxEvent.objects.filter(kind="account.suspended").exists()
