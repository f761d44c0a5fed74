"""Likes, boosts and bookmarks: rows, post counters and outbox events, and what is refused."""

from __future__ import annotations

import pytest

from ourvoice.accounts.services import account_suspend, block_create, follow_create
from ourvoice.core.errors import Invalid, NotAllowed, NotFound
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Bookmark, Like, Repost
from ourvoice.interactions.services import (
    bookmark_create,
    bookmark_delete,
    like_create,
    like_delete,
    repost_create,
    repost_delete,
)
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.services import post_archive, post_delete, post_remove

pytestmark = pytest.mark.django_db

INTERACTION_KINDS = ("like.created", "like.deleted", "repost.created", "repost.deleted")


def stored_counts(post: Post) -> tuple[int, int]:
    post.refresh_from_db(fields=["likes_count", "reposts_count"])
    return post.likes_count, post.reposts_count


def interaction_events() -> list[str]:
    return list(
        OutboxEvent.objects.filter(kind__in=INTERACTION_KINDS)
        .order_by("id")
        .values_list("kind", flat=True)
    )


# --- likes ------------------------------------------------------------------------------------


def test_like_create_counts_and_records_one_event(alice, bob, post_of, events):
    post = post_of(alice)

    like = like_create(account=bob, post=post)

    assert Like.objects.filter(account=bob, post=post).get().pk == like.pk
    assert stored_counts(post) == (1, 0)
    assert events("like.created") == [
        {"like_id": like.id, "account_id": bob.id, "post_id": post.id}
    ]
    # A local like gets its own ActivityPub id, under the liker's actor.
    assert like.uri.startswith(bob.uri + "/")
    assert str(like.id) in like.uri


def test_like_twice_keeps_one_row_one_count_one_event(alice, bob, post_of, events):
    post = post_of(alice)

    first = like_create(account=bob, post=post)
    second = like_create(account=bob, post=post)

    assert second.pk == first.pk
    assert Like.objects.filter(post=post).count() == 1
    assert stored_counts(post) == (1, 0)
    assert len(events("like.created")) == 1


def test_likes_by_several_accounts_add_up(alice, bob, carol, post_of):
    post = post_of(alice)
    like_create(account=bob, post=post)
    like_create(account=carol, post=post)
    like_create(account=alice, post=post)  # liking one's own post is allowed, as on Mastodon

    assert stored_counts(post) == (3, 0)
    assert Like.objects.filter(post=post).count() == 3


def test_like_delete_removes_row_count_and_records_undo(alice, bob, post_of, events):
    post = post_of(alice)
    like = like_create(account=bob, post=post)

    assert like_delete(account=bob, post=post) is True

    assert not Like.objects.filter(pk=like.pk).exists()
    assert stored_counts(post) == (0, 0)
    assert events("like.deleted") == [
        {"like_id": like.id, "account_id": bob.id, "post_id": post.id, "uri": like.uri}
    ]


def test_like_delete_of_nothing_returns_false_and_changes_nothing(alice, bob, carol, post_of):
    post = post_of(alice)
    like_create(account=carol, post=post)
    before = interaction_events()

    assert like_delete(account=bob, post=post) is False

    assert stored_counts(post) == (1, 0)
    assert Like.objects.filter(post=post).count() == 1
    assert interaction_events() == before


def test_like_delete_twice_counts_down_once(alice, bob, post_of, events):
    post = post_of(alice)
    like_create(account=bob, post=post)

    assert like_delete(account=bob, post=post) is True
    assert like_delete(account=bob, post=post) is False

    assert stored_counts(post) == (0, 0)
    assert len(events("like.deleted")) == 1


def test_like_again_after_undo_counts_again(alice, bob, post_of, events):
    post = post_of(alice)
    first = like_create(account=bob, post=post)
    like_delete(account=bob, post=post)

    second = like_create(account=bob, post=post)

    assert second.pk != first.pk
    assert stored_counts(post) == (1, 0)
    assert [e["like_id"] for e in events("like.created")] == [first.id, second.id]


def test_remote_like_keeps_the_remote_activity_id(alice, remote, post_of):
    post = post_of(alice)

    like = like_create(account=remote, post=post, uri="https://remote.example/likes/1")

    assert like.uri == "https://remote.example/likes/1"
    assert stored_counts(post) == (1, 0)


def test_follower_may_like_a_followers_only_post(alice, bob, post_of):
    follow_create(follower=bob, target=alice)
    post = post_of(alice, visibility=Visibility.PRIVATE)

    like_create(account=bob, post=post)

    assert stored_counts(post) == (1, 0)


# --- boosts -----------------------------------------------------------------------------------


def test_repost_create_counts_and_records_one_event(alice, bob, post_of, events):
    post = post_of(alice)

    repost = repost_create(account=bob, post=post)

    assert repost.visibility == Visibility.PUBLIC
    assert repost.uri.startswith(bob.uri + "/")
    assert stored_counts(post) == (0, 1)
    assert events("repost.created") == [
        {"repost_id": repost.id, "account_id": bob.id, "post_id": post.id}
    ]


def test_repost_twice_keeps_one_row_one_count_one_event(alice, bob, post_of, events):
    post = post_of(alice, visibility=Visibility.UNLISTED)

    first = repost_create(account=bob, post=post)
    second = repost_create(account=bob, post=post)

    assert second.pk == first.pk
    assert Repost.objects.filter(post=post).count() == 1
    assert stored_counts(post) == (0, 1)
    assert len(events("repost.created")) == 1


def test_repost_with_followers_only_visibility(alice, bob, post_of):
    post = post_of(alice)

    repost = repost_create(account=bob, post=post, visibility=Visibility.PRIVATE)

    assert Repost.objects.get(pk=repost.pk).visibility == Visibility.PRIVATE


def test_repost_delete_removes_row_count_and_records_undo(alice, bob, post_of, events):
    post = post_of(alice)
    repost = repost_create(account=bob, post=post)

    assert repost_delete(account=bob, post=post) is True

    assert not Repost.objects.filter(pk=repost.pk).exists()
    assert stored_counts(post) == (0, 0)
    assert events("repost.deleted") == [
        {"repost_id": repost.id, "account_id": bob.id, "post_id": post.id, "uri": repost.uri}
    ]


def test_repost_delete_of_nothing_returns_false_and_changes_nothing(alice, bob, carol, post_of):
    post = post_of(alice)
    repost_create(account=carol, post=post)
    before = interaction_events()

    assert repost_delete(account=bob, post=post) is False

    assert stored_counts(post) == (0, 1)
    assert interaction_events() == before


@pytest.mark.parametrize("visibility", [Visibility.DIRECT, "nonsense"])
def test_repost_with_a_bad_boost_visibility_is_invalid(alice, bob, post_of, visibility):
    post = post_of(alice)

    with pytest.raises(Invalid):
        repost_create(account=bob, post=post, visibility=visibility)

    assert stored_counts(post) == (0, 0)
    assert not Repost.objects.exists()
    assert interaction_events() == []


# --- refusals: no rows, no counters, no events ------------------------------------------------


def _refused(post: Post) -> None:
    """Nothing was written by the refused call."""
    assert not Like.objects.filter(post=post).exists()
    assert not Repost.objects.filter(post=post).exists()
    assert stored_counts(post) == (0, 0)
    assert interaction_events() == []


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_deleted_post_is_not_found(alice, bob, post_of, service):
    post = post_of(alice)
    post_delete(post=post, actor=alice)  # `post` itself is now stale: still "active" in memory
    assert post.state == Post.State.ACTIVE

    with pytest.raises(NotFound):
        service(account=bob, post=post)

    _refused(post)


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_removed_post_is_not_found(alice, bob, post_of, service):
    post = post_of(alice)
    post_remove(post=post)

    with pytest.raises(NotFound):
        service(account=bob, post=post)

    _refused(post)


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_archived_post_is_not_found_even_for_its_author(alice, bob, post_of, service):
    post = post_of(alice)
    post_archive(post=post)

    for account in (bob, alice):
        with pytest.raises(NotFound):
            service(account=account, post=post)

    _refused(post)


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_post_the_account_cannot_see_is_not_found(alice, bob, post_of, service):
    post = post_of(alice, visibility=Visibility.PRIVATE)  # bob does not follow alice

    with pytest.raises(NotFound):
        service(account=bob, post=post)

    _refused(post)


def test_direct_post_of_others_is_not_found(alice, bob, carol, post_of):
    post = post_of(alice, text="psst @carol", visibility=Visibility.DIRECT)

    with pytest.raises(NotFound):
        like_create(account=bob, post=post)

    _refused(post)


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_account_blocked_by_the_author_is_not_allowed(alice, bob, post_of, service):
    post = post_of(alice)
    block_create(account=alice, target=bob)

    with pytest.raises(NotAllowed, match="blocked"):
        service(account=bob, post=post)

    _refused(post)


def test_account_that_blocked_the_author_cannot_see_the_post(alice, bob, post_of):
    post = post_of(alice)
    block_create(account=bob, target=alice)

    with pytest.raises(NotFound):
        like_create(account=bob, post=post)

    _refused(post)


@pytest.mark.parametrize("service", [like_create, repost_create])
def test_suspended_account_is_not_allowed(alice, bob, post_of, service):
    post = post_of(alice)
    account_suspend(account=bob)

    with pytest.raises(NotAllowed, match="suspended"):
        service(account=bob, post=post)

    _refused(post)


def test_post_of_a_suspended_author_is_not_found(alice, bob, post_of):
    post = post_of(alice)
    account_suspend(account=alice)

    with pytest.raises(NotFound):
        like_create(account=bob, post=post)

    _refused(post)


def test_boost_of_a_followers_only_post_is_invalid(alice, bob, post_of):
    follow_create(follower=bob, target=alice)
    post = post_of(alice, visibility=Visibility.PRIVATE)

    with pytest.raises(Invalid):
        repost_create(account=bob, post=post)
    with pytest.raises(Invalid):
        repost_create(account=alice, post=post)

    _refused(post)


def test_boost_of_a_direct_post_is_invalid(alice, bob, post_of):
    post = post_of(alice, text="hi @bob", visibility=Visibility.DIRECT)

    with pytest.raises(Invalid):
        repost_create(account=bob, post=post)

    _refused(post)


def test_refused_like_leaves_an_existing_like_alone(alice, bob, carol, post_of):
    post = post_of(alice)
    like_create(account=carol, post=post)
    block_create(account=alice, target=bob)

    with pytest.raises(NotAllowed):
        like_create(account=bob, post=post)

    assert stored_counts(post) == (1, 0)
    assert interaction_events() == ["like.created"]


# --- bookmarks --------------------------------------------------------------------------------


def test_bookmark_create_is_idempotent_and_federates_nothing(alice, bob, post_of):
    post = post_of(alice)

    first = bookmark_create(account=bob, post=post)
    second = bookmark_create(account=bob, post=post)

    assert first.pk == second.pk
    assert Bookmark.objects.filter(account=bob, post=post).count() == 1
    assert stored_counts(post) == (0, 0)
    assert interaction_events() == []
    assert not OutboxEvent.objects.filter(kind__startswith="bookmark").exists()


def test_bookmark_delete(alice, bob, post_of):
    post = post_of(alice)
    bookmark_create(account=bob, post=post)

    assert bookmark_delete(account=bob, post=post) is True
    assert bookmark_delete(account=bob, post=post) is False
    assert not Bookmark.objects.exists()


def test_bookmark_delete_of_nothing_leaves_other_bookmarks(alice, bob, carol, post_of):
    post = post_of(alice)
    bookmark_create(account=carol, post=post)

    assert bookmark_delete(account=bob, post=post) is False
    assert Bookmark.objects.filter(account=carol, post=post).exists()


def test_bookmark_of_an_invisible_post_is_not_found(alice, bob, post_of):
    private = post_of(alice, visibility=Visibility.PRIVATE)
    deleted = post_of(alice)
    post_delete(post=deleted, actor=alice)

    for post in (private, deleted):
        with pytest.raises(NotFound):
            bookmark_create(account=bob, post=post)

    assert not Bookmark.objects.exists()


def test_private_post_becomes_likeable_once_followed(alice, bob, post_of):
    post = post_of(alice, visibility=Visibility.PRIVATE)
    with pytest.raises(NotFound):
        like_create(account=bob, post=post)

    follow_create(follower=bob, target=alice)
    like_create(account=bob, post=post)

    assert stored_counts(post) == (1, 0)
    assert Like.objects.get(post=post).created_at.tzinfo is not None
