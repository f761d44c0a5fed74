"""Home and public timelines (filters, paging) and per-viewer interaction flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.accounts.services import (
    account_silence,
    account_update_profile,
    block_create,
    follow_create,
    mute_create,
)
from ourvoice.interactions.selectors import (
    Page,
    TimelineEntry,
    interaction_flags_for,
    timeline_home,
    timeline_public,
)
from ourvoice.interactions.services import bookmark_create, like_create, repost_create
from ourvoice.posts.models import Hashtag, Post, Visibility
from ourvoice.posts.services import post_archive, post_delete
from tests.factories import local_account

pytestmark = pytest.mark.django_db


def ids(entries: list[TimelineEntry]) -> list[int]:
    return [e.id for e in entries]


def home(viewer: Account, **page: int) -> list[TimelineEntry]:
    return timeline_home(viewer=viewer, page=Page(**page))


def remote_post(author: Account, n: int, *, visibility: str = Visibility.PUBLIC) -> Post:
    """A remote post as federation would store it (no service for that exists yet)."""
    return Post.objects.create(
        author=author,
        content=f"<p>remote {n}</p>",
        visibility=visibility,
        local=False,
        uri=f"https://{author.domain}/notes/{n}",
    )


# --- home -------------------------------------------------------------------------------------


def test_home_has_own_posts_followed_posts_and_followed_boosts(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    own = post_of(alice, "mine")
    followed = post_of(bob, "bob's")
    stranger = post_of(carol, "carol's")
    boost = repost_create(account=bob, post=stranger)
    repost_create(account=carol, post=followed)  # a boost by someone alice does not follow

    entries = home(alice)

    assert ids(entries) == [boost.id, followed.id, own.id]
    assert entries[0].repost == boost
    assert entries[0].post == stranger
    assert entries[1].repost is None
    assert entries[1].post == followed


def test_home_skips_pending_follows_and_strangers(alice, bob, carol, post_of):
    account_update_profile(account=bob, locked=True)
    follow_create(follower=alice, target=bob)  # pending until bob accepts
    post_of(bob, "not yet")
    post_of(carol, "stranger")

    assert home(alice) == []


def test_home_includes_followers_only_posts_of_followed_accounts(alice, bob, post_of):
    follow_create(follower=alice, target=bob)
    private = post_of(bob, "for followers", visibility=Visibility.PRIVATE)

    assert ids(home(alice)) == [private.id]


def test_home_excludes_deleted_and_archived_posts(alice, bob, post_of):
    follow_create(follower=alice, target=bob)
    deleted = post_of(bob, "gone")
    archived = post_of(bob, "hidden")
    kept = post_of(bob, "kept")
    post_delete(post=deleted, actor=bob)
    post_archive(post=archived)

    assert ids(home(alice)) == [kept.id]


def test_home_excludes_muted_authors_posts_and_boosts_of_them(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    carols = post_of(carol, "carol")
    repost_create(account=bob, post=carols)
    bobs = post_of(bob, "bob")

    mute_create(account=alice, target=carol)

    assert ids(home(alice)) == [bobs.id]


def test_home_excludes_a_muted_followed_account_and_its_boosts(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    repost_create(account=bob, post=post_of(carol, "carol"))
    post_of(bob, "bob")
    own = post_of(alice, "mine")

    mute_create(account=alice, target=bob)

    assert ids(home(alice)) == [own.id]


def test_home_shows_boosts_again_after_a_timed_mute_expired(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    boost = repost_create(account=bob, post=post_of(carol, "carol"))
    mute_create(account=alice, target=bob, expires_at=timezone.now() - timedelta(minutes=1))

    assert boost.id in ids(home(alice))


def test_home_excludes_blocked_accounts(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    boost = repost_create(account=bob, post=post_of(carol, "carol"))
    bobs = post_of(bob, "bob")
    assert ids(home(alice)) == [bobs.id, boost.id]

    block_create(account=alice, target=carol)
    assert ids(home(alice)) == [bobs.id]


def test_home_excludes_boosts_of_an_author_who_blocks_the_viewer(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    repost_create(account=bob, post=post_of(carol, "carol"))

    block_create(account=carol, target=alice)

    assert home(alice) == []


def test_home_after_blocking_a_followed_account(alice, bob, post_of):
    follow_create(follower=alice, target=bob)
    post_of(bob, "bob")

    block_create(account=alice, target=bob)  # also ends the follow

    assert home(alice) == []


def test_home_hides_boosts_when_show_reblogs_is_off(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob, show_reblogs=False)
    repost_create(account=bob, post=post_of(carol, "carol"))
    bobs = post_of(bob, "bob")

    assert ids(home(alice)) == [bobs.id]


def test_home_reply_filter(alice, bob, carol, post_of):
    dave = local_account("dave")
    follow_create(follower=alice, target=bob)
    follow_create(follower=alice, target=dave)
    carols = post_of(carol, "carol")
    daves = post_of(dave, "dave")
    bobs = post_of(bob, "bob")
    alices = post_of(alice, "alice")

    to_stranger = post_of(bob, "@carol hi", in_reply_to=carols)
    to_followed = post_of(bob, "@dave hi", in_reply_to=daves)
    to_viewer = post_of(bob, "@alice hi", in_reply_to=alices)
    to_self = post_of(bob, "more", in_reply_to=bobs)
    own_to_stranger = post_of(alice, "@carol hello", in_reply_to=carols)

    shown = set(ids(home(alice)))

    assert to_stranger.id not in shown
    assert {to_followed.id, to_viewer.id, to_self.id, own_to_stranger.id} <= shown


def test_home_paging_newest_first(alice, post_of):
    posts = [post_of(alice, f"post {n}") for n in range(7)]
    p = [x.id for x in posts]

    assert ids(home(alice, limit=3)) == [p[6], p[5], p[4]]
    assert ids(home(alice, max_id=p[4], limit=3)) == [p[3], p[2], p[1]]
    assert ids(home(alice, max_id=p[1], limit=3)) == [p[0]]
    # since_id: the newest page above the cursor.
    assert ids(home(alice, since_id=p[2], limit=3)) == [p[6], p[5], p[4]]
    # min_id: the page right after the cursor (still newest first).
    assert ids(home(alice, min_id=p[2], limit=3)) == [p[5], p[4], p[3]]
    assert ids(home(alice, min_id=p[5], limit=3)) == [p[6]]
    assert ids(home(alice, max_id=p[5], since_id=p[1], limit=10)) == [p[4], p[3], p[2]]
    assert home(alice, min_id=p[6]) == []


def test_home_paging_merges_posts_and_boosts(alice, bob, carol, post_of):
    follow_create(follower=alice, target=bob)
    entries_in_order: list[int] = []
    for n in range(4):
        entries_in_order.append(post_of(bob, f"bob {n}").id)
        entries_in_order.append(repost_create(account=bob, post=post_of(carol, f"c {n}")).id)
    e = entries_in_order  # oldest first; alternating post, boost

    assert ids(home(alice, limit=3)) == [e[7], e[6], e[5]]
    assert ids(home(alice, max_id=e[5], limit=3)) == [e[4], e[3], e[2]]
    assert ids(home(alice, min_id=e[1], limit=3)) == [e[4], e[3], e[2]]
    assert ids(home(alice, min_id=e[0], limit=2)) == [e[2], e[1]]
    assert ids(home(alice, since_id=e[1], limit=3)) == [e[7], e[6], e[5]]
    # Walking with max_id visits every entry exactly once.
    seen: list[int] = []
    cursor: dict[str, int] = {}
    while page := home(alice, limit=3, **cursor):
        seen += ids(page)
        cursor = {"max_id": page[-1].id}
    assert seen == list(reversed(e))


def test_home_rows_come_with_authors_and_boosters(
    alice, bob, carol, post_of, django_assert_num_queries
):
    follow_create(follower=alice, target=bob)
    for n in range(5):
        post_of(bob, f"bob {n}")
        repost_create(account=bob, post=post_of(carol, f"c {n}"))

    # mutes, blocks, domain blocks, the feed page (posts and authors), the boosts (boosters)
    with django_assert_num_queries(5):
        entries = home(alice, limit=40)
        rendered = [
            (e.post.author.acct, e.repost.account.acct if e.repost else None) for e in entries
        ]

    assert len(rendered) == 10


# --- public -----------------------------------------------------------------------------------


@pytest.fixture
def public_world(alice, bob, remote, post_of):
    """Local and remote posts of every visibility; one hashtag on a local and a remote post."""
    local_public = post_of(alice, "hello #Cats")
    post_of(alice, "quiet", visibility=Visibility.UNLISTED)
    post_of(alice, "friends", visibility=Visibility.PRIVATE)
    local_other = post_of(bob, "other")
    remote_public = remote_post(remote, 1)
    remote_post(remote, 2, visibility=Visibility.UNLISTED)
    tagged_remote = remote_post(remote, 3)
    tagged_remote.hashtags.add(Hashtag.objects.get(name="cats"))
    return {
        "local_public": local_public,
        "local_other": local_other,
        "remote_public": remote_public,
        "tagged_remote": tagged_remote,
    }


def public(
    viewer: Account | None, *, local: bool = False, remote: bool = False, hashtag: str | None = None
) -> list[int]:
    entries = timeline_public(
        viewer=viewer, page=Page(), local=local, remote=remote, hashtag=hashtag
    )
    return ids(entries)


def test_public_timeline_filters(public_world, alice):
    w = public_world
    everything = [w["tagged_remote"].id, w["remote_public"].id, w["local_other"].id]
    everything.append(w["local_public"].id)

    assert public(None) == everything
    assert public(alice) == everything
    assert public(None, local=True) == [w["local_other"].id, w["local_public"].id]
    assert public(None, remote=True) == [w["tagged_remote"].id, w["remote_public"].id]
    assert public(None, hashtag="cats") == [w["tagged_remote"].id, w["local_public"].id]
    assert public(None, hashtag="CATS", local=True) == [w["local_public"].id]
    assert public(None, hashtag="dogs") == []


def test_public_timeline_has_no_boosts(public_world, carol):
    repost_create(account=carol, post=public_world["local_public"])

    assert len(public(None)) == 4


def test_public_timeline_excludes_silenced_authors(public_world, bob, remote):
    account_silence(account=bob, silenced=True)
    account_silence(account=remote, silenced=True)

    assert public(None) == [public_world["local_public"].id]


def test_public_timeline_respects_the_viewers_mutes_and_blocks(public_world, carol, bob, remote):
    mute_create(account=carol, target=bob)
    block_create(account=carol, target=remote)

    assert public(carol) == [public_world["local_public"].id]
    assert len(public(None)) == 4


def test_public_timeline_paging(alice, post_of):
    p = [post_of(alice, f"n {n}").id for n in range(5)]

    assert ids(timeline_public(viewer=None, page=Page(limit=2))) == [p[4], p[3]]
    assert ids(timeline_public(viewer=None, page=Page(max_id=p[3], limit=2))) == [p[2], p[1]]
    assert ids(timeline_public(viewer=None, page=Page(min_id=p[0], limit=2))) == [p[2], p[1]]
    assert ids(timeline_public(viewer=None, page=Page(since_id=p[2]))) == [p[4], p[3]]


def test_public_timeline_query_count(public_world, alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        authors = [e.post.author.acct for e in timeline_public(viewer=alice, page=Page())]
    assert len(authors) == 4


# --- viewer flags -----------------------------------------------------------------------------


def test_interaction_flags_for(alice, bob, carol, post_of):
    liked, boosted, bookmarked, untouched = (post_of(bob, f"p{n}") for n in range(4))
    like_create(account=alice, post=liked)
    repost_create(account=alice, post=boosted)
    bookmark_create(account=alice, post=bookmarked)
    like_create(account=carol, post=untouched)  # someone else's flags never leak
    repost_create(account=carol, post=untouched)
    bookmark_create(account=carol, post=untouched)

    flags = interaction_flags_for(
        viewer=alice, post_ids=[liked.id, boosted.id, bookmarked.id, untouched.id, liked.id]
    )

    assert flags.liked == {liked.id}
    assert flags.reposted == {boosted.id}
    assert flags.bookmarked == {bookmarked.id}


def test_interaction_flags_for_anonymous_or_empty_costs_nothing(
    alice, bob, post_of, django_assert_num_queries
):
    post = post_of(bob)
    like_create(account=alice, post=post)

    with django_assert_num_queries(0):
        anonymous = interaction_flags_for(viewer=None, post_ids=[post.id])
        empty = interaction_flags_for(viewer=alice, post_ids=[])

    for flags in (anonymous, empty):
        assert not flags.liked
        assert not flags.reposted
        assert not flags.bookmarked


@pytest.mark.parametrize("n_posts", [1, 30])
def test_interaction_flags_for_query_count_is_constant(
    alice, bob, post_of, django_assert_num_queries, n_posts
):
    posts = [post_of(bob, f"p{n}") for n in range(n_posts)]
    for post in posts:
        like_create(account=alice, post=post)
        repost_create(account=alice, post=post)
        bookmark_create(account=alice, post=post)

    with django_assert_num_queries(3):
        flags = interaction_flags_for(viewer=alice, post_ids=[p.id for p in posts])

    every = {p.id for p in posts}
    assert flags.liked == every
    assert flags.reposted == every
    assert flags.bookmarked == every
