"""Announce: boosts of local and remote posts, re-fetching untrusted embedded objects,
FEP-1b12 Group announces (Lemmy) and the domain policy on boosted authors (CVE-2026-23961)."""

from __future__ import annotations

import copy

import pytest

from federation.inbound.errors import Ignore
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_suspend, follow_accept, follow_create
from ourvoice.interactions.models import Repost
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import FeedEntry, Post, Visibility
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"
PAT = "https://akkoma.example/users/pat"
EMBEDDED_ID = "https://mastodon.example/users/ana/statuses/113400000000000009"


def test_mastodon_boost_of_a_local_post(alice, alice_post, outbox, remote_web):
    ana = remote_actor(ANA)
    bob = local_account("bob")
    follow_accept(follow=follow_create(follower=bob, target=ana))
    activity = load("mastodon/announce", LOCAL_POST_ID=alice_post.id)

    handle(activity, ana)
    handle(activity, ana)

    repost = Repost.objects.get(account=ana, post=alice_post)
    assert repost.uri == activity["id"]
    assert repost.visibility == Visibility.PUBLIC
    alice_post.refresh_from_db()
    assert alice_post.reposts_count == 1
    assert FeedEntry.objects.filter(owner=bob, repost_id=repost.id).exists()
    assert remote_web.fetched == []  # a local post is never fetched
    outbox.drain()
    assert Notification.objects.filter(recipient=alice, type="reblog", from_account=ana).exists()


def test_misskey_renote_in_cc_is_an_unlisted_boost(alice, alice_post):
    miko = remote_actor("https://misskey.example/users/9zq0x1y2z3")

    handle(load("misskey/announce", LOCAL_POST_ID=alice_post.id), miko)

    assert Repost.objects.get(account=miko).visibility == Visibility.UNLISTED


def _fetched_copy() -> dict:
    embedded = load("pleroma/announce_embedded")["object"]
    real = copy.deepcopy(embedded)
    real["content"] = "<p>The real post: regatta moved to Sunday</p>"
    return real


def test_embedded_third_party_object_is_refetched_not_trusted(alice, remote_web):
    pat = remote_actor(PAT)
    ana = remote_actor(ANA)
    remote_web.serve(_fetched_copy())

    handle(load("pleroma/announce_embedded"), pat)

    assert remote_web.fetched == [EMBEDDED_ID]
    post = Post.objects.get(uri=EMBEDDED_ID)
    assert post.author == ana
    assert "regatta moved to Sunday" in post.content
    assert "EMBEDDED COPY" not in post.content
    assert Repost.objects.filter(account=pat, post=post).exists()


def test_embedded_third_party_object_that_cannot_be_fetched_is_ignored(alice, remote_web):
    pat = remote_actor(PAT)
    remote_actor(ANA)

    with pytest.raises(Ignore):
        handle(load("pleroma/announce_embedded"), pat)

    assert remote_web.fetched == [EMBEDDED_ID]
    assert not Post.objects.filter(uri=EMBEDDED_ID).exists()
    assert not Repost.objects.exists()


def test_unknown_author_of_a_fetched_object_is_resolved(alice, remote_web):
    pat = remote_actor(PAT)
    remote_web.serve(_fetched_copy())
    remote_web.serve_actor(ANA)

    handle(load("pleroma/announce_embedded"), pat)

    assert (ANA, False) in remote_web.resolved
    assert Post.objects.get(uri=EMBEDDED_ID).author.uri == ANA


def test_embedded_object_of_the_announcers_origin_is_used_without_fetch(alice, remote_web):
    pat = remote_actor(PAT)
    remote_actor("https://akkoma.example/users/quinn")
    activity = load("pleroma/announce_embedded")
    note = activity["object"]
    note["id"] = "https://akkoma.example/objects/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    note["actor"] = note["attributedTo"] = "https://akkoma.example/users/quinn"
    note["content"] = "<p>same server, vouched for by it</p>"

    handle(activity, pat)

    assert remote_web.fetched == []
    post = Post.objects.get(uri=note["id"])
    assert "vouched for" in post.content
    assert Repost.objects.filter(account=pat, post=post).exists()


def test_boost_of_a_post_by_a_suspended_domain_is_ignored(alice, remote_web, set_policy):
    """Mastodon CVE-2026-23961: suspended authors must not slip in through boosts."""
    pat = remote_actor(PAT)
    remote_actor(ANA)
    remote_web.serve(_fetched_copy())
    set_policy("mastodon.example", policy="suspend")

    with pytest.raises(Ignore):
        handle(load("pleroma/announce_embedded"), pat)

    assert not Post.objects.filter(uri=EMBEDDED_ID).exists()
    assert not Repost.objects.exists()


def test_boost_of_a_known_post_whose_domain_was_suspended_later_is_ignored(
    alice, remote_web, set_policy
):
    pat = remote_actor(PAT)
    remote_actor(ANA)
    remote_web.serve(_fetched_copy())
    handle(load("pleroma/announce_embedded"), pat)
    Repost.objects.all().delete()
    set_policy("mastodon.example", policy="suspend")
    again = load("pleroma/announce_embedded")
    again["id"] += "-again"

    with pytest.raises(Ignore):
        handle(again, pat)

    assert not Repost.objects.exists()


def test_boost_of_a_post_by_a_suspended_account_is_ignored(alice, remote_web):
    pat = remote_actor(PAT)
    ana = remote_actor(ANA)
    account_suspend(account=ana)
    remote_web.serve(_fetched_copy())

    with pytest.raises(Ignore):
        handle(load("pleroma/announce_embedded"), pat)

    assert not Repost.objects.exists()


def test_lemmy_group_announce_boosts_the_fetched_page_only(alice, remote_web):
    group = remote_actor("https://lemmy.example/c/boating", kind=Account.Kind.GROUP)
    lena = remote_actor("https://lemmy.example/u/lena")
    follow_accept(follow=follow_create(follower=alice, target=group))
    remote_web.serve(load("lemmy/page"))

    handle(load("lemmy/announce_create_page"), group)

    # Only the Page was fetched by its id; the inner Create was never trusted nor fetched.
    assert remote_web.fetched == ["https://lemmy.example/post/4711"]
    post = Post.objects.get(uri="https://lemmy.example/post/4711")
    assert post.author == lena
    assert "Harbour dredging starts next month" in post.content
    assert "https://lemmy.example/post/4711" in post.content  # Page: name and link in front
    assert "Moorings on the east side" in post.content
    assert "EMBEDDED" not in post.content
    assert post.visibility == Visibility.PUBLIC
    repost = Repost.objects.get(account=group, post=post)
    assert FeedEntry.objects.filter(owner=alice, repost_id=repost.id).exists()


@pytest.mark.parametrize("inner", ["Like", "Dislike", "Delete", "Update", "Undo"])
def test_lemmy_group_announce_of_other_activities_is_not_applied(alice, alice_post, inner):
    group = remote_actor("https://lemmy.example/c/boating", kind=Account.Kind.GROUP)
    activity = load("lemmy/announce_create_page")
    activity["object"]["type"] = inner
    activity["object"]["object"] = alice_post.uri

    with pytest.raises(Ignore):
        handle(activity, group)

    assert not Repost.objects.exists()


def test_announce_of_an_unknown_local_post_is_ignored(alice, alice_post, remote_web):
    ana = remote_actor(ANA)

    with pytest.raises(Ignore):
        handle(load("mastodon/announce", LOCAL_POST_ID=alice_post.id + 1), ana)

    assert remote_web.fetched == []


def test_announce_of_a_followers_only_post_is_ignored(alice):
    ana = remote_actor(ANA)
    follow_accept(follow=follow_create(follower=ana, target=alice, uri=f"{ANA}#f"))
    private = post_create(author=alice, text="just for followers", visibility="private")

    with pytest.raises(Ignore):
        handle(load("mastodon/announce", LOCAL_POST_ID=private.id), ana)

    assert not Repost.objects.exists()
