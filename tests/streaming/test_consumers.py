"""The streaming outbox consumers: who gets which message, and that every payload is exactly
the REST entity for that viewer. The channel-layer transport is captured here (the live tests
in test_live.py run it for real); rendering, audiences and visibility are the real code."""

from __future__ import annotations

import json

import pytest

from ourvoice.accounts.services import block_create, follow_create, mute_create
from ourvoice.api.mastodon.entities import (
    StatusContext,
    render_notifications,
    render_repost,
    render_status,
)
from ourvoice.api.streaming import consumers
from ourvoice.api.streaming.messages import excluded, payload_for, status_for
from ourvoice.api.streaming.streams import PUBLIC_GROUP, hashtag_group, user_group
from ourvoice.core.models import OutboxEvent
from ourvoice.core.outbox import outbox_event_dispatch
from ourvoice.events import CONSUMERS
from ourvoice.interactions.services import bookmark_create, like_create, pin_create, repost_create
from ourvoice.notifications.models import Notification
from ourvoice.notifications.services import notification_dismiss
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create, post_delete, post_remove, post_update
from tests.factories import local_account


@pytest.fixture
def sent(monkeypatch):
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr(consumers, "_send_now", messages.extend)
    return messages


@pytest.fixture
def stream(outbox, sent, django_capture_on_commit_callbacks):
    """Dispatch the outbox and return what the streaming consumers published after commit."""

    def run() -> list[tuple[str, dict]]:
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            outbox.drain()
        return list(sent)

    return run


@pytest.fixture
def people(stream):
    names = ("alice", "bob", "carol", "dave")
    accounts = {name: local_account(name) for name in names}
    stream()
    return accounts


def fresh(post: Post) -> Post:
    """The post as a REST request would load it now (counters on its author included)."""
    return Post.objects.select_related("author").get(pk=post.pk)


def to(messages, group, event=None):
    return [m for g, m in messages if g == group and (event is None or m["event"] == event)]


def with_status(messages, group, post_id, event="update"):
    return [m for m in to(messages, group, event) if m.get("status", {}).get("id") == str(post_id)]


def test_followed_post_streams_to_home_and_public_as_rest_renders_it(people, stream):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    follow_create(follower=alice, target=bob)
    stream()

    post = post_create(author=bob, text="hi #Tagged")
    messages = stream()

    home = with_status(messages, user_group(alice.pk), post.pk)
    assert len(home) == 1 and home[0]["kind"] == "home"
    assert json.loads(payload_for(home[0], alice.pk)) == render_status(fresh(post), viewer=alice)
    assert with_status(messages, user_group(bob.pk), post.pk)  # the author's own home
    assert not to(messages, user_group(carol.pk))  # carol follows nobody
    public = with_status(messages, PUBLIC_GROUP, post.pk)
    assert len(public) == 1 and public[0]["local"] is True
    assert json.loads(payload_for(public[0], carol.pk)) == render_status(fresh(post), viewer=carol)
    assert with_status(messages, hashtag_group("tagged"), post.pk)


def test_viewer_fields_match_rest_for_likes_bookmarks_pins_and_boosts(people, stream):
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    follow_create(follower=alice, target=bob)
    follow_create(follower=carol, target=dave)
    post = post_create(author=bob, text="popular")
    stream()
    like_create(account=alice, post=post)
    bookmark_create(account=carol, post=post)
    pin_create(account=bob, post=post)
    post_update(post=post, editor=bob, text="popular, edited")
    messages = stream()

    (public,) = with_status(messages, PUBLIC_GROUP, post.pk, "status.update")
    for viewer in (alice, bob, carol, dave):
        assert status_for(public, viewer.pk) == render_status(fresh(post), viewer=viewer), viewer
    (home,) = with_status(messages, user_group(alice.pk), post.pk, "status.update")
    assert status_for(home, alice.pk)["favourited"] is True
    assert status_for(public, bob.pk)["pinned"] is True

    repost = repost_create(account=dave, post=post)
    messages = stream()
    (boost,) = [m for m in to(messages, user_group(carol.pk), "update") if m["status"]["reblog"]]
    repost.post = fresh(post)
    repost.account.refresh_from_db()
    rest = render_repost(repost, StatusContext.build(viewer=carol, posts=[repost.post]))
    assert status_for(boost, carol.pk) == rest
    assert status_for(boost, carol.pk)["bookmarked"] is True
    assert not with_status(messages, PUBLIC_GROUP, repost.pk)  # public streams show no boosts


def test_private_and_direct_posts_never_reach_public_streams(people, stream):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    follow_create(follower=alice, target=bob)
    stream()

    private = post_create(author=bob, text="followers #secret", visibility="private")
    direct = post_create(author=bob, text="@carol psst #secret", visibility="direct")
    messages = stream()

    for group in (PUBLIC_GROUP, hashtag_group("secret")):
        assert not to(messages, group), group
    assert with_status(messages, user_group(alice.pk), private.pk)
    assert not with_status(messages, user_group(carol.pk), private.pk)  # not a follower
    # The direct post: carol (mentioned) gets a conversation, alice (not mentioned) nothing.
    assert not with_status(messages, user_group(alice.pk), direct.pk)
    (conversation,) = to(messages, user_group(carol.pk), "conversation")
    assert conversation["kind"] == "direct"
    payload = json.loads(payload_for(conversation, carol.pk))
    assert payload["last_status"] == render_status(fresh(direct), viewer=carol)
    assert [a["username"] for a in payload["accounts"]] == ["bob"]
    assert payload["unread"] is True


def test_blocks_and_mutes_keep_posts_off_every_stream(people, stream):
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    for follower in (alice, carol, dave):
        follow_create(follower=follower, target=bob)
    block_create(account=carol, target=bob)
    mute_create(account=dave, target=bob)
    stream()

    post = post_create(author=bob, text="loud")
    messages = stream()

    assert with_status(messages, user_group(alice.pk), post.pk)
    assert not to(messages, user_group(carol.pk))
    assert not to(messages, user_group(dave.pk))
    (public,) = with_status(messages, PUBLIC_GROUP, post.pk)
    assert excluded(public, carol.pk) and excluded(public, dave.pk)
    assert not excluded(public, alice.pk)


def test_deletion_and_moderation_removal_stream_delete(people, stream):
    alice, bob = people["alice"], people["bob"]
    follow_create(follower=alice, target=bob)
    deleted = post_create(author=bob, text="oops #gone")
    removed = post_create(author=bob, text="bad")
    stream()

    post_delete(post=deleted, actor=bob)
    post_remove(post=removed)
    messages = stream()

    for post in (deleted, removed):
        home = [
            m for m in to(messages, user_group(alice.pk), "delete") if m["payload"] == str(post.pk)
        ]
        public = [m for m in to(messages, PUBLIC_GROUP, "delete") if m["payload"] == str(post.pk)]
        assert len(home) == 1 and len(public) == 1, post
        assert payload_for(home[0], alice.pk) == str(post.pk)
    assert [m["payload"] for m in to(messages, hashtag_group("gone"), "delete")] == [
        str(deleted.pk)
    ]


def test_notification_payload_is_the_rest_entity_and_dismissed_ones_stay_quiet(people, stream):
    alice, bob = people["alice"], people["bob"]
    post = post_create(author=alice, text="like me")
    stream()

    like_create(account=bob, post=post)
    messages = stream()
    (message,) = to(messages, user_group(alice.pk), "notification")
    assert message["kind"] == "notification"
    item = Notification.objects.get(recipient=alice, type="favourite")
    assert json.loads(message["payload"]) == render_notifications([item], viewer=alice)[0]
    assert not to(messages, user_group(bob.pk), "notification")

    # Dismissed before the event was dispatched: nothing to stream (REST would 404 it too).
    other = post_create(author=alice, text="again")
    stream()
    like_create(account=bob, post=other)
    (like_event,) = OutboxEvent.objects.filter(kind="like.created", processed_at__isnull=True)
    assert outbox_event_dispatch(event_id=like_event.pk, consumers=CONSUMERS)
    newest = Notification.objects.get(recipient=alice, post=other)
    notification_dismiss(recipient=alice, notification_id=newest.pk)
    assert OutboxEvent.objects.filter(kind="notification.created", processed_at__isnull=True)
    messages = stream()
    assert not to(messages, user_group(alice.pk), "notification")
