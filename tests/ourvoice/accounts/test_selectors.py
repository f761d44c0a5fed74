"""Selector tests for ourvoice/accounts/selectors.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from ourvoice.accounts.models import AccountDomainBlock, Follow, Mute
from ourvoice.accounts.selectors import (
    Relationship,
    account_followers,
    account_following,
    account_get,
    account_get_by_acct,
    follow_requests_for,
    relationships_for,
    user_get_pending,
)
from ourvoice.accounts.services import (
    account_suspend,
    block_create,
    follow_accept,
    follow_create,
    mute_create,
    user_approve,
)
from ourvoice.core.errors import NotFound
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.accounts.helpers import locked_account

pytestmark = pytest.mark.django_db


# --- account_get -------------------------------------------------------------------------------


def test_account_get_by_int_or_string_id(alice):
    assert account_get(account_id=alice.id) == alice
    assert account_get(account_id=str(alice.id)) == alice


@pytest.mark.parametrize("bad", [1, "abc", "", None, "12x"])
def test_account_get_missing_or_malformed_is_not_found(alice, bad):
    with pytest.raises(NotFound):
        account_get(account_id=bad)


def test_account_get_hides_suspended_accounts_unless_asked(alice):
    account_suspend(account=alice)

    with pytest.raises(NotFound):
        account_get(account_id=alice.id)
    assert account_get(account_id=alice.id, include_suspended=True) == alice


# --- account_get_by_acct -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "acct",
    [
        "alice",
        "ALICE",
        "@alice",
        f"alice@{settings.OURVOICE_DOMAIN}",
        f"@Alice@{settings.OURVOICE_DOMAIN.upper()}",
        f"acct:alice@{settings.OURVOICE_DOMAIN}",
        " alice ",
    ],
)
def test_account_get_by_acct_local(alice, acct):
    assert account_get_by_acct(acct=acct) == alice


@pytest.mark.parametrize(
    "acct",
    ["zed@social.example", "@ZED@Social.Example", "zed@social.example:443", "@zed@social.example."],
)
def test_account_get_by_acct_remote(alice, remote, acct):
    assert account_get_by_acct(acct=acct) == remote


def test_account_get_by_acct_distinguishes_same_username_on_other_domains(alice):
    other = RemoteAccountFactory(username="alice", domain="peer.example:8443")

    assert account_get_by_acct(acct="alice") == alice
    assert account_get_by_acct(acct="alice@peer.example:8443") == other


@pytest.mark.parametrize(
    "acct", ["", "@", "nobody", "alice@other.example", "zed", "a@b@c", "@@alice", "alice@"]
)
def test_account_get_by_acct_not_found(alice, remote, acct):
    # "zed" alone means a local zed; "alice@" is malformed, not the local alice.
    with pytest.raises(NotFound):
        account_get_by_acct(acct=acct)


def test_account_get_by_acct_hides_suspended_accounts_unless_asked(remote):
    account_suspend(account=remote)

    with pytest.raises(NotFound):
        account_get_by_acct(acct="zed@social.example")
    assert account_get_by_acct(acct="zed@social.example", include_suspended=True) == remote


# --- account_followers / account_following / follow_requests_for -------------------------------


def test_followers_and_following_are_accepted_follows_newest_first(alice, bob, carol, remote):
    locked = locked_account("locked")
    f1 = follow_create(follower=bob, target=alice)
    f2 = follow_create(follower=remote, target=alice, uri="https://social.example/f/1")
    f3 = follow_create(follower=carol, target=alice)
    follow_create(follower=alice, target=locked)  # pending: in neither list
    g1 = follow_create(follower=alice, target=bob)
    g2 = follow_create(follower=alice, target=carol)

    followers = list(account_followers(account=alice))
    following = list(account_following(account=alice))

    assert followers == [carol, remote, bob]
    assert [a.follow_id for a in followers] == [f3.id, f2.id, f1.id]
    assert following == [carol, bob]
    assert [a.follow_id for a in following] == [g2.id, g1.id]
    assert list(account_followers(account=locked)) == []


def test_followers_and_following_leave_out_suspended_accounts(alice, bob, carol):
    follow_create(follower=bob, target=alice)
    follow_create(follower=carol, target=alice)
    follow_create(follower=alice, target=bob)

    account_suspend(account=bob)

    assert list(account_followers(account=alice)) == [carol]
    assert list(account_following(account=alice)) == []


def test_follow_requests_for_lists_pending_follows_to_the_account(alice, bob, carol, remote):
    locked = locked_account("locked")
    r1 = follow_create(follower=alice, target=locked)
    r2 = follow_create(follower=remote, target=locked, uri="https://social.example/f/1")
    accepted = follow_create(follower=bob, target=locked)
    follow_accept(follow=accepted)
    follow_create(follower=carol, target=alice)  # to someone else
    suspended = local_account("gone")
    follow_create(follower=suspended, target=locked)
    account_suspend(account=suspended)

    requests = list(follow_requests_for(account=locked))

    assert [f.pk for f in requests] == [r2.pk, r1.pk]
    assert requests[0].follower == remote


# --- relationships_for -------------------------------------------------------------------------


def test_relationships_for_reports_every_flag(alice, bob, carol, remote):
    locked = locked_account("locked")
    dave = local_account("dave")
    erin = local_account("erin")
    follow_create(follower=alice, target=bob, show_reblogs=False, notify=True)
    follow_create(follower=bob, target=alice)
    follow_create(follower=alice, target=locked)  # requested
    follow_create(follower=locked, target=alice)  # alice unlocked: accepted → followed_by
    carol_request = follow_create(follower=carol, target=alice)
    follow_create(follower=alice, target=remote)  # remote: stays pending
    block_create(account=alice, target=carol)  # ends carol's follow
    assert not Follow.objects.filter(pk=carol_request.pk).exists()
    block_create(account=dave, target=alice)
    mute_create(account=alice, target=erin, notifications=False)
    mute_create(account=alice, target=bob)
    AccountDomainBlock.objects.create(account=alice, domain=remote.domain)

    rel = relationships_for(
        viewer=alice,
        account_ids=[bob.id, str(locked.id), carol.id, dave.id, erin.id, remote.id, alice.id],
    )

    assert rel[bob.id] == Relationship(
        id=bob.id,
        following=True,
        showing_reblogs=False,
        notifying=True,
        followed_by=True,
        muting=True,
        muting_notifications=True,
    )
    assert rel[locked.id] == Relationship(
        id=locked.id, requested=True, showing_reblogs=True, followed_by=True
    )
    assert rel[carol.id] == Relationship(id=carol.id, blocking=True)
    assert rel[dave.id] == Relationship(id=dave.id, blocked_by=True)
    assert rel[erin.id] == Relationship(id=erin.id, muting=True, muting_notifications=False)
    assert rel[remote.id] == Relationship(
        id=remote.id, requested=True, showing_reblogs=True, domain_blocking=True
    )
    assert rel[alice.id] == Relationship(id=alice.id)
    assert rel[alice.id].endorsed is False
    assert rel[alice.id].note == ""


def test_relationships_for_requested_by(alice):
    locked = locked_account("locked")
    follow_create(follower=alice, target=locked)

    rel = relationships_for(viewer=locked, account_ids=[alice.id])

    assert rel[alice.id].requested_by is True
    assert rel[alice.id].followed_by is False


def test_relationships_for_ignores_expired_mutes(alice, bob):
    mute_create(account=alice, target=bob, expires_at=timezone.now() - timedelta(minutes=1))
    assert Mute.objects.filter(account=alice, target=bob).exists()

    rel = relationships_for(viewer=alice, account_ids=[bob.id])

    assert rel[bob.id].muting is False
    assert rel[bob.id].muting_notifications is False


def test_relationships_for_skips_unknown_and_malformed_ids(alice, bob):
    rel = relationships_for(viewer=alice, account_ids=[bob.id, bob.id, "x", 12345, None])
    assert list(rel) == [bob.id]


def test_relationship_is_frozen(alice, bob):
    rel = relationships_for(viewer=alice, account_ids=[bob.id])[bob.id]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rel.following = True  # type: ignore[misc]


def test_relationships_for_uses_a_constant_number_of_queries(alice, django_assert_num_queries):
    others = [local_account(f"user{i}") for i in range(12)]
    for i, other in enumerate(others):
        if i in {1, 3, 5, 7}:
            follow_create(follower=alice, target=other)
        if i in {0, 3, 6}:
            follow_create(follower=other, target=alice)
        if i in {0, 4}:
            mute_create(account=alice, target=other)
        if i in {2, 8, 10}:
            block_create(account=other, target=alice)
    ids = [o.id for o in others]

    with django_assert_num_queries(0):
        assert relationships_for(viewer=alice, account_ids=[]) == {}
    with django_assert_num_queries(1):
        one = relationships_for(viewer=alice, account_ids=ids[:1])
    with django_assert_num_queries(1):
        many = relationships_for(viewer=alice, account_ids=ids)

    assert len(one) == 1
    assert list(many) == ids  # in the order asked for
    assert list(relationships_for(viewer=alice, account_ids=ids[::-1])) == ids[::-1]
    assert [i for i, o in enumerate(others) if many[o.id].following] == [1, 3, 5, 7]
    assert [i for i, o in enumerate(others) if many[o.id].followed_by] == [0, 3, 6]
    assert [i for i, o in enumerate(others) if many[o.id].muting] == [0, 4]
    assert [i for i, o in enumerate(others) if many[o.id].blocked_by] == [2, 8, 10]
    assert one == {others[0].id: many[others[0].id]}


# --- user_get_pending --------------------------------------------------------------------------


def test_user_get_pending_lists_users_awaiting_approval_oldest_first(alice):
    first = local_account("first", approved=False)
    second = local_account("second", approved=False)
    third = local_account("third", approved=False)
    user_approve(user=second.user)

    pending = list(user_get_pending())

    assert pending == [first.user, third.user]
    assert pending[0].account == first
