"""notifications_for (filters, order, what drops out, query count) and notification_get."""

from __future__ import annotations

import pytest

from ourvoice.accounts.services import account_suspend
from ourvoice.core.errors import NotFound
from ourvoice.interactions.services import like_create, repost_create
from ourvoice.notifications.models import Notification
from ourvoice.notifications.selectors import notification_get, notifications_for
from ourvoice.notifications.services import notification_create, notification_dismiss
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_archive, post_delete, post_remove
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db

T = Notification.Type


def make(recipient, sender, key: str, type: str = T.FOLLOW, post: Post | None = None):
    return notification_create(
        recipient=recipient, from_account=sender, type=type, dedupe_key=key, post=post
    )


def types_of(qs) -> list[str]:
    return [n.type for n in qs]


@pytest.fixture
def inbox(alice, bob, carol, post_of):
    """alice's notifications, oldest first: follow (bob), favourite (carol), mention (bob)."""
    post = post_of(alice)
    mention = post_of(bob, "@alice hi")
    return [
        make(alice, bob, "follow"),
        make(alice, carol, "fav", T.FAVOURITE, post=post),
        make(alice, bob, "mention", T.MENTION, post=mention),
    ]


def test_newest_first_and_only_the_recipients(inbox, alice, bob, carol):
    make(bob, carol, "not alice's")

    assert list(notifications_for(recipient=alice)) == list(reversed(inbox))


def test_type_filters(inbox, alice):
    assert types_of(notifications_for(recipient=alice, types=["mention", "follow"])) == [
        "mention",
        "follow",
    ]
    assert types_of(notifications_for(recipient=alice, exclude_types=["mention"])) == [
        "favourite",
        "follow",
    ]
    assert types_of(
        notifications_for(recipient=alice, types=["mention", "follow"], exclude_types=["follow"])
    ) == ["mention"]
    assert types_of(notifications_for(recipient=alice, types=iter(["status"]))) == []


def test_from_account_filter(inbox, alice, bob, carol):
    assert types_of(notifications_for(recipient=alice, from_account_id=bob.id)) == [
        "mention",
        "follow",
    ]
    assert types_of(notifications_for(recipient=alice, from_account_id=carol.id)) == ["favourite"]
    assert list(notifications_for(recipient=alice, from_account_id=alice.id)) == []


def test_dismissed_ones_are_left_out(inbox, alice):
    notification_dismiss(recipient=alice, notification_id=inbox[1].id)

    assert types_of(notifications_for(recipient=alice)) == ["mention", "follow"]


def test_notification_get(inbox, alice, bob):
    assert notification_get(recipient=alice, notification_id=str(inbox[0].id)) == inbox[0]

    with pytest.raises(NotFound):
        notification_get(recipient=bob, notification_id=inbox[0].id)  # alice's, not bob's
    with pytest.raises(NotFound):
        notification_get(recipient=alice, notification_id="abc")
    with pytest.raises(NotFound):
        notification_get(recipient=alice, notification_id=1)

    notification_dismiss(recipient=alice, notification_id=inbox[0].id)
    with pytest.raises(NotFound):
        notification_get(recipient=alice, notification_id=inbox[0].id)


def test_notifications_on_deleted_or_removed_posts_drop_out(alice, bob, carol, post_of, outbox):
    deleted = post_of(alice, "one")
    removed = post_of(alice, "two")
    kept = post_of(alice, "three")
    for post in (deleted, removed, kept):
        like_create(account=bob, post=post)
    mention = post_of(carol, "@alice look")
    repost_create(account=bob, post=kept)
    outbox.drain()
    assert notifications_for(recipient=alice).count() == 5

    post_delete(post=deleted, actor=alice)
    post_remove(post=removed)
    post_delete(post=mention, actor=carol)

    remaining = [(n.type, n.post_id) for n in notifications_for(recipient=alice)]
    assert remaining == [("reblog", kept.id), ("favourite", kept.id)]
    with pytest.raises(NotFound):
        notification_get(
            recipient=alice,
            notification_id=Notification.objects.get(recipient=alice, post=deleted).id,
        )


def test_archived_posts_stay_only_for_their_author(alice, bob, post_of, outbox):
    own = post_of(alice, "mine")
    like_create(account=bob, post=own)
    bobs = post_of(bob, "@alice hey")
    outbox.drain()

    post_archive(post=own)
    post_archive(post=bobs)

    # alice may still read her archived post; bob's archived post is hidden from her.
    assert [(n.type, n.post_id) for n in notifications_for(recipient=alice)] == [
        ("favourite", own.id)
    ]


def test_notifications_without_a_post_are_kept(alice, bob, post_of, outbox):
    deleted = post_of(alice)
    like_create(account=bob, post=deleted)
    make(alice, bob, "follow")
    outbox.drain()
    post_delete(post=deleted, actor=alice)

    assert types_of(notifications_for(recipient=alice)) == ["follow"]


def test_notifications_from_suspended_accounts_drop_out(alice, bob, carol):
    make(alice, bob, "1")
    make(alice, carol, "2")

    account_suspend(account=bob)

    assert [n.from_account for n in notifications_for(recipient=alice)] == [carol]


@pytest.mark.parametrize("count", [1, 30])
def test_rendering_a_page_costs_one_query(alice, post_of, django_assert_num_queries, count):
    senders = [RemoteAccountFactory() for _ in range(3)] + [local_account("sender")]
    post = post_of(alice, "popular")
    for n in range(count):
        sender = senders[n % len(senders)]
        if n % 3 == 0:
            make(alice, sender, f"follow:{n}")
        else:
            make(alice, sender, f"fav:{n}", T.FAVOURITE, post=post)

    with django_assert_num_queries(1):
        rows = list(notifications_for(recipient=alice)[:40])
        rendered = [
            (n.from_account.acct, n.post.author.acct if n.post else None, n.post_id) for n in rows
        ]

    assert len(rendered) == count
    assert all(author == "alice" for _, author, post_id in rendered if post_id)
