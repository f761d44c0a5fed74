"""outbox, followers, following, featured, and a post's replies / likes / shares."""

from __future__ import annotations

import orjson
import pytest

from federation.outbound.renderers import ACTIVITYSTREAMS, CONTEXT
from ourvoice.accounts.services import account_suspend, follow_create
from ourvoice.interactions.services import like_create, pin_create, repost_create
from ourvoice.posts.services import post_delete
from tests.factories import RemoteAccountFactory, local_account
from tests.federation.views.conftest import AP, BASE

pytestmark = pytest.mark.django_db


def get_json(ap_get, path, status=200):
    response = ap_get(path)
    assert response.status_code == status, (path, response.content[:200])
    assert response["Content-Type"] == AP
    assert response["Vary"] == "Accept"
    return orjson.loads(response.content)


# --- outbox ----------------------------------------------------------------------------------


def test_outbox_collection_and_pages(ap_get, alice, post_of):
    public = [post_of(alice, f"post {n}") for n in range(23)]
    unlisted = post_of(alice, "unlisted one", visibility="unlisted")
    post_of(alice, "private one", visibility="private")
    post_of(alice, "direct one", visibility="direct")
    deleted = post_of(alice, "deleted one")
    post_delete(post=deleted, actor=alice)
    alice.refresh_from_db()

    outbox = f"{BASE}/users/alice/outbox"
    collection = get_json(ap_get, "/users/alice/outbox")
    assert collection == {
        "@context": ACTIVITYSTREAMS,
        "id": outbox,
        "type": "OrderedCollection",
        "totalItems": alice.statuses_count,
        "first": f"{outbox}?page=true",
        "last": f"{outbox}?min_id=0&page=true",
    }

    first = get_json(ap_get, "/users/alice/outbox?page=true")
    assert first["@context"] == CONTEXT
    assert first["type"] == "OrderedCollectionPage"
    assert first["id"] == f"{outbox}?page=true"
    assert first["partOf"] == outbox
    items = first["orderedItems"]
    assert len(items) == 20
    assert all(item["type"] == "Create" and "@context" not in item for item in items)
    ids = [item["object"]["id"] for item in items]
    assert ids[0] == unlisted.uri  # newest first
    assert ids[1:] == [p.uri for p in reversed(public)][:19]
    assert first["next"] == f"{outbox}?max_id={public[4].id}&page=true"

    second = get_json(ap_get, f"/users/alice/outbox?max_id={public[4].id}&page=true")
    assert second["id"] == f"{outbox}?max_id={public[4].id}&page=true"
    assert [item["object"]["id"] for item in second["orderedItems"]] == [
        p.uri for p in reversed(public[:4])
    ]
    assert "next" not in second
    assert second["prev"] == f"{outbox}?min_id={public[3].id}&page=true"

    everything = [item["object"]["id"] for item in items + second["orderedItems"]]
    assert len(everything) == 24
    assert all("private" not in i and "direct" not in i for i in everything)

    oldest = get_json(ap_get, "/users/alice/outbox?min_id=0&page=true")
    assert [item["object"]["id"] for item in oldest["orderedItems"]][-1] == public[0].uri
    assert len(oldest["orderedItems"]) == 20


def test_outbox_unknown_and_suspended(ap_get, alice):
    get_json(ap_get, "/users/nobody/outbox", status=404)
    account_suspend(account=alice)
    get_json(ap_get, "/users/alice/outbox", status=410)


def test_outbox_page_queries_do_not_grow_with_posts(
    ap_get, alice, post_of, django_assert_max_num_queries
):
    for n in range(20):
        post_of(alice, f"#tag{n} post {n}")
    with django_assert_max_num_queries(8):
        ap_get("/users/alice/outbox?page=true")


# --- followers / following -----------------------------------------------------------------


def test_followers_and_following(ap_get, alice):
    remotes = [RemoteAccountFactory() for _ in range(22)]
    for account in remotes:
        follow_create(follower=account, target=alice, uri=f"{account.uri}#follows/1")
    pending = RemoteAccountFactory()
    alice.locked = True  # a locked account leaves this one pending
    follow_create(follower=pending, target=alice, uri=f"{pending.uri}#follows/1")
    bob = local_account("bob")
    follow_create(follower=alice, target=bob)
    alice.refresh_from_db()

    followers = f"{BASE}/users/alice/followers"
    collection = get_json(ap_get, "/users/alice/followers")
    assert collection == {
        "@context": ACTIVITYSTREAMS,
        "id": followers,
        "type": "OrderedCollection",
        "totalItems": 22,
        "first": f"{followers}?page=1",
    }
    page1 = get_json(ap_get, "/users/alice/followers?page=1")
    assert page1["type"] == "OrderedCollectionPage"
    assert page1["id"] == f"{followers}?page=1"
    assert page1["partOf"] == followers
    assert page1["totalItems"] == 22
    assert page1["next"] == f"{followers}?page=2"
    assert "prev" not in page1
    page2 = get_json(ap_get, "/users/alice/followers?page=2")
    assert "next" not in page2
    assert page2["prev"] == f"{followers}?page=1"
    listed = page1["orderedItems"] + page2["orderedItems"]
    assert sorted(listed) == sorted(a.uri for a in remotes)
    assert pending.uri not in listed
    assert get_json(ap_get, "/users/alice/followers?page=true")["id"] == f"{followers}?page=1"

    following = get_json(ap_get, "/users/alice/following?page=true")
    assert following["orderedItems"] == [bob.uri]
    assert get_json(ap_get, "/users/alice/following")["totalItems"] == 1


# --- featured ------------------------------------------------------------------------------


def test_featured_collection_embeds_pinned_notes(ap_get, alice, post_of):
    first = post_of(alice, "pinned first")
    second = post_of(alice, "pinned second", visibility="unlisted")
    post_of(alice, "not pinned")
    pin_create(account=alice, post=first)
    pin_create(account=alice, post=second)
    gone = post_of(alice, "pinned then deleted")
    pin_create(account=alice, post=gone)
    post_delete(post=gone, actor=alice)

    document = get_json(ap_get, "/users/alice/collections/featured")
    assert document["@context"] == CONTEXT
    assert document["id"] == f"{BASE}/users/alice/collections/featured"
    assert document["type"] == "OrderedCollection"
    assert document["totalItems"] == 2
    assert [note["id"] for note in document["orderedItems"]] == [second.uri, first.uri]
    assert all(note["type"] == "Note" for note in document["orderedItems"])


def test_instance_actor_outbox(ap_get, db):
    document = get_json(ap_get, "/actor/outbox")
    assert document["id"] == f"{BASE}/actor/outbox"
    assert document["totalItems"] == 0


# --- replies, likes, shares ----------------------------------------------------------------


def test_replies_likes_shares(ap_get, alice, bob, post_of):
    parent = post_of(alice, "parent")
    reply = post_of(bob, "reply", in_reply_to=parent)
    post_of(bob, "nested", in_reply_to=reply)
    post_of(bob, "private reply", in_reply_to=parent, visibility="private")
    like_create(account=bob, post=parent)
    repost_create(account=bob, post=parent)
    base = f"/users/alice/statuses/{parent.id}"

    replies = get_json(ap_get, f"{base}/replies")
    assert replies["id"] == f"{parent.uri}/replies"
    assert replies["type"] == "Collection"
    assert replies["first"]["items"] == [reply.uri]
    page = get_json(ap_get, f"{base}/replies?page=true")
    assert page["type"] == "CollectionPage"
    assert page["items"] == [reply.uri]

    likes = get_json(ap_get, f"{base}/likes")
    assert likes == {
        "@context": ACTIVITYSTREAMS,
        "id": f"{parent.uri}/likes",
        "type": "Collection",
        "totalItems": 1,
    }
    assert get_json(ap_get, f"{base}/shares")["totalItems"] == 1


def test_collections_of_hidden_posts_are_404(ap_get, alice, post_of):
    private = post_of(alice, visibility="private")
    gone = post_of(alice)
    post_delete(post=gone, actor=alice)
    for post in (private, gone):
        for kind in ("replies", "likes", "shares"):
            get_json(ap_get, f"/users/alice/statuses/{post.id}/{kind}", status=404)
