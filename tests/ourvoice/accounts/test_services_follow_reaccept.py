"""follow_reaccept: a repeated remote Follow re-records `follow.accepted` (its Accept is resent)."""

from __future__ import annotations

import pytest

from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import account_update_profile, follow_create, follow_reaccept
from ourvoice.core.errors import Conflict

pytestmark = pytest.mark.django_db


def test_reaccept_records_the_event_again_and_keeps_counters(alice, remote, payloads):
    follow = follow_create(follower=remote, target=alice, uri="https://social.example/f/1")
    assert follow.state == Follow.State.ACCEPTED

    again = follow_reaccept(follow=follow, uri="https://social.example/f/2")

    assert again.uri == "https://social.example/f/2"
    assert Follow.objects.get(pk=follow.pk).uri == "https://social.example/f/2"
    accepted = payloads("follow.accepted")
    assert len(accepted) == 2
    assert accepted[1] == {
        "follow_id": follow.id,
        "follower_id": remote.id,
        "target_id": alice.id,
    }
    alice.refresh_from_db()
    assert alice.followers_count == 1


def test_reaccept_without_uri_keeps_the_id(alice, remote):
    follow = follow_create(follower=remote, target=alice, uri="https://social.example/f/1")

    assert follow_reaccept(follow=follow).uri == "https://social.example/f/1"


def test_reaccept_of_a_pending_follow_is_a_conflict(alice, remote, payloads):
    account_update_profile(account=alice, locked=True)
    follow = follow_create(follower=remote, target=alice, uri="https://social.example/f/1")

    with pytest.raises(Conflict):
        follow_reaccept(follow=follow)

    assert payloads("follow.accepted") == []
