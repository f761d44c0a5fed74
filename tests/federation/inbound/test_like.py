"""Like (Mastodon, Lemmy), Misskey reactions and Pleroma/Akkoma EmojiReact; Lemmy Dislike."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore
from ourvoice.interactions.models import Like
from ourvoice.notifications.models import Notification
from ourvoice.posts.services import post_create
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("fixture", "actor_uri"),
    [
        ("mastodon/like", "https://mastodon.example/users/ana"),
        ("misskey/like", "https://misskey.example/users/9zq0x1y2z3"),
        ("pleroma/emoji_react", "https://akkoma.example/users/pat"),
        ("lemmy/like", "https://lemmy.example/u/lena"),
    ],
)
def test_likes_and_reactions_become_favourites(alice, alice_post, outbox, fixture, actor_uri):
    remote = remote_actor(actor_uri)
    activity = load(fixture, LOCAL_POST_ID=alice_post.id)

    handle(activity, remote)
    handle(activity, remote)  # replayed: still one

    like = Like.objects.get(account=remote, post=alice_post)
    assert like.uri == activity["id"]
    alice_post.refresh_from_db()
    assert alice_post.likes_count == 1
    outbox.drain()
    assert Notification.objects.filter(
        recipient=alice, type="favourite", from_account=remote, post=alice_post
    ).exists()


def test_lemmy_dislike_is_ignored(alice, alice_post):
    lena = remote_actor("https://lemmy.example/u/lena")

    with pytest.raises(Ignore):
        handle(load("lemmy/dislike", LOCAL_POST_ID=alice_post.id), lena)

    assert not Like.objects.exists()


def test_like_of_an_unknown_post_is_ignored(alice, alice_post):
    ana = remote_actor("https://mastodon.example/users/ana")
    activity = load("mastodon/like", LOCAL_POST_ID=alice_post.id + 1)

    with pytest.raises(Ignore):
        handle(activity, ana)


def test_like_of_a_post_the_actor_cannot_see_is_ignored(alice):
    ana = remote_actor("https://mastodon.example/users/ana")
    private = post_create(author=alice, text="followers only", visibility="private")

    with pytest.raises(Ignore):
        handle(load("mastodon/like", LOCAL_POST_ID=private.id), ana)

    assert not Like.objects.exists()
