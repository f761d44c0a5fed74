"""Selector tests for ourvoice.posts.selectors: who may read what, threads, account pages."""

from __future__ import annotations

import pytest

from ourvoice.accounts.models import AccountDomainBlock, Follow
from ourvoice.accounts.services import (
    account_suspend,
    account_unsuspend,
    account_update_profile,
    block_create,
    block_delete,
    follow_accept,
    follow_create,
    mute_create,
)
from ourvoice.core.errors import NotFound
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import (
    post_context,
    post_get_by_uri,
    post_get_for_admin,
    post_get_visible_to,
    posts_muted_author_q,
    posts_of_account,
    posts_visible_q,
)
from ourvoice.posts.services import post_archive, post_create, post_delete, post_remove
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db


def visible(viewer, among) -> set[int]:
    """Ids of the posts in `among` that `viewer` may read, according to posts_visible_q."""
    ids = [p.id for p in among]
    return set(
        Post.objects.filter(posts_visible_q(viewer), pk__in=ids).values_list("id", flat=True)
    )


# --- visibility rules --------------------------------------------------------------------------


@pytest.fixture
def matrix(alice, bob, carol):
    """alice (locked) posts in every visibility; bob is an accepted follower, dave a pending
    one, carol is mentioned in the followers-only and direct posts, erin is a stranger."""
    dave = local_account("dave")
    erin = local_account("erin")
    account_update_profile(account=alice, locked=True)
    bob_follow = follow_create(follower=bob, target=alice)
    follow_create(follower=dave, target=alice)
    follow_accept(follow=bob_follow)
    assert set(Follow.objects.filter(target=alice).values_list("follower__username", "state")) == {
        ("bob", Follow.State.ACCEPTED),
        ("dave", Follow.State.PENDING),
    }
    posts = {
        "public": post_create(author=alice, text="public", visibility=Visibility.PUBLIC),
        "unlisted": post_create(author=alice, text="unlisted", visibility=Visibility.UNLISTED),
        "private": post_create(author=alice, text="followers", visibility=Visibility.PRIVATE),
        "private_mention": post_create(
            author=alice, text="followers and @carol", visibility=Visibility.PRIVATE
        ),
        "direct": post_create(author=alice, text="@carol secret", visibility=Visibility.DIRECT),
    }
    viewers = {"anonymous": None, "alice": alice, "bob": bob, "carol": carol}
    viewers.update(dave=dave, erin=erin)
    return viewers, posts


EXPECTED = {
    "anonymous": {"public", "unlisted"},
    "alice": {"public", "unlisted", "private", "private_mention", "direct"},
    "bob": {"public", "unlisted", "private", "private_mention"},
    # A pending follow request grants nothing.
    "dave": {"public", "unlisted"},
    # Mentioned accounts read the post whatever its visibility (as on Mastodon).
    "carol": {"public", "unlisted", "private_mention", "direct"},
    "erin": {"public", "unlisted"},
}


@pytest.mark.parametrize("viewer_name", list(EXPECTED))
def test_visibility_rules(matrix, viewer_name):
    viewers, posts = matrix
    viewer = viewers[viewer_name]

    expected = {posts[name].id for name in EXPECTED[viewer_name]}
    assert visible(viewer, posts.values()) == expected
    for name, post in posts.items():
        if name in EXPECTED[viewer_name]:
            assert post_get_visible_to(viewer=viewer, post_id=str(post.id)) == post
        else:
            with pytest.raises(NotFound, match="Record not found"):
                post_get_visible_to(viewer=viewer, post_id=post.id)


def test_follow_accepted_later_grants_followers_only_posts(alice, bob):
    account_update_profile(account=alice, locked=True)
    follow = follow_create(follower=bob, target=alice)
    post = post_create(author=alice, text="friends", visibility=Visibility.PRIVATE)
    assert visible(bob, [post]) == set()

    follow_accept(follow=follow)

    assert visible(bob, [post]) == {post.id}


@pytest.mark.parametrize("state", ["deleted", "removed"])
def test_gone_posts_are_invisible_even_to_their_author(alice, bob, state):
    post = post_create(author=alice, text="bye")
    if state == "deleted":
        post_delete(post=post, actor=alice)
    else:
        post_remove(post=post)

    for viewer in (None, alice, bob):
        assert visible(viewer, [post]) == set()
    assert post_get_for_admin(post_id=post.id).state == state


def test_archived_posts_are_visible_to_their_author_only(alice, bob):
    post = post_create(author=alice, text="old")
    post_archive(post=post)

    assert visible(alice, [post]) == {post.id}
    assert visible(bob, [post]) == set()
    assert visible(None, [post]) == set()


def test_blocks_hide_posts_both_ways(alice, bob, carol):
    by_alice = post_create(author=alice, text="from alice")
    by_bob = post_create(author=bob, text="from bob")
    both = [by_alice, by_bob]

    block_create(account=alice, target=bob)

    assert visible(alice, both) == {by_alice.id}
    assert visible(bob, both) == {by_bob.id}
    assert visible(carol, both) == {by_alice.id, by_bob.id}
    assert visible(None, both) == {by_alice.id, by_bob.id}
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=bob, post_id=by_alice.id)
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=by_bob.id)

    block_delete(account=alice, target=bob)

    assert visible(alice, both) == visible(bob, both) == {by_alice.id, by_bob.id}


def test_block_hides_even_a_direct_mention(alice, bob):
    post = post_create(author=bob, text="@alice hey", visibility=Visibility.DIRECT)
    assert visible(alice, [post]) == {post.id}

    block_create(account=alice, target=bob)

    assert visible(alice, [post]) == set()


def test_user_domain_block_hides_that_domain(alice, bob, remote, make_remote_post):
    blocked = make_remote_post(remote)
    elsewhere = make_remote_post(RemoteAccountFactory(username="olga", domain="other.example"))
    local = post_create(author=bob, text="local")
    posts = [blocked, elsewhere, local]

    AccountDomainBlock.objects.create(account=alice, domain="remote.example")

    assert visible(alice, posts) == {elsewhere.id, local.id}
    assert visible(bob, posts) == {blocked.id, elsewhere.id, local.id}
    assert visible(None, posts) == {blocked.id, elsewhere.id, local.id}


def test_suspended_author_is_hidden(alice, bob):
    post = post_create(author=bob, text="soon hidden")

    account_suspend(account=bob)

    assert visible(None, [post]) == set()
    assert visible(alice, [post]) == set()
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=post.id)

    account_unsuspend(account=bob)

    assert visible(alice, [post]) == {post.id}


def test_suspended_remote_author_is_hidden(alice, remote, make_remote_post):
    post = make_remote_post(remote)

    account_suspend(account=remote)

    assert visible(alice, [post]) == set()


def test_muted_author_is_left_out_of_lists_but_readable_directly(alice, bob, carol):
    by_bob = post_create(author=bob, text="noise")
    by_carol = post_create(author=carol, text="signal")
    mute_create(account=alice, target=bob)

    listed = Post.objects.filter(
        posts_visible_q(alice), posts_muted_author_q(alice), pk__in=[by_bob.id, by_carol.id]
    )

    assert list(listed) == [by_carol]
    assert post_get_visible_to(viewer=alice, post_id=by_bob.id) == by_bob
    assert Post.objects.filter(posts_muted_author_q(None), pk=by_bob.id).exists()


# --- access selectors --------------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["abc", "", None, "12.5"])
def test_post_get_visible_to_rejects_malformed_ids(alice, bad_id):
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=bad_id)


def test_post_get_visible_to_unknown_id(alice):
    post = post_create(author=alice, text="x")

    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=post.id + 1)


def test_post_get_for_admin_and_by_uri_see_every_state(alice):
    post = post_create(author=alice, text="x")
    post_delete(post=post, actor=alice)

    assert post_get_for_admin(post_id=post.id) == post
    assert post_get_by_uri(uri=post.uri) == post
    assert post_get_by_uri(uri="https://testserver/users/alice/statuses/1") is None
    with pytest.raises(NotFound):
        post_get_for_admin(post_id=post.id + 1)


# --- threads -----------------------------------------------------------------------------------


@pytest.fixture
def thread(alice, bob, carol):
    """root (alice) ─┬─ r1 (bob) ─┬─ r1a (carol)
    │            └─ r1b (alice)
    └─ r2 (carol)"""
    root = post_create(author=alice, text="root")
    r1 = post_create(author=bob, text="r1", in_reply_to=root)
    r2 = post_create(author=carol, text="r2", in_reply_to=root)
    r1a = post_create(author=carol, text="r1a", in_reply_to=r1)
    r1b = post_create(author=alice, text="r1b", in_reply_to=r1)
    return {"root": root, "r1": r1, "r2": r2, "r1a": r1a, "r1b": r1b}


def _names(thread, posts) -> list[str]:
    by_id = {p.id: name for name, p in thread.items()}
    return [by_id[p.id] for p in posts]


@pytest.mark.parametrize(
    ("focus", "ancestors", "descendants"),
    [
        ("root", [], ["r1", "r1a", "r1b", "r2"]),
        ("r1", ["root"], ["r1a", "r1b"]),
        ("r1a", ["root", "r1"], []),
        ("r2", ["root"], []),
    ],
)
def test_post_context_order(thread, focus, ancestors, descendants):
    found_ancestors, found_descendants = post_context(viewer=None, post=thread[focus])

    assert _names(thread, found_ancestors) == ancestors
    assert _names(thread, found_descendants) == descendants


def test_post_context_skips_what_the_viewer_cannot_read(thread, alice, carol):
    hidden = post_create(
        author=alice, text="@bob only", visibility=Visibility.DIRECT, in_reply_to=thread["r1"]
    )
    thread["hidden"] = hidden
    leaf = post_create(author=carol, text="late", in_reply_to=thread["r1a"])
    thread["leaf"] = leaf
    post_delete(post=thread["r1b"], actor=alice)

    ancestors, descendants = post_context(viewer=carol, post=thread["root"])

    assert ancestors == []
    assert _names(thread, descendants) == ["r1", "r1a", "leaf", "r2"]
    # bob is mentioned, so the direct reply is part of his view of the thread.
    bob = thread["r1"].author
    _, descendants = post_context(viewer=bob, post=thread["root"])
    assert _names(thread, descendants) == ["r1", "r1a", "leaf", "hidden", "r2"]


def test_post_context_walks_past_hidden_ancestors(thread, alice, bob, carol):
    secret = post_create(
        author=bob, text="@carol psst", visibility=Visibility.DIRECT, in_reply_to=thread["r1a"]
    )
    answer = post_create(author=carol, text="public answer", in_reply_to=secret)
    thread.update(secret=secret, answer=answer)

    ancestors, _ = post_context(viewer=None, post=answer)

    assert _names(thread, ancestors) == ["root", "r1", "r1a"]
    ancestors, _ = post_context(viewer=carol, post=answer)
    assert _names(thread, ancestors) == ["root", "r1", "r1a", "secret"]


# --- posts_of_account --------------------------------------------------------------------------


def test_posts_of_account_newest_first_and_filtered(alice, bob, carol):
    follow_create(follower=bob, target=alice)
    first = post_create(author=alice, text="one")
    unlisted = post_create(author=alice, text="two", visibility=Visibility.UNLISTED)
    private = post_create(author=alice, text="three", visibility=Visibility.PRIVATE)
    gone = post_create(author=alice, text="four")
    post_delete(post=gone, actor=alice)
    post_create(author=bob, text="not alice's")

    assert list(posts_of_account(viewer=None, account=alice)) == [unlisted, first]
    assert list(posts_of_account(viewer=carol, account=alice)) == [unlisted, first]
    assert list(posts_of_account(viewer=bob, account=alice)) == [private, unlisted, first]
    assert list(posts_of_account(viewer=alice, account=alice)) == [private, unlisted, first]


def test_posts_of_account_loads_authors_in_one_query(alice, django_assert_num_queries):
    for i in range(3):
        post_create(author=alice, text=f"post {i}")

    with django_assert_num_queries(1):
        authors = [p.author.username for p in posts_of_account(viewer=None, account=alice)]

    assert authors == ["alice"] * 3
