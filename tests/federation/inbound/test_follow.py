"""Follow from Mastodon, Misskey and Pixelfed: auto-accept, locked accounts, repeats, refusals."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore
from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import (
    account_domain_block_create,
    account_update_profile,
    block_create,
)
from ourvoice.core.models import OutboxEvent
from ourvoice.notifications.models import Notification
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db


def events(kind: str) -> int:
    return OutboxEvent.objects.filter(kind=kind).count()


@pytest.mark.parametrize(
    ("fixture", "actor_uri"),
    [
        ("mastodon/follow", "https://mastodon.example/users/ana"),
        ("misskey/follow", "https://misskey.example/users/9zq0x1y2z3"),
        ("pixelfed/follow", "https://pixelfed.example/users/pia"),
    ],
)
def test_follow_of_an_unlocked_account_is_accepted(alice, outbox, fixture, actor_uri):
    remote = remote_actor(actor_uri)
    activity = load(fixture)

    handle(activity, remote)

    follow = Follow.objects.get(follower=remote, target=alice)
    assert follow.state == Follow.State.ACCEPTED
    assert follow.uri == activity["id"]
    alice.refresh_from_db()
    remote.refresh_from_db()
    assert (alice.followers_count, remote.following_count) == (1, 1)
    assert events("follow.requested") == 1
    assert events("follow.accepted") == 1  # federation sends the Accept on this event
    outbox.drain()
    assert Notification.objects.filter(recipient=alice, type="follow", from_account=remote).exists()


def test_follow_of_a_locked_account_waits(alice, outbox):
    account_update_profile(account=alice, locked=True)
    ana = remote_actor("https://mastodon.example/users/ana")

    handle(load("mastodon/follow"), ana)

    follow = Follow.objects.get(follower=ana, target=alice)
    assert follow.state == Follow.State.PENDING
    assert events("follow.accepted") == 0
    outbox.drain()
    assert Notification.objects.filter(recipient=alice, type="follow_request").exists()


def test_repeated_follow_sends_the_accept_again(alice):
    ana = remote_actor("https://mastodon.example/users/ana")
    handle(load("mastodon/follow"), ana)
    again = load("mastodon/follow")
    again["id"] = "https://mastodon.example/11111111-2222-4333-8444-555555555555"

    handle(again, ana)

    follow = Follow.objects.get(follower=ana, target=alice)
    assert follow.uri == again["id"]  # the new Accept names the Follow just received
    assert events("follow.accepted") == 2
    alice.refresh_from_db()
    assert alice.followers_count == 1


def test_repeated_follow_of_a_locked_account_stays_pending(alice):
    account_update_profile(account=alice, locked=True)
    ana = remote_actor("https://mastodon.example/users/ana")
    handle(load("mastodon/follow"), ana)
    again = load("mastodon/follow")
    again["id"] = "https://mastodon.example/11111111-2222-4333-8444-555555555555"

    handle(again, ana)

    follow = Follow.objects.get(follower=ana, target=alice)
    assert follow.state == Follow.State.PENDING
    assert follow.uri == again["id"]
    assert events("follow.requested") == 1


def test_follow_of_an_unknown_account_is_ignored(alice):
    ana = remote_actor("https://mastodon.example/users/ana")
    activity = load("mastodon/follow")
    activity["object"] = activity["object"].replace("alice", "nobody")

    with pytest.raises(Ignore):
        handle(activity, ana)

    assert not Follow.objects.exists()


def test_follow_of_a_system_actor_is_ignored(alice):
    from ourvoice.accounts.models import Account

    ana = remote_actor("https://mastodon.example/users/ana")
    moderation = Account.objects.filter(role=Account.Role.MODERATION).first()
    if moderation is None:
        pytest.skip("no moderation actor in this database")
    activity = load("mastodon/follow")
    activity["object"] = moderation.uri

    with pytest.raises(Ignore):
        handle(activity, ana)


def test_follow_from_a_blocked_account_is_ignored(alice):
    ana = remote_actor("https://mastodon.example/users/ana")
    block_create(account=alice, target=ana)

    with pytest.raises(Ignore):
        handle(load("mastodon/follow"), ana)

    assert not Follow.objects.exists()


def test_follow_from_a_domain_the_target_blocked_is_ignored(alice):
    ana = remote_actor("https://mastodon.example/users/ana")
    account_domain_block_create(account=alice, domain="mastodon.example")

    with pytest.raises(Ignore):
        handle(load("mastodon/follow"), ana)

    assert not Follow.objects.exists()
