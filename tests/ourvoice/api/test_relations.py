"""Relations through the HTTP API: relationships, follow/block/mute actions, follow requests,
blocks, mutes, domain blocks, favourites and bookmarks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute
from ourvoice.accounts.services import (
    account_suspend,
    block_create,
    follow_accept,
    follow_create,
    mute_create,
)
from ourvoice.interactions.models import Bookmark, Like
from ourvoice.interactions.services import bookmark_create, like_create
from ourvoice.posts.services import post_create, post_delete
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RELATIONSHIP_KEYS = {
    "id",
    "following",
    "showing_reblogs",
    "notifying",
    "languages",
    "followed_by",
    "blocking",
    "blocked_by",
    "muting",
    "muting_notifications",
    "requested",
    "requested_by",
    "domain_blocking",
    "endorsed",
    "note",
}
BOOLEAN_KEYS = RELATIONSHIP_KEYS - {"id", "languages", "note"}


def ok(response, status: int = 200):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def error(response, status: int, message: str | None = None) -> str:
    body = ok(response, status)
    assert "error" in body
    if message is not None:
        assert body["error"] == message
    return body["error"]


def client_for(account: Account, scopes: str = "read write follow push") -> ApiClient:
    return ApiClient(make_token(account.user, scopes))


def relationship(data: dict) -> dict:
    assert set(data) == RELATIONSHIP_KEYS
    assert data["id"].isdigit()
    assert all(isinstance(data[key], bool) for key in BOOLEAN_KEYS)
    assert data["note"] == "" and data["languages"] is None
    return data


def query_count(client: ApiClient, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def link_urls(response) -> tuple[str, str]:
    match = re.match(r'^<([^>]+)>; rel="next", <([^>]+)>; rel="prev"$', response["Link"])
    assert match, response["Link"]
    return match.group(1), match.group(2)


def path_of(url: str) -> str:
    return url.removeprefix("https://testserver")


def _ids(data: list[dict]) -> list[str]:
    return [item["id"] for item in data]


def locked(username: str) -> Account:
    account = local_account(username)
    Account.objects.filter(pk=account.pk).update(locked=True)
    account.refresh_from_db()
    return account


# --- relationships -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_relationships(alice, bob, alice_client):
    carol = local_account("carol")
    gone = local_account("gone")
    follow_create(follower=alice, target=bob)
    follow_create(follower=carol, target=alice)
    account_suspend(account=gone)
    path = "/api/v1/accounts/relationships"

    data = ok(alice_client.get(path, {"id[]": [carol.id, bob.id, 999, "junk", gone.id]}))
    assert _ids(data) == [str(carol.id), str(bob.id)]
    carol_rel, bob_rel = (relationship(item) for item in data)
    assert bob_rel["following"] is True and bob_rel["showing_reblogs"] is True
    assert bob_rel["followed_by"] is False
    assert carol_rel["followed_by"] is True and carol_rel["following"] is False
    data = ok(alice_client.get(path + "/", {"id": bob.id}))
    assert _ids(data) == [str(bob.id)]
    data = ok(alice_client.get(path, {"id[]": [gone.id], "with_suspended": "true"}))
    assert _ids(data) == [str(gone.id)]
    assert ok(alice_client.get(path)) == []
    error(client_for(alice, "read:statuses").get(path, {"id": bob.id}), 403)
    assert ok(client_for(alice, "follow").get(path, {"id": bob.id}))[0]["following"] is True
    error(ApiClient().get(path, {"id": bob.id}), 401)
    error(ApiClient(make_token(None, "read")).get(path, {"id": bob.id}), 422)


@pytest.mark.django_db
def test_relationships_query_count(alice, alice_client):
    accounts = [local_account(f"r{i}") for i in range(12)]
    for account in accounts[::2]:
        follow_create(follower=alice, target=account)

    def path(n: int) -> str:
        return "/api/v1/accounts/relationships?" + "&".join(f"id[]={a.id}" for a in accounts[:n])

    assert query_count(alice_client, path(2)) == query_count(alice_client, path(12))


# --- follow / unfollow ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_follow_unlocked_locked_and_remote(alice, bob, alice_client, outbox):
    shy = locked("shy")
    remote = RemoteAccountFactory(username="zed", domain="social.example")
    data = relationship(ok(alice_client.post(f"/api/v1/accounts/{bob.id}/follow")))
    assert data["id"] == str(bob.id) and data["following"] is True and data["requested"] is False
    assert data["showing_reblogs"] is True and data["notifying"] is False
    data = relationship(ok(alice_client.post(f"/api/v1/accounts/{shy.id}/follow/")))
    assert data["following"] is False and data["requested"] is True
    data = relationship(ok(alice_client.post(f"/api/v1/accounts/{remote.id}/follow")))
    assert data["requested"] is True
    assert outbox.kinds().count("follow.requested") == 3
    bob.refresh_from_db()
    assert bob.followers_count == 1


@pytest.mark.django_db
def test_follow_options_are_kept_on_repeat(alice, bob, alice_client):
    path = f"/api/v1/accounts/{bob.id}/follow"
    data = ok(alice_client.post(path, {"reblogs": "false", "notify": "true"}))
    assert (data["showing_reblogs"], data["notifying"]) == (False, True)
    data = ok(alice_client.post(path))  # no options: unchanged
    assert (data["showing_reblogs"], data["notifying"]) == (False, True)
    data = ok(alice_client.post(path, data={"reblogs": True}, content_type="application/json"))
    assert (data["showing_reblogs"], data["notifying"]) == (True, True)
    assert Follow.objects.filter(follower=alice, target=bob).count() == 1


@pytest.mark.django_db
def test_follow_errors_change_nothing(alice, bob, alice_client):
    message = error(alice_client.post(f"/api/v1/accounts/{alice.id}/follow"), 422)
    assert message.startswith("Validation failed")
    error(alice_client.post("/api/v1/accounts/424242/follow"), 404, "Record not found")
    error(alice_client.post("/api/v1/accounts/nope/follow"), 404, "Record not found")
    gone = local_account("gone")
    account_suspend(account=gone)
    error(alice_client.post(f"/api/v1/accounts/{gone.id}/follow"), 404)
    block_create(account=bob, target=alice)
    error(alice_client.post(f"/api/v1/accounts/{bob.id}/follow"), 403)
    error(alice_client.post(f"/api/v1/accounts/{bob.id}/follow", {"reblogs": "perhaps"}), 422)
    assert not Follow.objects.filter(follower=alice).exists()
    # auth
    error(ApiClient().post(f"/api/v1/accounts/{bob.id}/follow"), 401)
    error(client_for(alice, "write:statuses").post(f"/api/v1/accounts/{bob.id}/follow"), 403)
    error(client_for(alice, "read").post(f"/api/v1/accounts/{bob.id}/follow"), 403)
    error(ApiClient(make_token(None, "write")).post(f"/api/v1/accounts/{bob.id}/follow"), 422)
    error(alice_client.get(f"/api/v1/accounts/{bob.id}/follow"), 405)
    assert not Follow.objects.filter(follower=alice).exists()


@pytest.mark.django_db
def test_unfollow_and_remove_from_followers(alice, bob, alice_client, bob_client):
    follow_create(follower=alice, target=bob)
    follow_create(follower=bob, target=alice)
    data = ok(client_for(alice, "write:follows").post(f"/api/v1/accounts/{bob.id}/unfollow"))
    assert data["following"] is False and data["followed_by"] is True
    assert ok(alice_client.post(f"/api/v1/accounts/{bob.id}/unfollow"))["following"] is False
    data = ok(alice_client.post(f"/api/v1/accounts/{bob.id}/remove_from_followers"))
    assert data["followed_by"] is False
    assert not Follow.objects.filter(follower=bob, target=alice).exists()
    alice.refresh_from_db()
    assert alice.followers_count == 0 and alice.following_count == 0
    # a pending request is not a follower: remove_from_followers leaves it
    shy = locked("shy")
    follow_create(follower=bob, target=shy)
    ok(client_for(shy).post(f"/api/v1/accounts/{bob.id}/remove_from_followers"))
    assert Follow.objects.filter(follower=bob, target=shy, state="pending").exists()
    error(alice_client.post("/api/v1/accounts/31337/unfollow"), 404)


# --- block / mute / note -------------------------------------------------------------------------


@pytest.mark.django_db
def test_block_and_unblock(alice, bob, alice_client, bob_client):
    follow_create(follower=alice, target=bob)
    follow_create(follower=bob, target=alice)
    data = ok(client_for(alice, "write:blocks").post(f"/api/v1/accounts/{bob.id}/block"))
    assert data["blocking"] is True and data["following"] is False
    assert data["followed_by"] is False
    assert ok(bob_client.get("/api/v1/accounts/relationships", {"id": alice.id}))[0]["blocked_by"]
    error(client_for(alice, "write:follows").post(f"/api/v1/accounts/{bob.id}/unblock"), 403)
    assert Block.objects.filter(account=alice, target=bob).exists()
    data = ok(alice_client.post(f"/api/v1/accounts/{bob.id}/unblock"))
    assert data["blocking"] is False
    assert ok(alice_client.post(f"/api/v1/accounts/{bob.id}/unblock"))["blocking"] is False
    error(alice_client.post(f"/api/v1/accounts/{alice.id}/block"), 422)
    assert not Block.objects.exists()


@pytest.mark.django_db
def test_mute_with_duration_and_unmute(alice, bob, alice_client):
    path = f"/api/v1/accounts/{bob.id}/mute"
    data = ok(client_for(alice, "write:mutes").post(path))
    assert data["muting"] is True and data["muting_notifications"] is True
    data = ok(alice_client.post(path, {"notifications": "false", "duration": "3600"}))
    assert data["muting"] is True and data["muting_notifications"] is False
    mute = Mute.objects.get(account=alice, target=bob)
    expected = timezone.now() + timedelta(seconds=3600)
    assert abs((mute.expires_at - expected).total_seconds()) < 60
    for bad in ({"duration": "soon"}, {"duration": "-5"}, {"notifications": "maybe"}):
        error(alice_client.post(path, bad), 422)
    mute.refresh_from_db()
    assert mute.notifications is False
    error(alice_client.post(f"/api/v1/accounts/{alice.id}/mute"), 422)
    error(client_for(alice, "write:blocks").post(path), 403)
    data = ok(alice_client.post(f"/api/v1/accounts/{bob.id}/unmute/"))
    assert data["muting"] is False
    assert not Mute.objects.exists()


@pytest.mark.django_db
def test_note_is_accepted_but_not_stored(alice, bob, alice_client):
    data = relationship(
        ok(alice_client.post(f"/api/v1/accounts/{bob.id}/note", {"comment": "met at a party"}))
    )
    assert data["note"] == ""
    error(alice_client.post(f"/api/v1/accounts/{bob.id}/note", {"comment": "x" * 2001}), 422)
    error(client_for(alice, "write:follows").post(f"/api/v1/accounts/{bob.id}/note"), 403)
    error(alice_client.post("/api/v1/accounts/1/note"), 404)


# --- follow requests -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_follow_requests_list_authorize_reject(alice, bob, outbox):
    shy = locked("shy")
    client = client_for(shy)
    carol = local_account("carol")
    requesters = [bob, carol, alice]
    for account in requesters:
        follow_create(follower=account, target=shy)
    r = client.get("/api/v1/follow_requests", {"limit": 2})
    assert _ids(ok(r)) == [str(alice.id), str(carol.id)]
    next_url, _ = link_urls(r)
    assert _ids(ok(client.get(path_of(next_url)))) == [str(bob.id)]

    data = relationship(ok(client.post(f"/api/v1/follow_requests/{bob.id}/authorize")))
    assert data["id"] == str(bob.id) and data["followed_by"] is True
    assert data["requested_by"] is False
    assert Follow.objects.get(follower=bob, target=shy).state == "accepted"
    data = relationship(ok(client.post(f"/api/v1/follow_requests/{carol.id}/reject/")))
    assert data["followed_by"] is False and data["requested_by"] is False
    assert not Follow.objects.filter(follower=carol).exists()
    assert {"follow.accepted", "follow.rejected"} <= set(outbox.kinds())
    # no (more) pending request from them → 404, and nothing changes
    for account in (bob, carol, local_account("dave")):
        error(client.post(f"/api/v1/follow_requests/{account.id}/authorize"), 404)
    error(client.post("/api/v1/follow_requests/junk/reject"), 404)
    # someone else cannot act on shy's requests
    error(client_for(bob).post(f"/api/v1/follow_requests/{alice.id}/authorize"), 404)
    assert Follow.objects.get(follower=alice, target=shy).state == "pending"
    error(client_for(shy, "read").post(f"/api/v1/follow_requests/{alice.id}/authorize"), 403)
    error(client_for(shy, "write").get("/api/v1/follow_requests"), 403)
    assert ok(client_for(shy, "read:follows").get("/api/v1/follow_requests/")) != []


@pytest.mark.django_db
def test_follow_requests_query_count():
    shy = locked("shy")
    client = client_for(shy)
    for i in range(9):
        follow_create(follower=local_account(f"fr{i}"), target=shy)
    assert query_count(client, "/api/v1/follow_requests?limit=2") == query_count(
        client, "/api/v1/follow_requests?limit=9"
    )


# --- blocks and mutes lists ----------------------------------------------------------------------


@pytest.mark.django_db
def test_blocks_and_mutes_lists(alice, alice_client):
    blocked = [local_account(f"b{i}") for i in range(3)]
    for account in blocked:
        block_create(account=alice, target=account)
    muted = [local_account(f"m{i}") for i in range(3)]
    mute_create(account=alice, target=muted[0])
    mute_create(account=alice, target=muted[1], expires_at=timezone.now() + timedelta(days=1))
    mute_create(account=alice, target=muted[2], expires_at=timezone.now() - timedelta(days=1))

    r = alice_client.get("/api/v1/blocks", {"limit": 2})
    assert _ids(ok(r)) == [str(blocked[2].id), str(blocked[1].id)]
    block_ids = list(Block.objects.order_by("-id").values_list("id", flat=True))
    next_url, prev_url = link_urls(r)
    assert f"max_id={block_ids[1]}" in next_url and f"min_id={block_ids[0]}" in prev_url
    r = alice_client.get(path_of(next_url))
    assert _ids(ok(r)) == [str(blocked[0].id)]

    data = ok(alice_client.get("/api/v1/mutes/"))
    assert _ids(data) == [str(muted[1].id), str(muted[0].id)]  # the expired mute is gone
    assert DT.match(data[0]["mute_expires_at"]) and data[1]["mute_expires_at"] is None
    assert "Link" in alice_client.get("/api/v1/mutes")
    error(client_for(alice, "read:mutes").get("/api/v1/blocks"), 403)
    error(client_for(alice, "read:blocks").get("/api/v1/mutes"), 403)
    assert ok(client_for(alice, "follow").get("/api/v1/mutes")) != []
    error(ApiClient().get("/api/v1/blocks"), 401)
    assert ok(client_for(blocked[0]).get("/api/v1/blocks")) == []


@pytest.mark.django_db
def test_blocks_and_mutes_query_count(alice, alice_client):
    for i in range(9):
        account = local_account(f"x{i}")
        block_create(account=alice, target=account)
        mute_create(account=alice, target=account)
    for path in ("/api/v1/blocks", "/api/v1/mutes"):
        assert query_count(alice_client, path + "?limit=2") == query_count(
            alice_client, path + "?limit=9"
        )


# --- domain blocks -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_domain_blocks(alice, alice_client, outbox):
    theirs = RemoteAccountFactory(username="fan", domain="bad.example")
    mine = RemoteAccountFactory(username="idol", domain="bad.example")
    elsewhere = RemoteAccountFactory(username="ok", domain="good.example")
    follow_create(follower=theirs, target=alice, uri="https://bad.example/follows/1")
    follow_create(follower=alice, target=mine)
    follow_accept(follow=Follow.objects.get(follower=alice, target=mine))
    follow_create(follower=alice, target=elsewhere)

    assert ok(alice_client.post("/api/v1/domain_blocks", {"domain": "Bad.Example"})) == {}
    assert list(AccountDomainBlock.objects.values_list("domain", flat=True)) == ["bad.example"]
    assert not Follow.objects.filter(follower=theirs).exists()
    assert not Follow.objects.filter(target=mine).exists()
    assert Follow.objects.filter(target=elsewhere).exists()
    assert {"follow.deleted", "follow.rejected"} <= set(outbox.kinds())
    rel = ok(alice_client.get("/api/v1/accounts/relationships", {"id": mine.id}))[0]
    assert rel["domain_blocking"] is True
    # idempotent, and URL forms are normalised to the same domain
    assert ok(alice_client.post("/api/v1/domain_blocks/", {"domain": "https://bad.example/"})) == {}
    assert AccountDomainBlock.objects.count() == 1
    ok(
        alice_client.post(
            "/api/v1/domain_blocks",
            data={"domain": "other.example:8443"},
            content_type="application/json",
        )
    )
    data = ok(alice_client.get("/api/v1/domain_blocks"))
    assert data == ["other.example:8443", "bad.example"]

    r = alice_client.delete("/api/v1/domain_blocks?domain=bad.example")
    assert ok(r) == {}
    r = alice_client.delete(
        "/api/v1/domain_blocks",
        data={"domain": "other.example:8443"},
        content_type="application/json",
    )
    assert ok(r) == {}
    assert ok(alice_client.delete("/api/v1/domain_blocks?domain=never.example")) == {}
    assert not AccountDomainBlock.objects.exists()
    assert ok(alice_client.get("/api/v1/domain_blocks")) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "domain",
    ["", "   ", "not a domain", "testserver", "https://testserver/", "a/b c", "-x.example"],
)
def test_domain_block_bad_input(alice, alice_client, domain):
    follow_create(follower=alice, target=local_account("friend"))
    error(alice_client.post("/api/v1/domain_blocks", {"domain": domain}), 422)
    assert not AccountDomainBlock.objects.exists()
    assert Follow.objects.filter(follower=alice).count() == 1


@pytest.mark.django_db
def test_domain_blocks_auth_link_and_queries(alice, alice_client):
    for i in range(9):
        ok(alice_client.post("/api/v1/domain_blocks", {"domain": f"d{i}.example"}))
    r = alice_client.get("/api/v1/domain_blocks", {"limit": 4})
    assert ok(r) == [f"d{i}.example" for i in (8, 7, 6, 5)]
    next_url, _ = link_urls(r)
    assert ok(alice_client.get(path_of(next_url))) == [f"d{i}.example" for i in (4, 3, 2, 1)]
    assert query_count(alice_client, "/api/v1/domain_blocks?limit=2") == query_count(
        alice_client, "/api/v1/domain_blocks?limit=9"
    )
    error(client_for(alice, "read").post("/api/v1/domain_blocks", {"domain": "x.example"}), 403)
    error(client_for(alice, "write").get("/api/v1/domain_blocks"), 403)
    error(client_for(alice, "read").delete("/api/v1/domain_blocks?domain=d1.example"), 403)
    error(ApiClient().get("/api/v1/domain_blocks"), 401)
    assert AccountDomainBlock.objects.count() == 9


# --- favourites and bookmarks --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "make", "model", "scope"),
    [
        ("/api/v1/favourites", like_create, Like, "read:favourites"),
        ("/api/v1/bookmarks", bookmark_create, Bookmark, "read:bookmarks"),
    ],
)
def test_favourites_and_bookmarks(alice, bob, alice_client, path, make, model, scope):
    posts = [post_create(author=bob, text=f"post {i} #t @alice") for i in range(4)]
    for post in posts:
        make(account=alice, post=post)
    r = alice_client.get(path, {"limit": 2})
    data = ok(r)
    assert _ids(data) == [str(posts[3].id), str(posts[2].id)]
    assert DT.match(data[0]["created_at"]) and data[0]["account"]["id"] == str(bob.id)
    flag = "favourited" if model is Like else "bookmarked"
    assert data[0][flag] is True
    row_ids = list(model.objects.order_by("-id").values_list("id", flat=True))
    next_url, prev_url = link_urls(r)
    assert f"max_id={row_ids[1]}" in next_url and f"min_id={row_ids[0]}" in prev_url
    assert _ids(ok(alice_client.get(path_of(next_url)))) == [str(posts[1].id), str(posts[0].id)]
    # posts the viewer may no longer read drop out
    post_delete(post=posts[3], actor=bob)
    block_create(account=bob, target=alice)
    r = alice_client.get(path + "/")
    assert ok(r) == [] and "Link" not in r
    assert ok(client_for(alice, scope).get(path)) == []
    error(client_for(alice, "write").get(path), 403)
    error(ApiClient().get(path), 401)
    error(ApiClient(make_token(None, "read")).get(path), 422)


@pytest.mark.django_db
def test_favourites_and_bookmarks_query_count(alice, bob, alice_client):
    carol = local_account("carol")
    for i in range(9):
        post = post_create(author=bob if i % 2 else carol, text=f"#tag{i} hello @alice")
        like_create(account=alice, post=post)
        bookmark_create(account=alice, post=post)
    for path in ("/api/v1/favourites", "/api/v1/bookmarks"):
        assert query_count(alice_client, path + "?limit=2") == query_count(
            alice_client, path + "?limit=9"
        )
