"""Move: local followers follow the new account only when it confirms the old one."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore, Reject
from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import follow_accept, follow_create
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

OLD = "https://mastodon.example/users/ana"
NEW = "https://harbour.example/users/ana"


@pytest.fixture
def ana(alice):
    old = remote_actor(OLD)
    follow_accept(follow=follow_create(follower=alice, target=old))
    return old


def new_account_document(also_known_as) -> dict:
    return {
        "id": NEW,
        "type": "Person",
        "preferredUsername": "ana",
        "inbox": f"{NEW}/inbox",
        "alsoKnownAs": also_known_as,
    }


def test_move_confirmed_by_the_new_account_moves_local_followers(alice, ana, remote_web):
    bob = local_account("bob")
    remote_web.serve(new_account_document([OLD]))
    remote_web.serve_actor(NEW)

    handle(load("mastodon/move"), ana)

    assert remote_web.fetched == [NEW]
    assert (NEW, True) in remote_web.resolved
    follow = Follow.objects.get(follower=alice, target__uri=NEW)
    assert follow.state == Follow.State.PENDING  # a Follow goes to the new server
    assert not Follow.objects.filter(follower=alice, target=ana).exists()
    assert not Follow.objects.filter(follower=bob).exists()


def test_move_without_also_known_as_is_rejected(alice, ana, remote_web):
    remote_web.serve(new_account_document("https://mastodon.example/users/someone-else"))
    remote_web.serve_actor(NEW)

    with pytest.raises(Reject):
        handle(load("mastodon/move"), ana)

    assert Follow.objects.filter(follower=alice, target=ana).exists()
    assert not Follow.objects.filter(target__uri=NEW).exists()


def test_move_of_someone_else_is_rejected(alice, ana):
    activity = load("mastodon/move")
    activity["object"] = "https://mastodon.example/users/bea"

    with pytest.raises(Reject):
        handle(activity, ana)


def test_a_second_move_within_a_day_is_ignored(alice, ana, remote_web):
    remote_web.serve(new_account_document([OLD]))
    remote_web.serve_actor(NEW)
    handle(load("mastodon/move"), ana)
    follow_accept(follow=follow_create(follower=alice, target=ana))

    with pytest.raises(Ignore):
        handle(load("mastodon/move"), ana)

    assert Follow.objects.filter(follower=alice, target=ana).exists()
