"""The dispatcher: type table, origin rules every activity passes, and what is never stored."""

from __future__ import annotations

import pytest

from federation.inbound import dispatch
from federation.inbound.dispatch import activity_handle
from federation.inbound.errors import Ignore, Reject
from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import account_suspend
from ourvoice.core.models import OutboxEvent
from ourvoice.posts import services as posts_services
from ourvoice.posts.models import MediaAttachment, Mention, Post
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"


def test_both_call_styles_are_accepted(alice):
    ana = remote_actor(ANA)

    activity_handle(load("mastodon/follow"), actor=ana)
    activity_handle(activity=load("mastodon/follow"), actor=ana)

    assert Follow.objects.filter(follower=ana).count() == 1


@pytest.mark.parametrize("kind", ["Listen", "Add", "QuoteRequest", "", None])
def test_unknown_types_are_ignored(alice, kind):
    ana = remote_actor(ANA)
    with pytest.raises(Ignore):
        handle({"id": f"{ANA}#x", "type": kind, "actor": ANA, "object": alice.uri}, ana)


def test_type_may_be_a_list(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/follow")
    activity["type"] = ["Follow"]

    handle(activity, ana)

    assert Follow.objects.filter(follower=ana).exists()


def test_every_handler_is_guarded_by_the_origin_rules(alice, monkeypatch):
    ana = remote_actor(ANA)
    called = []
    monkeypatch.setitem(dispatch.HANDLERS, "Follow", lambda **kw: called.append(kw))
    activity = load("mastodon/follow")
    activity["id"] = "https://elsewhere.example/follow/1"

    with pytest.raises(Reject):
        handle(activity, ana)

    assert called == []


def test_actor_other_than_the_sender_is_rejected(alice):
    ana = remote_actor(ANA)
    remote_actor("https://mastodon.example/users/bea")
    activity = load("mastodon/follow")
    activity["actor"] = "https://mastodon.example/users/bea"

    with pytest.raises(Reject):
        handle(activity, ana)

    assert not Follow.objects.exists()


@pytest.mark.parametrize("activity_id", [None, "", 42, "not a url"])
def test_activity_without_a_usable_id_is_rejected(alice, activity_id):
    ana = remote_actor(ANA)
    activity = load("mastodon/follow")
    activity["id"] = activity_id

    with pytest.raises(Reject):
        handle(activity, ana)


@pytest.mark.parametrize(
    "spoofed",
    [
        "https://mastodon.example.evil.example/users/ana#x",
        "http://mastodon.example/users/ana#x",
        "https://mastodon.example:8443/users/ana#x",
    ],
)
def test_activity_id_on_a_look_alike_origin_is_rejected(alice, spoofed):
    ana = remote_actor(ANA)
    activity = load("mastodon/follow")
    activity["id"] = spoofed

    with pytest.raises(Reject):
        handle(activity, ana)


def test_equivalent_spellings_of_the_origin_are_accepted(alice):
    """CVE-2023-42451: case, default port and trailing dot variants are the same origin."""
    ana = remote_actor(ANA)
    activity = load("mastodon/follow")
    activity["id"] = "https://MASTODON.example.:443/0f2d7a5e"

    handle(activity, ana)

    assert Follow.objects.filter(follower=ana).exists()


def test_local_actor_is_rejected(alice):
    bob = local_account("bob")
    with pytest.raises(Reject):
        handle({"id": f"{bob.uri}#f", "type": "Follow", "actor": bob.uri, "object": alice.uri}, bob)


def test_suspended_actor_is_ignored(alice):
    ana = remote_actor(ANA)
    account_suspend(account=ana)

    with pytest.raises(Ignore):
        handle(load("mastodon/follow"), ana)

    assert not Follow.objects.exists()


def test_suspended_domain_is_ignored(alice, set_policy):
    ana = remote_actor(ANA)
    set_policy("mastodon.example", policy="suspend")

    with pytest.raises(Ignore):
        handle(load("mastodon/follow"), ana)

    assert not Follow.objects.exists()


def test_a_failing_handler_leaves_nothing_behind(alice, monkeypatch):
    """One transaction per activity: a late failure rolls back the earlier writes."""
    ana = remote_actor(ANA)

    def explode(**kwargs):
        raise RuntimeError("database went away")

    # Fails after the post, its mentions, tags and media rows were written.
    monkeypatch.setattr(posts_services, "feed_fanout_post", explode)
    before = OutboxEvent.objects.count()

    with pytest.raises(RuntimeError):
        handle(load("mastodon/create_note"), ana)

    assert not Post.objects.filter(local=False).exists()
    assert not Mention.objects.exists()
    assert not MediaAttachment.objects.exists()
    assert OutboxEvent.objects.count() == before


def test_non_object_activity_is_rejected(alice):
    ana = remote_actor(ANA)
    with pytest.raises(Reject):
        activity_handle(["Follow"], actor=ana)  # type: ignore[arg-type]


def test_overlong_ids_are_rejected(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["id"] = f"{ANA}/statuses/{'9' * 3000}"

    with pytest.raises(Reject):
        handle(activity, ana)
    activity = load("mastodon/follow")
    activity["id"] = f"{ANA}#{'f' * 3000}"
    with pytest.raises(Reject):
        handle(activity, ana)

    assert not Post.objects.filter(local=False).exists()
    assert not Follow.objects.exists()
