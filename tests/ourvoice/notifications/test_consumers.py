"""Each notification consumer, driven through the outbox by real domain changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Follow
from ourvoice.accounts.services import (
    account_update_profile,
    block_create,
    follow_accept,
    follow_create,
    follow_delete,
    follow_reject,
    mute_create,
)
from ourvoice.core.models import OutboxEvent, OutboxReceipt
from ourvoice.core.outbox import outbox_event_dispatch, outbox_record
from ourvoice.events import CONSUMERS
from ourvoice.interactions.services import like_create, like_delete, repost_create, repost_delete
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import Mention, Post, Visibility
from ourvoice.posts.services import post_delete, post_update
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db


def lock(account: Account) -> Account:
    return account_update_profile(account=account, locked=True)


# --- mention ----------------------------------------------------------------------------------


def test_mention_notifies_local_mentioned_accounts_once(
    alice, bob, carol, remote, post_of, outbox, notes
):
    post = post_of(alice, "hi @bob and @alice and @rita@remote.example")
    outbox.drain()

    assert notes(bob) == [("mention", "alice", post.id)]
    assert notes(alice) == []  # the author never notifies itself
    assert notes(carol) == []
    assert not Notification.objects.filter(recipient=remote).exists()


def test_mention_in_a_direct_post_and_in_a_reply(alice, bob, post_of, outbox, notes):
    direct = post_of(alice, "psst @bob", visibility=Visibility.DIRECT)
    reply = post_of(bob, "@alice yes?", in_reply_to=direct)
    outbox.drain()

    assert notes(bob) == [("mention", "alice", direct.id)]
    assert notes(alice) == [("mention", "bob", reply.id)]


def test_mention_notification_from_a_remote_post_author(alice, remote, outbox, notes):
    """A remote post stored by federation mentions a local account (no federation yet: the
    rows are what `post_upsert_remote` will write, plus its event)."""
    post = Post.objects.create(
        author=remote, content="<p>@alice</p>", local=False, uri="https://remote.example/n/1"
    )
    Mention.objects.create(post=post, account=alice)
    outbox_record(kind="post.created", payload={"post_id": post.id, "author_id": remote.id})
    outbox.drain()

    assert notes(alice) == [("mention", "rita@remote.example", post.id)]


# --- status -----------------------------------------------------------------------------------


def test_status_only_for_followers_who_asked_for_it(
    alice, bob, carol, remote, post_of, outbox, notes
):
    follow_create(follower=carol, target=alice, notify=True)
    follow_create(follower=bob, target=alice)  # notify off
    follow_create(follower=remote, target=alice, uri="https://remote.example/f/1", notify=True)
    outbox.drain()

    post = post_of(alice, "news")
    outbox.drain()

    assert notes(carol) == [("status", "alice", post.id)]
    assert notes(bob) == []
    assert not Notification.objects.filter(recipient=remote).exists()
    assert notes(alice, "status") == []


def test_status_for_followers_only_posts_but_not_replies_or_direct(
    alice, bob, carol, post_of, outbox, notes
):
    follow_create(follower=carol, target=alice, notify=True)
    private = post_of(alice, "friends only", visibility=Visibility.PRIVATE)
    post_of(alice, "a reply", in_reply_to=private)
    post_of(alice, "hi @bob", visibility=Visibility.DIRECT)
    outbox.drain()

    assert notes(carol) == [("status", "alice", private.id)]


def test_status_not_for_a_pending_follower(alice, carol, post_of, outbox, notes):
    lock(alice)
    follow_create(follower=carol, target=alice, notify=True)
    post_of(alice, "news")
    outbox.drain()

    assert notes(carol) == []


def test_mentioned_subscriber_gets_only_the_mention(alice, bob, post_of, outbox, notes):
    follow_create(follower=bob, target=alice, notify=True)
    post = post_of(alice, "@bob look")
    outbox.drain()

    assert notes(bob) == [("mention", "alice", post.id)]


def test_notify_can_be_switched_on_by_following_again(alice, carol, post_of, outbox, notes):
    follow_create(follower=carol, target=alice)
    post_of(alice, "before")
    outbox.drain()
    follow_create(follower=carol, target=alice, notify=True)
    after = post_of(alice, "after")
    outbox.drain()

    assert notes(carol) == [("status", "alice", after.id)]


# --- reblog and favourite ---------------------------------------------------------------------


def test_reblog(alice, bob, remote, post_of, outbox, notes):
    post = post_of(alice)
    repost_create(account=bob, post=post)
    repost_create(account=alice, post=post)  # a self-boost notifies no one
    repost_create(account=remote, post=post, uri="https://remote.example/announces/1")
    outbox.drain()

    assert notes(alice) == [("reblog", "bob", post.id), ("reblog", "rita@remote.example", post.id)]


def test_reblog_of_a_remote_post_notifies_no_one_here(alice, remote, outbox):
    post = Post.objects.create(author=remote, local=False, uri="https://remote.example/n/2")
    repost_create(account=alice, post=post)
    outbox.drain()

    assert not Notification.objects.exists()


def test_favourite(alice, bob, remote, post_of, outbox, notes):
    post = post_of(alice)
    like_create(account=bob, post=post)
    like_create(account=alice, post=post)
    like_create(account=remote, post=post, uri="https://remote.example/likes/1")
    outbox.drain()

    assert notes(alice) == [
        ("favourite", "bob", post.id),
        ("favourite", "rita@remote.example", post.id),
    ]


def test_like_unlike_like_notifies_once(alice, bob, post_of, outbox, notes):
    post = post_of(alice)
    like_create(account=bob, post=post)
    outbox.drain()
    like_delete(account=bob, post=post)
    like_create(account=bob, post=post)
    repost_create(account=bob, post=post)
    repost_delete(account=bob, post=post)
    repost_create(account=bob, post=post)
    outbox.drain()

    assert notes(alice) == [("favourite", "bob", post.id), ("reblog", "bob", post.id)]


def test_like_undone_before_dispatch_notifies_no_one(alice, bob, post_of, outbox, notes):
    post = post_of(alice)
    like_create(account=bob, post=post)
    like_delete(account=bob, post=post)
    outbox.drain()

    assert notes(alice) == []


# --- follow and follow_request ----------------------------------------------------------------


def test_follow_of_an_unlocked_account(alice, bob, outbox, notes):
    follow_create(follower=bob, target=alice)
    outbox.drain()

    assert notes(alice) == [("follow", "bob", None)]
    assert notes(bob) == []


def test_follow_request_of_a_locked_account_then_accept(alice, bob, outbox, notes):
    lock(alice)
    follow = follow_create(follower=bob, target=alice)
    outbox.drain()
    assert notes(alice) == [("follow_request", "bob", None)]

    follow_accept(follow=follow)
    outbox.drain()

    assert Follow.objects.get(pk=follow.pk).state == Follow.State.ACCEPTED
    assert notes(alice) == [("follow_request", "bob", None)]  # no extra `follow`
    assert notes(bob) == []


def test_follow_request_again_after_a_rejection_notifies_again(alice, bob, outbox, notes):
    lock(alice)
    first = follow_create(follower=bob, target=alice)
    outbox.drain()
    follow_reject(follow=first)
    follow_create(follower=bob, target=alice)
    outbox.drain()

    assert notes(alice) == [("follow_request", "bob", None), ("follow_request", "bob", None)]


def test_new_follow_after_an_old_accepted_request_notifies(alice, bob, outbox, notes):
    lock(alice)
    first = follow_create(follower=bob, target=alice)
    outbox.drain()
    follow_accept(follow=first)
    outbox.drain()
    follow_delete(follower=bob, target=alice)
    account_update_profile(account=alice, locked=False)

    follow_create(follower=bob, target=alice)
    outbox.drain()

    assert notes(alice) == [("follow_request", "bob", None), ("follow", "bob", None)]


def test_remote_follow_of_a_locked_account(alice, remote, outbox, notes):
    lock(alice)
    follow_create(follower=remote, target=alice, uri="https://remote.example/follows/1")
    outbox.drain()

    assert notes(alice) == [("follow_request", "rita@remote.example", None)]


def test_follow_of_a_remote_account_notifies_no_one_here(alice, remote, outbox):
    follow = follow_create(follower=alice, target=remote)  # pending until its server accepts
    follow_accept(follow=follow)
    outbox.drain()

    assert not Notification.objects.exists()


# --- update -----------------------------------------------------------------------------------


def test_update_for_local_boosters_and_repliers(alice, bob, carol, remote, post_of, outbox, notes):
    dave = local_account("dave")
    erin = local_account("erin")
    post = post_of(alice, "first draft")
    repost_create(account=bob, post=post)
    post_of(carol, "@alice nice", in_reply_to=post)
    like_create(account=dave, post=post)  # a like alone is not enough
    repost_create(account=erin, post=post)
    repost_delete(account=erin, post=post)  # boosted, then undid it
    repost_create(account=remote, post=post, uri="https://remote.example/announces/2")
    post_of(alice, "and a self-reply", in_reply_to=post)
    outbox.drain()
    Notification.objects.all().delete()

    post_update(post=post, editor=alice, text="second draft")
    outbox.drain()

    assert notes(bob) == [("update", "alice", post.id)]
    assert notes(carol) == [("update", "alice", post.id)]
    assert notes(dave) == notes(erin) == notes(alice) == []
    assert not Notification.objects.filter(recipient=remote).exists()

    post_update(post=post, editor=alice, text="third draft")  # each edit notifies again
    outbox.drain()
    assert notes(bob) == [("update", "alice", post.id)] * 2


def test_update_skips_a_deleted_reply(alice, carol, post_of, outbox, notes):
    post = post_of(alice, "draft")
    reply = post_of(carol, "@alice hm", in_reply_to=post)
    post_delete(post=reply, actor=carol)
    post_update(post=post, editor=alice, text="fixed")
    outbox.drain()

    assert notes(carol) == []


# --- admin.sign_up ----------------------------------------------------------------------------


def test_admin_sign_up(db, outbox, notes):
    boss = local_account("boss", is_admin=True)
    other_boss = local_account("chief", is_admin=True)
    someone = local_account("someone")
    outbox.drain()
    Notification.objects.all().delete()

    newbie = local_account("newbie")
    waiting = local_account("waiting", approved=False)
    outbox.drain()

    for admin in (boss, other_boss):
        assert notes(admin) == [
            ("admin.sign_up", "newbie", None),
            ("admin.sign_up", "waiting", None),
        ]
    assert notes(someone) == notes(newbie) == notes(waiting) == []


def test_admin_sign_up_not_for_remote_accounts(db, outbox, notes):
    boss = local_account("boss", is_admin=True)
    outbox.drain()
    Notification.objects.all().delete()
    remote = RemoteAccountFactory()

    outbox_record(kind="account.created", payload={"account_id": remote.id})
    outbox.drain()

    assert notes(boss) == []


# --- repeated events never notify twice -------------------------------------------------------


def _mention(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    post_of(w["alice"], "hi @bob")
    return "post.created", w["bob"], "mention"


def _status(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    follow_create(follower=w["bob"], target=w["alice"], notify=True)
    post_of(w["alice"], "news")
    return "post.created", w["bob"], "status"


def _reblog(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    repost_create(account=w["bob"], post=post_of(w["alice"]))
    return "repost.created", w["alice"], "reblog"


def _favourite(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    like_create(account=w["bob"], post=post_of(w["alice"]))
    return "like.created", w["alice"], "favourite"


def _follow(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    follow_create(follower=w["bob"], target=w["alice"])
    return "follow.accepted", w["alice"], "follow"


def _follow_request(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    lock(w["alice"])
    follow_create(follower=w["bob"], target=w["alice"])
    return "follow.requested", w["alice"], "follow_request"


def _update(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    post = post_of(w["alice"])
    repost_create(account=w["bob"], post=post)
    post_update(post=post, editor=w["alice"], text="edited")
    return "post.updated", w["bob"], "update"


def _sign_up(w: dict[str, Account], post_of: Callable) -> tuple[str, Account, str]:
    boss = local_account("boss", is_admin=True)
    local_account("newbie")
    return "account.created", boss, "admin.sign_up"


SCENARIOS = [_mention, _status, _reblog, _favourite, _follow, _follow_request, _update, _sign_up]


def _forget_receipts(event_ids: list[int]) -> None:
    """Make the events look never dispatched (as after a lost receipt or a restored backup)."""
    events = OutboxEvent.objects.filter(pk__in=event_ids)
    OutboxReceipt.objects.filter(event__in=events).delete()
    events.update(processed_at=None)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__.strip("_"))
def test_repeated_event_never_notifies_twice(alice, bob, post_of, outbox, scenario):
    outbox.drain()  # the sign-ups of alice and bob
    earlier = set(OutboxEvent.objects.values_list("id", flat=True))
    kind, recipient, type_ = scenario({"alice": alice, "bob": bob}, post_of)
    event_ids = list(
        OutboxEvent.objects.filter(kind=kind)
        .exclude(pk__in=earlier)
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert event_ids

    # The same event dispatched twice (a retried task, the sweep racing the first run).
    for event_id in event_ids:
        assert outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS)
        assert outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS)
    outbox.drain()
    rows = list(Notification.objects.filter(recipient=recipient, type=type_).values_list("id"))
    assert len(rows) == 1
    everything = set(Notification.objects.values_list("id", "recipient_id", "type"))

    # The receipts are gone, so the consumers really run again: only dedupe_key stops them.
    _forget_receipts(event_ids)
    for event_id in event_ids:
        assert outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS)
    assert OutboxReceipt.objects.filter(event_id__in=event_ids).exists()
    assert OutboxEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).count() == 0

    assert set(Notification.objects.values_list("id", "recipient_id", "type")) == everything


# --- filtered senders -------------------------------------------------------------------------


def _everything_from(sender: Account, target: Account, post_of: Callable) -> None:
    """Mention, like, boost and follow `target` as `sender`."""
    post = post_of(target, "mine")
    post_of(sender, f"hey @{target.username}")
    like_create(account=sender, post=post)
    repost_create(account=sender, post=post)
    follow_create(follower=sender, target=target)


def test_none_from_an_account_the_recipient_blocked(alice, bob, post_of, outbox, notes):
    post = post_of(alice, "mine")
    like_create(account=bob, post=post)  # before the block, dispatched after it
    block_create(account=alice, target=bob)
    post_of(bob, "hey @alice")
    outbox.drain()

    assert notes(alice) == []


def test_none_from_an_account_that_blocks_the_recipient(alice, bob, post_of, outbox, notes):
    block_create(account=bob, target=alice)
    post_of(bob, "hey @alice")
    outbox.drain()

    assert notes(alice) == []


def test_none_from_a_muted_account(alice, bob, post_of, outbox, notes):
    mute_create(account=alice, target=bob, notifications=True)
    _everything_from(bob, alice, post_of)
    outbox.drain()

    assert notes(alice) == []


def test_mute_without_notifications_still_notifies(alice, bob, post_of, outbox, notes):
    mute_create(account=alice, target=bob, notifications=False)
    _everything_from(bob, alice, post_of)
    outbox.drain()

    assert sorted(t for t, _, _ in notes(alice)) == ["favourite", "follow", "mention", "reblog"]


def test_an_expired_timed_mute_no_longer_filters(alice, bob, post_of, outbox, notes):
    mute_create(account=alice, target=bob, expires_at=timezone.now() - timedelta(seconds=1))
    _everything_from(bob, alice, post_of)
    outbox.drain()

    assert len(notes(alice)) == 4


def test_a_running_timed_mute_filters(alice, bob, post_of, outbox, notes):
    mute_create(account=alice, target=bob, expires_at=timezone.now() + timedelta(hours=1))
    _everything_from(bob, alice, post_of)
    outbox.drain()

    assert notes(alice) == []


def test_none_from_a_domain_the_recipient_blocked(alice, remote, post_of, outbox, notes):
    AccountDomainBlock.objects.create(account=alice, domain="remote.example")
    elsewhere = RemoteAccountFactory(username="otto", domain="other.example")
    post = post_of(alice, "mine")
    like_create(account=remote, post=post, uri="https://remote.example/likes/1")
    follow_create(follower=remote, target=alice, uri="https://remote.example/follows/1")
    like_create(account=elsewhere, post=post, uri="https://other.example/likes/1")
    outbox.drain()

    assert notes(alice) == [("favourite", "otto@other.example", post.id)]
