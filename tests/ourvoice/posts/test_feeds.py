"""Home feeds: fan-out on write, maintenance through outbox consumers, read-time filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ourvoice.accounts.services import (
    account_update_profile,
    block_create,
    follow_accept,
    follow_create,
    follow_delete,
    mute_create,
)
from ourvoice.interactions.selectors import Page, timeline_home
from ourvoice.interactions.services import repost_create, repost_delete
from ourvoice.posts.models import FeedEntry
from ourvoice.posts.services import post_archive, post_create, post_delete
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db


def home(viewer, **page):
    return [
        (e.post.source, e.repost.account.username if e.repost else None)
        for e in timeline_home(viewer=viewer, page=Page(limit=40, **page))
    ]


@pytest.fixture
def people():
    return local_account("ann"), local_account("ben"), local_account("cid")


def test_post_lands_in_author_and_follower_feeds_only(people):
    ann, ben, cid = people
    follow_create(follower=ben, target=ann)
    post = post_create(author=ann, text="hello")
    owners = set(FeedEntry.objects.filter(post=post).values_list("owner_id", flat=True))
    assert owners == {ann.id, ben.id}
    assert home(ben) == [("hello", None)]
    assert home(cid) == []


def test_follow_backfills_and_unfollow_removes(people, outbox):
    ann, ben, _ = people
    post_create(author=ann, text="older")
    follow_create(follower=ben, target=ann)
    assert home(ben) == []
    outbox.drain()
    assert home(ben) == [("older", None)]
    follow_delete(follower=ben, target=ann)
    outbox.drain()
    assert home(ben) == []


def test_locked_account_fans_out_only_after_accept(people, outbox):
    ann, ben, _ = people
    account_update_profile(account=ann, locked=True)
    follow = follow_create(follower=ben, target=ann)
    post_create(author=ann, text="for followers", visibility="private")
    assert home(ben) == []
    follow_accept(follow=follow)
    outbox.drain()
    assert home(ben) == [("for followers", None)]


def test_private_and_direct_fan_out(people):
    ann, ben, cid = people
    follow_create(follower=ben, target=ann)
    follow_create(follower=cid, target=ann)
    post_create(author=ann, text="just @ben", visibility="direct")
    post_create(author=ann, text="followers", visibility="private")
    assert home(ben) == [("followers", None), ("just @ben", None)]
    assert home(cid) == [("followers", None)]


def test_replies_reach_only_followers_of_both(people):
    ann, ben, cid = people
    dee = local_account("dee")
    follow_create(follower=ben, target=ann)
    follow_create(follower=cid, target=ann)
    follow_create(follower=cid, target=dee)
    root = post_create(author=dee, text="root")
    post_create(author=ann, text="reply to dee", in_reply_to=root)
    assert ("reply to dee", None) not in home(ben)
    assert ("reply to dee", None) in home(cid)


def test_boosts_fan_out_and_undo(people):
    ann, ben, cid = people
    follow_create(follower=cid, target=ben)
    post = post_create(author=ann, text="boost me")
    repost_create(account=ben, post=post)
    assert home(cid) == [("boost me", "ben")]
    assert ("boost me", "ben") not in home(ann)  # nobody sees boosts of their own post
    follow_create(follower=cid, target=ben, show_reblogs=False)
    repost_delete(account=ben, post=post)
    assert home(cid) == []


def test_read_time_filters(people, outbox):
    ann, ben, cid = people
    follow_create(follower=ben, target=ann)
    follow_create(follower=ben, target=cid)
    gone = post_create(author=ann, text="deleted soon")
    hidden = post_create(author=ann, text="archived soon")
    post_create(author=cid, text="muted author")
    post_delete(post=gone, actor=ann)
    post_archive(post=hidden)
    mute_create(account=ben, target=cid)
    assert home(ben) == []
    mute_create(account=ben, target=cid, expires_at=timezone.now() - timedelta(minutes=1))
    assert home(ben) == [("muted author", None)]
    block_create(account=cid, target=ben)
    assert home(ben) == []
    outbox.drain()
    assert not FeedEntry.objects.filter(owner=ben, actor=cid).exists()


def test_remote_followers_get_no_feed_rows(people):
    ann, _, _ = people
    remote = RemoteAccountFactory()
    follow_create(follower=remote, target=ann, uri="https://remote.example/follows/1")
    post = post_create(author=ann, text="hi")
    assert set(FeedEntry.objects.filter(post=post).values_list("owner_id", flat=True)) == {ann.id}


def test_home_paging_uses_entry_ids(people):
    ann, ben, _ = people
    follow_create(follower=ben, target=ann)
    ids = [post_create(author=ann, text=f"n{i}").id for i in range(5)]
    page = timeline_home(viewer=ben, page=Page(limit=2, max_id=ids[3]))
    assert [e.id for e in page] == [ids[2], ids[1]]
    page = timeline_home(viewer=ben, page=Page(limit=2, min_id=ids[1]))
    assert [e.id for e in page] == [ids[3], ids[2]]
