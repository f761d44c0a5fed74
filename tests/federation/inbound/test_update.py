"""Update{Note} (edits, ordering, ownership) and Update{Person} (refetch, never trust)."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore, Reject
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.services import repost_create
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import PostEdit
from ourvoice.posts.selectors import post_get_by_uri
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"
ANA_NOTE = "https://mastodon.example/users/ana/statuses/113400000000000001"


@pytest.fixture
def ana(alice):
    account = remote_actor(ANA)
    handle(load("mastodon/create_note"), account)
    return account


def test_mastodon_edit_is_applied_with_history(ana, alice, outbox):
    bob = local_account("bob")
    repost_create(account=bob, post=post_get_by_uri(uri=ANA_NOTE))
    media_before = post_get_by_uri(uri=ANA_NOTE).media.get()

    handle(load("mastodon/update_note"), ana)

    post = post_get_by_uri(uri=ANA_NOTE)
    assert "corrected: Sunday, not Saturday" in post.content
    assert post.edited_at.isoformat() == "2025-03-14T10:00:00+00:00"
    assert set(post.hashtags.values_list("name", flat=True)) == {"sailing", "tides"}
    media = post.media.get()
    assert media.pk == media_before.pk  # same remote file: the row is kept, its alt text updated
    assert media.description.startswith("A printed tide table with Sunday's")
    original, edited = PostEdit.objects.filter(post=post).order_by("id")
    assert "Saturday's" not in original.content and "weekend are up <a" in original.content
    assert original.created_at == post.published_at
    assert edited.content == post.content
    assert edited.media_ids == [media.pk]
    assert OutboxEvent.objects.filter(kind="post.updated").count() == 1
    outbox.drain()
    assert Notification.objects.filter(recipient=bob, type="update", post=post).exists()


def test_older_or_repeated_update_is_ignored(ana):
    handle(load("mastodon/update_note"), ana)
    stale = load("mastodon/update_note")
    stale["id"] += "-stale"
    stale["object"]["updated"] = "2025-03-14T09:50:00Z"
    stale["object"]["content"] = "<p>stale</p>"

    with pytest.raises(Ignore):
        handle(stale, ana)
    with pytest.raises(Ignore):
        handle(load("mastodon/update_note"), ana)

    post = post_get_by_uri(uri=ANA_NOTE)
    assert "corrected" in post.content
    assert PostEdit.objects.filter(post=post).count() == 2


def test_update_without_updated_is_not_an_edit(ana):
    activity = load("mastodon/update_note")
    del activity["object"]["updated"]

    with pytest.raises(Ignore):
        handle(activity, ana)

    assert post_get_by_uri(uri=ANA_NOTE).edited_at is None


def test_update_of_someone_elses_post_is_rejected(ana):
    bea = remote_actor("https://mastodon.example/users/bea")
    activity = load("mastodon/update_note")
    activity["id"] = "https://mastodon.example/users/bea#updates/1"
    activity["actor"] = bea.uri

    with pytest.raises(Reject):
        handle(activity, bea)  # attributedTo is still ana

    activity["object"]["attributedTo"] = bea.uri
    with pytest.raises(Ignore):
        handle(activity, bea)  # the stored post is ana's

    assert post_get_by_uri(uri=ANA_NOTE).edited_at is None


def test_cross_origin_update_is_rejected(ana):
    eve = remote_actor("https://elsewhere.example/users/ana")
    activity = load("mastodon/update_note")
    activity["id"] = "https://elsewhere.example/users/ana#updates/1"
    activity["actor"] = eve.uri
    activity["object"]["attributedTo"] = eve.uri

    with pytest.raises(Reject):
        handle(activity, eve)

    assert post_get_by_uri(uri=ANA_NOTE).edited_at is None
    assert not OutboxEvent.objects.filter(kind="post.updated").exists()


def test_update_person_refetches_and_never_applies_the_payload(alice, remote_web):
    ana = remote_actor(ANA, display_name="Ana", public_key_pem="KEEP")

    handle(load("mastodon/update_person"), ana)

    assert remote_web.resolved == [(ANA, True)]
    ana.refresh_from_db()
    assert ana.display_name == "Ana"
    assert ana.public_key_pem == "KEEP"


def test_update_of_another_actor_is_rejected(alice, remote_web):
    ana = remote_actor(ANA)
    remote_actor("https://mastodon.example/users/bea", display_name="Bea")
    activity = load("mastodon/update_person")
    activity["object"]["id"] = "https://mastodon.example/users/bea"

    with pytest.raises(Reject):
        handle(activity, ana)

    assert remote_web.resolved == []
