"""Notes at their ids (410 + Tombstone once gone), Create activities, stored activities."""

from __future__ import annotations

import orjson
import pytest

from federation.models import OutgoingActivity
from federation.outbound.renderers import (
    CONTEXT,
    render_block,
    render_follow,
    render_like,
    render_undo,
)
from federation.signatures import digest_sha256
from ourvoice.accounts.services import account_suspend, block_create, follow_create
from ourvoice.interactions.services import like_create, repost_create
from ourvoice.posts.services import post_archive, post_delete, post_remove
from tests.federation.views.conftest import AP, BASE, LD

pytestmark = pytest.mark.django_db


def note_path(post):
    return f"/users/{post.author.username}/statuses/{post.id}"


@pytest.mark.parametrize("visibility", ["public", "unlisted"])
def test_note_is_served(ap_get, alice, post_of, visibility):
    post = post_of(alice, "Hello #fedi", visibility=visibility, language="en")
    response = ap_get(note_path(post))
    assert response.status_code == 200
    assert response["Content-Type"] == AP
    assert response["Vary"] == "Accept"
    document = orjson.loads(response.content)
    assert document["@context"] == CONTEXT
    assert document["id"] == post.uri == f"{BASE}/users/alice/statuses/{post.id}"
    assert document["type"] == "Note"
    assert document["attributedTo"] == f"{BASE}/users/alice"
    assert document["contentMap"] == {"en": post.content}
    assert document["url"] == f"{BASE}/@alice/{post.id}"


def test_note_with_ld_json_accept(ap_get, alice, post_of):
    post = post_of(alice)
    response = ap_get(note_path(post), accept=LD)
    assert response["Content-Type"] == LD


@pytest.mark.parametrize("visibility", ["private", "direct"])
def test_non_public_note_is_404_unsigned(client, ap_get, alice, bob, post_of, visibility):
    post = post_of(alice, "secret @bob", visibility=visibility)
    response = ap_get(note_path(post))
    assert response.status_code == 404
    assert b"secret" not in response.content
    assert client.get(f"/@alice/{post.id}", HTTP_ACCEPT="text/html").status_code == 404


def test_archived_note_is_404_for_the_public(client, ap_get, alice, post_of):
    post = post_of(alice)
    post_archive(post=post)
    assert ap_get(note_path(post)).status_code == 404
    assert client.get(f"/@alice/{post.id}", HTTP_ACCEPT="text/html").status_code == 404


@pytest.mark.parametrize("how", ["deleted", "removed"])
def test_gone_note_serves_410_tombstone(client, ap_get, alice, post_of, how):
    post = post_of(alice, "soon gone")
    if how == "deleted":
        post_delete(post=post, actor=alice)
    else:
        post_remove(post=post)
    post.refresh_from_db()
    response = ap_get(note_path(post))
    assert response.status_code == 410
    assert response["Content-Type"] == AP
    assert response["Vary"] == "Accept"
    document = orjson.loads(response.content)
    assert document["type"] == "Tombstone"
    assert document["id"] == post.uri
    assert document["formerType"] == "Note"
    assert document["deleted"] == post.state_changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "@context" in document
    assert b"soon gone" not in response.content

    html = client.get(f"/@alice/{post.id}", HTTP_ACCEPT="text/html")
    assert html.status_code == 410
    assert html["Content-Type"].startswith("text/html")
    assert html["Vary"] == "Accept"
    assert "soon gone" not in html.content.decode()

    activity = ap_get(f"{note_path(post)}/activity")
    assert activity.status_code == 410
    assert orjson.loads(activity.content)["id"] == f"{post.uri}/activity"


def test_unknown_and_foreign_ids_are_404(ap_get, alice, bob, post_of):
    post = post_of(alice)
    assert ap_get(f"/users/alice/statuses/{post.id + 1}").status_code == 404
    assert ap_get(f"/users/bob/statuses/{post.id}").status_code == 404
    assert ap_get(f"/users/nobody/statuses/{post.id}").status_code == 404
    assert ap_get("/users/alice/statuses/abc").status_code == 404


def test_note_of_suspended_author_is_404(ap_get, alice, post_of):
    post = post_of(alice)
    account_suspend(account=alice)
    assert ap_get(note_path(post)).status_code == 404


def test_note_page_html(client, alice, bob, post_of):
    parent = post_of(alice, "the parent")
    reply = post_of(bob, "a public reply", in_reply_to=parent)
    post_of(bob, "a private reply", in_reply_to=parent, visibility="private")
    response = client.get(f"/@alice/{parent.id}", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Vary"] == "Accept"
    html = response.content.decode()
    assert f'<link rel="alternate" type="application/activity+json" href="{parent.uri}">' in html
    assert "the parent" in html
    assert "a public reply" in html
    assert "a private reply" not in html
    # the note id itself also negotiates to the page
    same = client.get(note_path(parent), HTTP_ACCEPT="text/html")
    assert same.status_code == 200
    assert "the parent" in same.content.decode()
    assert client.get(f"/@bob/{reply.id}", HTTP_ACCEPT="text/html").status_code == 200


def test_note_page_sanitises_content_again(client, alice, post_of):
    post = post_of(alice, "clean")
    post.content = '<p>ok<script>alert(1)</script><img src=x onerror="y()"></p>'
    post.spoiler_text = "<b>cw</b>"
    post.save(update_fields=["content", "spoiler_text"])
    html = client.get(f"/@alice/{post.id}", HTTP_ACCEPT="text/html").content.decode()
    assert "<script>" not in html
    assert "onerror" not in html
    assert "&lt;b&gt;cw&lt;/b&gt;" in html
    assert "<p>ok" in html


def test_create_activity(ap_get, client, alice, post_of):
    post = post_of(alice, "created")
    response = ap_get(f"{note_path(post)}/activity")
    assert response.status_code == 200
    assert response["Content-Type"] == AP
    document = orjson.loads(response.content)
    assert document["type"] == "Create"
    assert document["id"] == f"{post.uri}/activity"
    assert document["object"]["id"] == post.uri
    # no AP Accept header: still the activity (it has no HTML form)
    assert client.get(f"{note_path(post)}/activity")["Content-Type"] == AP


def test_create_activity_of_private_post_is_404(ap_get, alice, post_of):
    post = post_of(alice, visibility="private")
    assert ap_get(f"{note_path(post)}/activity").status_code == 404


# --- stored activities ---------------------------------------------------------------------


def store(document, actor, kind):
    body = orjson.dumps(document)
    return OutgoingActivity.objects.create(
        uri=document["id"], type=kind, actor=actor, body=body, digest=digest_sha256(body)
    )


def path_of(uri):
    return uri.removeprefix(BASE)


def test_stored_follow_is_served_byte_for_byte(ap_get, alice, remote):
    follow = follow_create(follower=alice, target=remote)
    row = store(render_follow(follow), alice, "Follow")
    response = ap_get(path_of(follow.uri))
    assert response.status_code == 200
    assert response["Content-Type"] == AP
    assert response["Vary"] == "Accept"
    assert response.content == bytes(row.body)
    assert follow.uri.startswith(f"{BASE}/users/alice/follows/")


def test_activity_without_stored_body_is_404(ap_get, alice, remote):
    follow = follow_create(follower=alice, target=remote)
    assert ap_get(path_of(follow.uri)).status_code == 404
    assert ap_get("/users/alice/likes/123").status_code == 404
    assert ap_get("/users/nobody/follows/123").status_code == 404


def test_activity_of_another_actor_is_404(ap_get, alice, bob, remote):
    follow = follow_create(follower=alice, target=remote)
    store(render_follow(follow), alice, "Follow")
    other = follow.uri.replace("/users/alice/", "/users/bob/")
    assert ap_get(path_of(other)).status_code == 404


def test_undone_like_is_gone_and_the_undo_is_served(ap_get, alice, bob, post_of):
    post = post_of(bob)
    like = like_create(account=alice, post=post)
    inner = render_like(like)
    store(inner, alice, "Like")
    assert ap_get(path_of(like.uri)).status_code == 200
    undo = render_undo(inner, actor_uri=alice.uri, activity_id=f"{like.uri}/undo")
    store(undo, alice, "Undo")
    gone = ap_get(path_of(like.uri))
    assert gone.status_code == 410
    assert orjson.loads(gone.content)["formerType"] == "Like"
    served = ap_get(path_of(f"{like.uri}/undo"))
    assert served.status_code == 200
    assert orjson.loads(served.content)["type"] == "Undo"


def test_repost_served_only_when_public(ap_get, alice, bob, post_of):
    from federation.outbound.renderers import render_announce

    public = repost_create(account=alice, post=post_of(bob, "p1"))
    private = repost_create(account=alice, post=post_of(bob, "p2"), visibility="private")
    store(render_announce(public), alice, "Announce")
    store(render_announce(private), alice, "Announce")
    assert ap_get(path_of(public.uri)).status_code == 200
    assert ap_get(path_of(private.uri)).status_code == 404


def test_block_served_only_to_the_blocked_actor(ap_get, alice, remote, bob, signed_as):
    block = block_create(account=alice, target=remote)
    store(render_block(block), alice, "Block")
    path = path_of(block.uri)
    assert ap_get(path).status_code == 404  # unsigned
    signed_as(bob)
    assert ap_get(path, HTTP_SIGNATURE="x").status_code == 404  # someone else
    signed_as(remote)
    response = ap_get(path, HTTP_SIGNATURE="x")
    assert response.status_code == 200
    assert orjson.loads(response.content)["object"] == remote.uri


def test_note_and_actor_query_counts(ap_get, alice, bob, post_of, django_assert_max_num_queries):
    post = post_of(alice, "Hi @bob #one #two")
    with django_assert_max_num_queries(5):
        assert ap_get(note_path(post)).status_code == 200
    with django_assert_max_num_queries(1):
        assert ap_get("/users/alice").status_code == 200
