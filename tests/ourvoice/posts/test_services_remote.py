"""post_create_remote / post_update_remote / post_delete_remote: remote posts as incoming
federation stores them (sanitised, counted, fanned out, with edit history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ourvoice.accounts.services import follow_accept, follow_create
from ourvoice.core.errors import Conflict, NotAllowed
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import FeedEntry, MediaAttachment, Post, PostEdit, Visibility
from ourvoice.posts.services import (
    RemoteMedia,
    post_create,
    post_create_remote,
    post_delete_remote,
    post_update_remote,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def create(remote, **fields) -> Post:
    values = {
        "author": remote,
        "uri": "https://remote.example/notes/1",
        "content": "<p>hi</p>",
        "visibility": Visibility.PUBLIC,
        "published_at": T0,
        **fields,
    }
    return post_create_remote(**values)


def test_create_stores_sanitised_post_with_rows_and_counters(alice, remote):
    follow_accept(follow=follow_create(follower=alice, target=remote))

    post = create(
        remote,
        content='<p onclick="x()">hi <script>bad()</script><a href="javascript:x">l</a></p>',
        spoiler_text="  cw ",
        language="pt-BR",
        mentions=[alice, alice],
        hashtags=["#Tide", "tide", "bad tag", "Boats"],
        media=[
            RemoteMedia(url="https://remote.example/m.png", type="image", blurhash="LKO2?U%2Tw=w")
        ],
    )

    assert post.local is False
    assert post.content == "<p>hi <a>l</a></p>"
    assert (post.spoiler_text, post.sensitive, post.language) == ("cw", True, "pt-BR")
    assert list(post.mentions.all()) == [alice]
    assert sorted(post.hashtags.values_list("name", flat=True)) == ["boats", "tide"]
    media = MediaAttachment.objects.get(post=post)
    assert (media.account, media.remote_url, media.url) == (remote, media.url, media.remote_url)
    remote.refresh_from_db()
    assert (remote.statuses_count, remote.last_status_at) == (1, T0)
    assert FeedEntry.objects.filter(owner=alice, post=post).exists()
    assert OutboxEvent.objects.filter(kind="post.created", payload__post_id=post.id).exists()


def test_create_is_idempotent_on_the_uri(remote):
    first = create(remote)
    second = create(remote, content="<p>other</p>")

    assert first.pk == second.pk
    remote.refresh_from_db()
    assert remote.statuses_count == 1


def test_create_refuses_local_and_suspended_authors(alice, remote):
    with pytest.raises(NotAllowed):
        create(alice)
    remote.suspended_at = timezone.now()
    with pytest.raises(NotAllowed):
        create(remote)


def test_replies_count_and_late_parents(alice, remote):
    local_parent = post_create(author=alice, text="parent")
    reply = create(remote, in_reply_to=local_parent)
    local_parent.refresh_from_db()
    assert (reply.in_reply_to_uri, local_parent.replies_count) == (local_parent.uri, 1)

    orphan = create(
        remote,
        uri="https://remote.example/notes/3",
        in_reply_to_uri="https://remote.example/notes/2",
    )
    parent = create(remote, uri="https://remote.example/notes/2")

    orphan.refresh_from_db()
    parent.refresh_from_db()
    assert orphan.in_reply_to == parent
    assert orphan.thread_root == parent
    assert parent.replies_count == 1


def test_last_status_at_never_goes_back(remote):
    create(remote, published_at=T0)
    create(remote, uri="https://remote.example/notes/old", published_at=T0 - timedelta(days=3))

    remote.refresh_from_db()
    assert remote.last_status_at == T0


def test_update_keeps_history_and_only_moves_forward(remote):
    post = create(remote, media=[RemoteMedia(url="https://remote.example/a.png", type="image")])
    kept = post.media.get()

    post_update_remote(
        post=post,
        content="<p>edited</p>",
        edited_at=T0 + timedelta(minutes=5),
        media=[
            RemoteMedia(url="https://remote.example/a.png", type="image", description="alt"),
            RemoteMedia(url="https://remote.example/b.png", type="image"),
        ],
        hashtags=["new"],
    )

    post.refresh_from_db()
    assert post.content == "<p>edited</p>"
    assert post.edited_at == T0 + timedelta(minutes=5)
    assert list(post.hashtags.values_list("name", flat=True)) == ["new"]
    media = list(post.media.order_by("position"))
    assert media[0].pk == kept.pk and media[0].description == "alt"
    assert media[1].remote_url == "https://remote.example/b.png"
    original, edited = PostEdit.objects.filter(post=post)
    assert (original.content, original.created_at) == ("<p>hi</p>", T0)
    assert edited.media_ids == [m.pk for m in media]
    with pytest.raises(Conflict):
        post_update_remote(post=post, content="<p>old</p>", edited_at=T0 + timedelta(minutes=1))
    with pytest.raises(Conflict):
        post_update_remote(post=post, content="<p>same</p>", edited_at=T0 + timedelta(minutes=5))
    assert OutboxEvent.objects.filter(kind="post.updated").count() == 1


def test_update_refuses_local_posts(alice):
    post = post_create(author=alice, text="mine")
    with pytest.raises(NotAllowed):
        post_update_remote(post=post, content="x", edited_at=timezone.now())


def test_delete_counts_down_once(alice, remote):
    parent = post_create(author=alice, text="parent")
    reply = create(remote, in_reply_to=parent)

    assert post_delete_remote(post=reply) is True
    assert post_delete_remote(post=reply) is False

    reply.refresh_from_db()
    parent.refresh_from_db()
    remote.refresh_from_db()
    assert reply.state == Post.State.DELETED
    assert (parent.replies_count, remote.statuses_count) == (0, 0)
    assert OutboxEvent.objects.filter(kind="post.deleted").count() == 1
    with pytest.raises(NotAllowed):
        post_delete_remote(post=parent)
