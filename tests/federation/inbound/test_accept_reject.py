"""Accept / Reject of a Follow we sent (GoToSocial embeds the Follow; others send its id)."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore, Reject
from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import follow_create
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

GABE = "https://gts.example/users/gabe"


@pytest.fixture
def gabe(db):
    return remote_actor(GABE)


@pytest.fixture
def pending(alice, gabe) -> Follow:
    follow = follow_create(follower=alice, target=gabe)
    assert follow.state == Follow.State.PENDING
    return follow


def test_gotosocial_accept_with_embedded_follow_matches_by_id(alice, gabe, pending):
    handle(load("gotosocial/accept_follow", FOLLOW_URI=pending.uri), gabe)

    pending.refresh_from_db()
    assert pending.state == Follow.State.ACCEPTED
    alice.refresh_from_db()
    assert alice.following_count == 1


def test_accept_matches_by_actor_and_object_when_the_id_differs(alice, gabe, pending):
    activity = load("gotosocial/accept_follow", FOLLOW_URI="https://gts.example/unknown-follow-id")

    handle(activity, gabe)

    pending.refresh_from_db()
    assert pending.state == Follow.State.ACCEPTED


def test_accept_by_id_only(alice, gabe, pending):
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    activity["object"] = pending.uri

    handle(activity, gabe)

    pending.refresh_from_db()
    assert pending.state == Follow.State.ACCEPTED


def test_accept_is_idempotent(alice, gabe, pending):
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    handle(activity, gabe)
    handle(activity, gabe)

    alice.refresh_from_db()
    assert alice.following_count == 1


def test_accept_from_another_actor_is_ignored(alice, gabe, pending):
    mallory = remote_actor("https://gts.example/users/mallory")
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    activity["id"] = "https://gts.example/users/mallory/accepts/1"
    activity["actor"] = mallory.uri

    with pytest.raises(Reject):
        handle(activity, mallory)  # the embedded Follow names gabe, not the sender
    activity["object"]["object"] = mallory.uri
    with pytest.raises(Ignore):
        handle(activity, mallory)  # and no follow of ours targets mallory

    pending.refresh_from_db()
    assert pending.state == Follow.State.PENDING


def test_reject_removes_our_follow(alice, gabe, pending):
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    activity["type"] = "Reject"
    activity["id"] = "https://gts.example/users/gabe/rejects/01JN3R2M4N5P6Q7R8S9T0V1W2X"

    handle(activity, gabe)

    assert not Follow.objects.exists()


def test_reject_of_an_accepted_follow_revokes_it(alice, gabe, pending):
    handle(load("gotosocial/accept_follow", FOLLOW_URI=pending.uri), gabe)
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    activity["type"] = "Reject"
    activity["id"] = "https://gts.example/users/gabe/rejects/2"

    handle(activity, gabe)

    assert not Follow.objects.exists()
    alice.refresh_from_db()
    assert alice.following_count == 0


def test_accept_of_something_else_is_ignored(alice, gabe, pending):
    activity = load("gotosocial/accept_follow", FOLLOW_URI=pending.uri)
    activity["object"]["type"] = "QuoteRequest"

    with pytest.raises(Ignore):
        handle(activity, gabe)
