"""notification_create filtering, notification_dismiss and notification_clear."""

from __future__ import annotations

import pytest

from ourvoice.accounts.services import account_suspend
from ourvoice.core.errors import NotFound
from ourvoice.notifications.models import Notification
from ourvoice.notifications.selectors import notifications_for
from ourvoice.notifications.services import (
    notification_allowed,
    notification_clear,
    notification_create,
    notification_dismiss,
)

pytestmark = pytest.mark.django_db

T = Notification.Type


def make(recipient, sender, key: str, type: str = T.FOLLOW, **kwargs) -> Notification | None:
    return notification_create(
        recipient=recipient, from_account=sender, type=type, dedupe_key=key, **kwargs
    )


def test_create_and_dedupe(alice, bob, post_of):
    post = post_of(alice)

    first = make(alice, bob, "favourite:x", T.FAVOURITE, post=post)
    again = make(alice, bob, "favourite:x", T.FAVOURITE, post=post)
    other_recipient = make(bob, alice, "favourite:x", T.FAVOURITE, post=post)

    assert first is not None
    assert (first.recipient, first.from_account, first.type, first.post) == (
        alice,
        bob,
        "favourite",
        post,
    )
    assert again is None
    assert other_recipient is not None  # the key is unique per recipient only
    assert Notification.objects.count() == 2


def test_dedupe_key_is_cut_to_the_column_size(alice, bob):
    long_key = "k" * 300
    assert make(alice, bob, long_key) is not None
    assert make(alice, bob, long_key) is None
    assert Notification.objects.get().dedupe_key == "k" * 255


def test_unknown_type_is_a_programming_error(alice, bob):
    with pytest.raises(ValueError, match="unknown notification type"):
        make(alice, bob, "x", "poke")
    assert not Notification.objects.exists()


def test_nothing_for_remote_recipients_self_or_suspended(alice, bob, remote):
    assert make(remote, alice, "a") is None
    assert make(alice, alice, "b") is None
    account_suspend(account=bob)
    bob.refresh_from_db()
    assert make(alice, bob, "c") is None
    assert make(bob, alice, "d") is None
    assert not Notification.objects.exists()
    assert notification_allowed(recipient=alice, from_account=remote) is True


def test_dismiss_hides_one_notification(alice, bob, carol):
    first = make(alice, bob, "1")
    second = make(alice, carol, "2")

    notification_dismiss(recipient=alice, notification_id=first.id)
    notification_dismiss(recipient=alice, notification_id=str(first.id))  # twice is fine

    assert list(notifications_for(recipient=alice)) == [second]
    first.refresh_from_db()
    assert first.dismissed is True


@pytest.mark.parametrize("bad_id", ["nope", None, "", "-1", 12345])
def test_dismiss_of_an_unknown_id_is_not_found(alice, bad_id):
    with pytest.raises(NotFound):
        notification_dismiss(recipient=alice, notification_id=bad_id)


def test_dismiss_of_someone_elses_notification_is_not_found(alice, bob, carol):
    bobs = make(bob, carol, "1")

    with pytest.raises(NotFound):
        notification_dismiss(recipient=alice, notification_id=bobs.id)

    bobs.refresh_from_db()
    assert bobs.dismissed is False


def test_clear_dismisses_all_of_the_recipients_and_no_one_elses(alice, bob, carol):
    make(alice, bob, "1")
    make(alice, carol, "2")
    already = make(alice, carol, "3")
    notification_dismiss(recipient=alice, notification_id=already.id)
    bobs = make(bob, carol, "4")

    assert notification_clear(recipient=alice) == 2
    assert notification_clear(recipient=alice) == 0

    assert list(notifications_for(recipient=alice)) == []
    assert list(notifications_for(recipient=bob)) == [bobs]
