"""Service tests for ourvoice/accounts/services.py: database state plus outbox rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute, User
from ourvoice.accounts.services import (
    account_domain_block_create,
    account_domain_block_delete,
    account_silence,
    account_suspend,
    account_unsuspend,
    account_update_profile,
    block_create,
    block_delete,
    follow_accept,
    follow_create,
    follow_delete,
    follow_reject,
    mute_create,
    mute_delete,
    system_actor_get,
    user_approve,
    user_create,
    user_reject,
)
from ourvoice.core.errors import Conflict, Invalid, NotAllowed, NotFound
from tests.factories import PASSWORD, RemoteAccountFactory, local_account
from tests.ourvoice.accounts.helpers import locked_account

pytestmark = pytest.mark.django_db

BASE = f"{settings.OURVOICE_SCHEME}://{settings.OURVOICE_DOMAIN}"


def counts(account: Account) -> tuple[int, int]:
    account.refresh_from_db(fields=["followers_count", "following_count"])
    return account.followers_count, account.following_count


# --- user_create ------------------------------------------------------------------------------


def test_user_create_makes_user_account_keys_and_event(outbox, payloads):
    user = user_create(
        username="Alice",
        email=" Alice@Example.ORG ",
        password=PASSWORD,
        display_name="Alice A.",
        locale="en",
    )

    user.refresh_from_db()
    assert user.username == "Alice"
    assert user.email == "alice@example.org"
    assert user.check_password(PASSWORD)
    assert user.is_active
    assert user.approval == User.Approval.APPROVED
    assert not user.is_staff
    account = Account.objects.get(user=user)
    assert account.local
    assert account.role == Account.Role.USER
    assert account.kind == Account.Kind.PERSON
    assert account.display_name == "Alice A."
    assert account.uri == f"{BASE}/users/Alice"
    assert account.url == f"{BASE}/@Alice"
    assert account.inbox_uri == f"{BASE}/users/Alice/inbox"
    assert account.outbox_uri == f"{BASE}/users/Alice/outbox"
    assert account.shared_inbox_uri == f"{BASE}/inbox"
    assert account.followers_uri == f"{BASE}/users/Alice/followers"
    assert account.following_uri == f"{BASE}/users/Alice/following"
    assert account.key_id == f"{BASE}/users/Alice#main-key"
    assert account.private_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert account.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert outbox.kinds() == ["account.created"]
    assert payloads("account.created") == [{"account_id": account.id}]


@pytest.mark.real_keys
def test_user_create_generates_a_distinct_rsa_2048_key_pair_per_account():
    alice = local_account("alice")
    bob = local_account("bob")

    private = serialization.load_pem_private_key(alice.private_key_pem.encode(), password=None)
    public = serialization.load_pem_public_key(alice.public_key_pem.encode())
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    assert private.public_key().public_numbers() == public.public_numbers()
    assert alice.public_key_pem != bob.public_key_pem


def test_user_create_admin_and_pending_flags():
    admin = user_create(username="boss", email="boss@example.org", password=PASSWORD, is_admin=True)
    pending = user_create(
        username="newbie",
        email="newbie@example.org",
        password=PASSWORD,
        approved=False,
        reason="I'd like to join",
    )

    assert admin.is_staff and admin.is_superuser
    pending.refresh_from_db()
    assert pending.approval == User.Approval.PENDING
    assert not pending.is_active
    assert pending.signup_reason == "I'd like to join"


def test_user_create_reserved_names_can_be_allowed_except_moderation():
    user = user_create(
        username="admin", email="admin@example.org", password=PASSWORD, allow_reserved=True
    )
    assert user.account.username == "admin"
    with pytest.raises(Invalid) as exc:
        user_create(
            username="Moderation", email="m@example.org", password=PASSWORD, allow_reserved=True
        )
    assert exc.value.field == "username"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"username": "bad name"}, "username", id="space-in-username"),
        pytest.param({"username": ""}, "username", id="empty-username"),
        pytest.param({"username": "a-b"}, "username", id="dash-in-username"),
        pytest.param({"username": "x" * 31}, "username", id="username-too-long"),
        pytest.param({"username": "jürgen"}, "username", id="non-ascii-username"),
        pytest.param({"username": "admin"}, "username", id="reserved"),
        pytest.param({"username": "Moderation"}, "username", id="reserved-any-case"),
        pytest.param({"username": "ALICE"}, "username", id="duplicate-username-case"),
        pytest.param({"email": "ALICE@example.org"}, "email", id="duplicate-email-case"),
        pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
        pytest.param({"email": ""}, "email", id="empty-email"),
        pytest.param({"password": "abc"}, "password", id="short-password"),
        pytest.param({"password": "password"}, "password", id="common-password"),
        pytest.param({"display_name": "x" * 31}, "display_name", id="display-name-too-long"),
    ],
)
def test_user_create_bad_input_raises_invalid_and_writes_nothing(alice, outbox, kwargs, field):
    users, accounts, events = User.objects.count(), Account.objects.count(), outbox.kinds()
    arguments = {"username": "newbie", "email": "newbie@example.org", "password": PASSWORD}

    with pytest.raises(Invalid) as exc:
        user_create(**{**arguments, **kwargs})

    assert exc.value.field == field
    assert User.objects.count() == users
    assert Account.objects.count() == accounts
    assert outbox.kinds() == events


def test_user_create_race_on_username_leaves_no_rows(outbox):
    # A login without an account (e.g. from `createsuperuser`) passes the pre-checks; the
    # database's case-insensitive unique constraint must still refuse it, cleanly.
    User.objects.create_user(username="bob", email="other@example.org", password=PASSWORD)
    accounts = Account.objects.count()

    with pytest.raises(Invalid):
        user_create(username="BOB", email="bob@example.org", password=PASSWORD)

    assert User.objects.filter(username__iexact="bob").count() == 1
    assert Account.objects.count() == accounts
    assert outbox.kinds() == []


# --- user_approve / user_reject ----------------------------------------------------------------


def test_user_approve_activates_a_pending_user():
    account = local_account("newbie", approved=False)

    user = user_approve(user=account.user)

    assert user.approval == User.Approval.APPROVED
    assert user.is_active
    user = User.objects.get(pk=user.pk)
    assert (user.approval, user.is_active) == (User.Approval.APPROVED, True)


def test_user_approve_is_idempotent_and_keeps_a_suspension():
    account = local_account("newbie", approved=False)
    account_suspend(account=account)

    user_approve(user=account.user)
    user_approve(user=account.user)

    user = User.objects.get(pk=account.user_id)
    assert user.approval == User.Approval.APPROVED
    assert not user.is_active  # approving must not lift the suspension
    account_unsuspend(account=account)
    assert User.objects.get(pk=account.user_id).is_active


def test_user_reject_deletes_a_pending_user_and_account():
    account = local_account("newbie", approved=False)

    user_reject(user=account.user)

    assert not User.objects.filter(username="newbie").exists()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_user_reject_refuses_an_approved_user(alice):
    with pytest.raises(Conflict):
        user_reject(user=alice.user)
    assert User.objects.filter(pk=alice.user_id).exists()


def test_user_reject_twice_is_not_found():
    account = local_account("newbie", approved=False)
    user = account.user
    user_reject(user=User.objects.get(pk=user.pk))
    with pytest.raises(NotFound):
        user_reject(user=user)


# --- system_actor_get --------------------------------------------------------------------------


def test_system_actor_get_instance_actor():
    actor = system_actor_get(role=Account.Role.INSTANCE)

    assert actor.local
    assert actor.kind == Account.Kind.APPLICATION
    assert actor.username == settings.OURVOICE_DOMAIN
    assert actor.uri == f"{BASE}/actor"
    assert actor.private_key_pem
    assert actor.user_id is None


def test_system_actor_get_moderation_actor():
    actor = system_actor_get(role="moderation")

    assert actor.local
    assert actor.kind == Account.Kind.SERVICE
    assert actor.username == "moderation"
    assert actor.uri == f"{BASE}/users/moderation"


def test_system_actor_get_refuses_other_roles():
    with pytest.raises(Invalid):
        system_actor_get(role=Account.Role.USER)


# --- account_update_profile --------------------------------------------------------------------


def test_account_update_profile_renders_escaped_html(alice, bob, payloads):
    source = "I <3 <b>tea</b> & @bob\n\nSee https://example.com/x?a=1&b=2 #Tea"

    account = account_update_profile(account=alice, note=source, display_name="Alice")

    alice.refresh_from_db()
    assert account.note == alice.note
    assert alice.note_source == source
    assert alice.display_name == "Alice"
    assert "<b>" not in alice.note
    assert "I &lt;3 &lt;b&gt;tea&lt;/b&gt; &amp;" in alice.note
    assert alice.note.startswith("<p>") and "</p><p>" in alice.note
    assert f'href="{bob.url}"' in alice.note
    assert 'class="u-url mention"' in alice.note
    assert 'href="https://example.com/x?a=1&amp;b=2"' in alice.note
    assert f'href="{BASE}/tags/tea"' in alice.note
    assert payloads("account.updated") == [{"account_id": alice.id}]


def test_account_update_profile_fields_flags_and_images(alice):
    account_update_profile(
        account=alice,
        fields=[
            {"name": "Site", "value": "https://example.com"},
            {"name": "Pronouns", "value": "<script>alert(1)</script><b>she</b>"},
            {"name": "", "value": ""},
            {"name": "Two\nlines", "value": "a\n\nb"},
        ],
        locked=True,
        bot=True,
        discoverable=False,
        indexable=True,
        avatar_url="https://cdn.example/a.png",
    )

    alice.refresh_from_db()
    assert [f["name"] for f in alice.fields] == ["Site", "Pronouns", "Two lines"]
    assert alice.fields[0]["value"].startswith('<a href="https://example.com"')
    assert "script" not in alice.fields[1]["value"]
    assert "<b>she</b>" in alice.fields[1]["value"]
    assert alice.fields[2]["value"] == "a b"
    assert (alice.locked, alice.bot, alice.discoverable, alice.indexable) == (
        True,
        True,
        False,
        True,
    )
    assert alice.avatar_url == "https://cdn.example/a.png"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"display_name": "x" * 31}, id="display-name"),
        pytest.param({"note": "x" * 501}, id="note"),
        pytest.param({"fields": [{"name": str(i), "value": "v"} for i in range(5)]}, id="5-fields"),
        pytest.param({"fields": [{"name": "n", "value": "v" * 256}]}, id="field-value"),
        pytest.param({"fields": ["not a dict"]}, id="field-shape"),
    ],
)
def test_account_update_profile_too_long_is_invalid_and_changes_nothing(alice, outbox, kwargs):
    before = outbox.kinds()

    with pytest.raises(Invalid):
        account_update_profile(account=alice, locked=True, **kwargs)

    assert not alice.locked  # the object passed in is untouched as well
    alice.refresh_from_db()
    assert not alice.locked
    assert alice.display_name == ""
    assert alice.note == ""
    assert outbox.kinds() == before


def test_account_update_profile_without_changes_records_nothing(alice, payloads):
    account_update_profile(account=alice)
    assert payloads("account.updated") == []


def test_account_update_profile_refuses_remote_accounts(remote):
    with pytest.raises(NotAllowed):
        account_update_profile(account=remote, display_name="Hacked")
    remote.refresh_from_db()
    assert remote.display_name != "Hacked"


# --- account_suspend / account_unsuspend / account_silence -------------------------------------


def test_account_suspend_and_unsuspend_a_local_account(alice, bob, payloads):
    follow_create(follower=alice, target=bob)

    account_suspend(account=alice)

    alice.refresh_from_db()
    assert alice.is_suspended
    assert not User.objects.get(pk=alice.user_id).is_active
    # Local suspension is reversible: follows stay.
    assert Follow.objects.filter(follower=alice, target=bob).exists()
    assert payloads("account.suspended") == [{"account_id": alice.id}]

    account_unsuspend(account=alice)

    alice.refresh_from_db()
    assert not alice.is_suspended
    assert User.objects.get(pk=alice.user_id).is_active
    assert payloads("account.unsuspended") == [{"account_id": alice.id}]


def test_account_suspend_twice_records_one_event(alice, payloads):
    account_suspend(account=alice)
    first = Account.objects.get(pk=alice.pk).suspended_at
    account_suspend(account=Account.objects.get(pk=alice.pk))
    account_suspend(account=alice)

    assert Account.objects.get(pk=alice.pk).suspended_at == first
    assert len(payloads("account.suspended")) == 1


def test_account_unsuspend_of_an_active_account_does_nothing(alice, payloads):
    account_unsuspend(account=alice)
    assert payloads("account.unsuspended") == []


def test_account_unsuspend_keeps_a_pending_login_inactive(payloads):
    account = local_account("newbie", approved=False)
    account_suspend(account=account)

    account_unsuspend(account=account)

    assert not User.objects.get(pk=account.user_id).is_active
    assert len(payloads("account.unsuspended")) == 1


@pytest.mark.parametrize("role", [Account.Role.INSTANCE, Account.Role.MODERATION])
def test_account_suspend_refuses_system_actors(role, payloads):
    actor = system_actor_get(role=role)

    with pytest.raises(NotAllowed):
        account_suspend(account=actor)

    assert not Account.objects.get(pk=actor.pk).is_suspended
    assert payloads("account.suspended") == []


def test_account_suspend_of_a_remote_account_rejects_its_follows_of_local_accounts(
    alice, bob, payloads
):
    spammer = RemoteAccountFactory()
    follow = follow_create(follower=spammer, target=alice, uri="https://x.example/f/1")
    follow_accept(follow=follow)
    alice_follows_spammer = follow_create(follower=alice, target=spammer)
    follow_accept(follow=alice_follows_spammer)
    request = follow_create(
        follower=spammer, target=locked_account("locked"), uri="https://x.example/f/2"
    )
    assert counts(alice) == (1, 1)

    account_suspend(account=spammer)

    assert not Follow.objects.filter(follower=spammer).exists()
    assert Follow.objects.filter(pk=alice_follows_spammer.pk).exists()
    assert counts(alice) == (0, 1)
    assert {p["follow_id"] for p in payloads("follow.rejected")} == {follow.id, request.id}
    assert payloads("account.suspended") == [{"account_id": spammer.id}]


def test_account_silence_and_unsilence(alice):
    account_silence(account=alice, silenced=True)
    alice.refresh_from_db()
    first = alice.silenced_at
    assert first is not None

    account_silence(account=alice, silenced=True)
    alice.refresh_from_db()
    assert alice.silenced_at == first  # silencing again keeps the original time

    account_silence(account=alice, silenced=False)
    alice.refresh_from_db()
    assert alice.silenced_at is None
    assert not alice.is_suspended


# --- follow_create / follow_accept / follow_reject / follow_delete -----------------------------


def test_follow_create_unlocked_local_target_is_accepted_at_once(alice, bob, outbox, payloads):
    before = outbox.kinds()

    follow = follow_create(follower=alice, target=bob, notify=True)

    follow.refresh_from_db()
    assert follow.state == Follow.State.ACCEPTED
    assert follow.accepted_at is not None
    assert follow.notify
    assert follow.uri == f"{BASE}/users/alice/follows/{follow.id}"
    assert counts(bob) == (1, 0)
    assert counts(alice) == (0, 1)
    assert outbox.kinds()[len(before) :] == ["follow.requested", "follow.accepted"]
    expected = {"follow_id": follow.id, "follower_id": alice.id, "target_id": bob.id}
    assert payloads("follow.requested") == [expected]
    assert payloads("follow.accepted") == [expected]


def test_follow_create_locked_target_stays_pending_until_accepted(alice, payloads):
    locked = locked_account("locked")

    follow = follow_create(follower=alice, target=locked)

    assert Follow.objects.get(pk=follow.pk).state == Follow.State.PENDING
    assert counts(locked) == (0, 0)
    assert counts(alice) == (0, 0)
    assert len(payloads("follow.requested")) == 1
    assert payloads("follow.accepted") == []

    follow_accept(follow=follow)
    follow_accept(follow=follow)  # accepting twice counts once

    assert Follow.objects.get(pk=follow.pk).state == Follow.State.ACCEPTED
    assert counts(locked) == (1, 0)
    assert counts(alice) == (0, 1)
    assert len(payloads("follow.accepted")) == 1


def test_follow_create_remote_target_stays_pending(alice, remote):
    follow = follow_create(follower=alice, target=remote)
    assert follow.state == Follow.State.PENDING
    assert counts(alice) == (0, 0)


def test_follow_create_remote_follower_needs_the_activity_id(alice, remote):
    with pytest.raises(Invalid):
        follow_create(follower=remote, target=alice)
    assert not Follow.objects.exists()

    follow = follow_create(follower=remote, target=alice, uri="https://social.example/f/1")
    assert follow.uri == "https://social.example/f/1"
    assert follow.state == Follow.State.ACCEPTED


def test_follow_create_of_oneself_is_invalid(alice, payloads):
    with pytest.raises(Invalid):
        follow_create(follower=alice, target=alice)
    assert not Follow.objects.exists()
    assert payloads("follow.requested") == []


@pytest.mark.parametrize("blocker", ["follower", "target"])
def test_follow_create_refused_when_blocked_either_way(alice, bob, blocker):
    if blocker == "follower":
        block_create(account=alice, target=bob)
    else:
        block_create(account=bob, target=alice)

    with pytest.raises(NotAllowed):
        follow_create(follower=alice, target=bob)
    assert not Follow.objects.exists()


@pytest.mark.parametrize("suspended", ["follower", "target"])
def test_follow_create_refused_when_suspended(alice, bob, suspended):
    account_suspend(account=alice if suspended == "follower" else bob)
    alice.refresh_from_db()
    bob.refresh_from_db()

    with pytest.raises(NotAllowed):
        follow_create(follower=alice, target=bob)
    assert not Follow.objects.exists()


def test_follow_create_again_is_idempotent_and_updates_options(alice, bob, payloads):
    first = follow_create(follower=alice, target=bob)

    again = follow_create(follower=alice, target=bob, show_reblogs=False, notify=True)

    assert again.pk == first.pk
    assert Follow.objects.filter(follower=alice, target=bob).count() == 1
    stored = Follow.objects.get(pk=first.pk)
    assert (stored.show_reblogs, stored.notify) == (False, True)
    assert counts(bob) == (1, 0)
    assert counts(alice) == (0, 1)
    assert len(payloads("follow.requested")) == 1
    assert len(payloads("follow.accepted")) == 1


def test_follow_reject_of_a_request_removes_it_without_touching_counters(alice, payloads):
    locked = locked_account("locked")
    follow = follow_create(follower=alice, target=locked)

    follow_reject(follow=follow)

    assert not Follow.objects.filter(pk=follow.pk).exists()
    assert counts(locked) == (0, 0)
    assert payloads("follow.rejected") == [
        {
            "follow_id": follow.id,
            "follower_id": alice.id,
            "target_id": locked.id,
            "uri": follow.uri,
        }
    ]
    follow_reject(follow=follow)  # already gone: nothing happens
    assert len(payloads("follow.rejected")) == 1


def test_follow_reject_of_an_accepted_follow_decrements_counters(alice, bob):
    follow = follow_create(follower=alice, target=bob)

    follow_reject(follow=follow)

    assert counts(bob) == (0, 0)
    assert counts(alice) == (0, 0)


def test_follow_delete_decrements_counters_and_records_event(alice, bob, carol, payloads):
    follow = follow_create(follower=alice, target=bob)
    follow_create(follower=carol, target=bob)
    assert counts(bob) == (2, 0)

    assert follow_delete(follower=alice, target=bob) is True

    assert not Follow.objects.filter(follower=alice, target=bob).exists()
    assert counts(bob) == (1, 0)
    assert counts(alice) == (0, 0)
    assert payloads("follow.deleted") == [
        {"follow_id": follow.id, "follower_id": alice.id, "target_id": bob.id, "uri": follow.uri}
    ]


def test_follow_delete_returns_false_when_nothing_to_undo(alice, bob, payloads):
    assert follow_delete(follower=alice, target=bob) is False
    assert payloads("follow.deleted") == []


def test_follow_delete_of_a_pending_request_keeps_counters(alice):
    locked = locked_account("locked")
    follow_create(follower=alice, target=locked)

    assert follow_delete(follower=alice, target=locked) is True
    assert counts(locked) == (0, 0)
    assert counts(alice) == (0, 0)


# --- block_create / block_delete ---------------------------------------------------------------


def test_block_create_ends_follows_both_ways(alice, bob, payloads):
    mine = follow_create(follower=alice, target=bob)
    theirs = follow_create(follower=bob, target=alice)
    assert counts(alice) == (1, 1)

    block = block_create(account=alice, target=bob)

    assert not Follow.objects.filter(pk__in=[mine.pk, theirs.pk]).exists()
    assert counts(alice) == (0, 0)
    assert counts(bob) == (0, 0)
    assert block.uri == f"{BASE}/users/alice/blocks/{block.id}"
    assert [p["follow_id"] for p in payloads("follow.deleted")] == [mine.id]
    assert [p["follow_id"] for p in payloads("follow.rejected")] == [theirs.id]
    assert payloads("block.created") == [
        {"block_id": block.id, "account_id": alice.id, "target_id": bob.id}
    ]


def test_block_create_is_idempotent(alice, bob, payloads):
    first = block_create(account=alice, target=bob)
    again = block_create(account=alice, target=bob)

    assert again.pk == first.pk
    assert Block.objects.filter(account=alice, target=bob).count() == 1
    assert len(payloads("block.created")) == 1


def test_block_create_of_oneself_is_invalid(alice):
    with pytest.raises(Invalid):
        block_create(account=alice, target=alice)
    assert not Block.objects.exists()


def test_block_create_remote_keeps_its_activity_id(alice, remote):
    block = block_create(account=remote, target=alice, uri="https://social.example/b/1")
    assert block.uri == "https://social.example/b/1"


def test_block_delete(alice, bob, payloads):
    block = block_create(account=alice, target=bob)

    assert block_delete(account=alice, target=bob) is True

    assert not Block.objects.exists()
    assert payloads("block.deleted") == [
        {"block_id": block.id, "account_id": alice.id, "target_id": bob.id, "uri": block.uri}
    ]
    assert block_delete(account=alice, target=bob) is False
    assert len(payloads("block.deleted")) == 1
    follow_create(follower=alice, target=bob)  # following works again


# --- mute_create / mute_delete -----------------------------------------------------------------


def test_mute_create_and_update(alice, bob):
    expires = timezone.now() + timedelta(days=1)

    mute = mute_create(account=alice, target=bob)
    assert mute.notifications is True
    assert mute.expires_at is None

    again = mute_create(account=alice, target=bob, notifications=False, expires_at=expires)

    assert again.pk == mute.pk
    stored = Mute.objects.get(account=alice, target=bob)
    assert stored.notifications is False
    assert stored.expires_at == expires


def test_mute_create_of_oneself_is_invalid(alice):
    with pytest.raises(Invalid):
        mute_create(account=alice, target=alice)
    assert not Mute.objects.exists()


def test_mute_delete(alice, bob):
    mute_create(account=alice, target=bob)

    assert mute_delete(account=alice, target=bob) is True
    assert not Mute.objects.exists()
    assert mute_delete(account=alice, target=bob) is False


# --- account_domain_block_create / account_domain_block_delete ---------------------------------


def test_account_domain_block_create_ends_follows_with_that_domain(alice, bob, payloads):
    zed = RemoteAccountFactory(username="zed", domain="social.example")
    yan = RemoteAccountFactory(username="yan", domain="social.example")
    elsewhere = RemoteAccountFactory(username="xi", domain="other.example")
    mine = follow_create(follower=alice, target=zed)
    follow_accept(follow=mine)
    theirs = follow_create(follower=yan, target=alice, uri="https://social.example/f/1")
    kept = follow_create(follower=alice, target=elsewhere)
    follow_create(follower=bob, target=alice)
    assert counts(alice) == (2, 1)

    block = account_domain_block_create(account=alice, domain="https://Social.Example/about")

    assert block.domain == "social.example"
    assert AccountDomainBlock.objects.filter(account=alice, domain="social.example").exists()
    assert not Follow.objects.filter(pk__in=[mine.pk, theirs.pk]).exists()
    assert Follow.objects.filter(pk=kept.pk).exists()
    assert counts(alice) == (1, 0)
    assert [p["follow_id"] for p in payloads("follow.deleted")] == [mine.id]
    assert [p["follow_id"] for p in payloads("follow.rejected")] == [theirs.id]

    again = account_domain_block_create(account=alice, domain="social.example")
    assert again.pk == block.pk
    assert AccountDomainBlock.objects.filter(account=alice).count() == 1


@pytest.mark.parametrize(
    "domain", ["", "not a domain", "exa mple.org", "-bad.example", settings.OURVOICE_DOMAIN]
)
def test_account_domain_block_create_refuses_bad_or_own_domains(alice, domain):
    with pytest.raises(Invalid):
        account_domain_block_create(account=alice, domain=domain)
    assert not AccountDomainBlock.objects.exists()


def test_account_domain_block_delete(alice):
    account_domain_block_create(account=alice, domain="social.example")

    assert account_domain_block_delete(account=alice, domain="SOCIAL.example") is True
    assert not AccountDomainBlock.objects.exists()
    assert account_domain_block_delete(account=alice, domain="social.example") is False
