"""Mastodon accounts section through the HTTP API: credentials, profiles, statuses, follow
lists, lookup, search, preferences and the empty-feature endpoints."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from ourvoice.accounts.models import Account, Follow
from ourvoice.accounts.services import (
    account_suspend,
    account_update_profile,
    block_create,
    follow_accept,
    follow_create,
)
from ourvoice.interactions.services import pin_create, repost_create
from ourvoice.posts.models import MediaAttachment
from ourvoice.posts.services import post_create, post_delete
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ACCOUNT_KEYS = {
    "id",
    "username",
    "acct",
    "display_name",
    "locked",
    "bot",
    "discoverable",
    "indexable",
    "group",
    "noindex",
    "created_at",
    "note",
    "url",
    "uri",
    "avatar",
    "avatar_static",
    "header",
    "header_static",
    "followers_count",
    "following_count",
    "statuses_count",
    "last_status_at",
    "hide_collections",
    "emojis",
    "fields",
    "moved",
    "suspended",
    "limited",
    "memorial",
    "roles",
}
SOURCE_KEYS = {
    "privacy",
    "sensitive",
    "language",
    "note",
    "fields",
    "follow_requests_count",
    "discoverable",
    "indexable",
    "hide_collections",
}
PREFERENCE_KEYS = {
    "posting:default:visibility",
    "posting:default:sensitive",
    "posting:default:language",
    "reading:expand:media",
    "reading:expand:spoilers",
}


def ok(response, status: int = 200):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def error(response, status: int, message: str | None = None) -> str:
    body = ok(response, status)
    assert set(body) >= {"error"}
    if message is not None:
        assert body["error"] == message
    return body["error"]


def assert_account(data: dict) -> None:
    assert set(data) >= ACCOUNT_KEYS
    assert data["id"].isdigit()
    assert DT.match(data["created_at"])
    assert data["avatar"].startswith("http") and data["header"].startswith("http")


def client_for(account: Account, scopes: str = "read write follow push") -> ApiClient:
    return ApiClient(make_token(account.user, scopes))


def patch_form(client: ApiClient, path: str, data: list[tuple[str, str]] | dict):
    return client.patch(
        path, data=urlencode(data), content_type="application/x-www-form-urlencoded"
    )


def patch_json(client: ApiClient, path: str, data: dict):
    return client.patch(path, data=json.dumps(data), content_type="application/json")


def query_count(client: ApiClient, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def link_urls(response) -> tuple[str, str]:
    link = response["Link"]
    match = re.match(r'^<([^>]+)>; rel="next", <([^>]+)>; rel="prev"$', link)
    assert match, link
    return match.group(1), match.group(2)


def path_of(url: str) -> str:
    return url.removeprefix("https://testserver")


# --- verify_credentials -------------------------------------------------------------------------


@pytest.mark.django_db
def test_verify_credentials_shape_and_follow_request_count(alice, alice_client):
    account_update_profile(account=alice, locked=True, note="Hello *there*")
    for name in ("r1", "r2"):
        follow_create(follower=local_account(name), target=alice)
    accepted = follow_create(follower=local_account("r3"), target=alice)
    follow_accept(follow=accepted)

    for path in ("/api/v1/accounts/verify_credentials", "/api/v1/accounts/verify_credentials/"):
        data = ok(alice_client.get(path))
        assert_account(data)
        assert data["id"] == str(alice.id) and data["acct"] == "alice" and data["locked"] is True
        assert set(data["source"]) == SOURCE_KEYS
        assert data["source"]["follow_requests_count"] == 2
        assert data["source"]["note"] == "Hello *there*"
        assert data["source"]["privacy"] == "public" and data["source"]["sensitive"] is False
        assert data["source"]["language"] is None
        assert set(data["role"]) >= {"id", "name", "permissions", "color", "highlighted"}
        assert data["followers_count"] == 1


@pytest.mark.django_db
def test_verify_credentials_scopes_and_tokens(alice, anon_client):
    path = "/api/v1/accounts/verify_credentials"
    assert ok(client_for(alice, "profile").get(path))["id"] == str(alice.id)
    assert ok(client_for(alice, "read:accounts").get(path))["id"] == str(alice.id)
    error(client_for(alice, "write").get(path), 403, "This action is outside the authorized scopes")
    error(client_for(alice, "read:statuses").get(path), 403)
    error(anon_client.get(path), 401, "The access token is invalid")
    error(ApiClient("not-a-token").get(path), 401, "The access token is invalid")
    error(ApiClient(make_token(None, "read")).get(path), 422)


# --- update_credentials -------------------------------------------------------------------------


@pytest.mark.django_db
def test_update_credentials_form_like_mastodon_py(alice, alice_client, outbox):
    data = ok(
        patch_form(
            alice_client,
            "/api/v1/accounts/update_credentials",
            [
                ("display_name", "Alice A."),
                ("note", "I like #tea"),
                ("locked", "1"),
                ("bot", "0"),
                ("discoverable", "false"),
                ("indexable", "True"),
                ("fields_attributes[0][name]", "Site"),
                ("fields_attributes[0][value]", "https://alice.example"),
                ("fields_attributes[1][name]", "Pronouns"),
                ("fields_attributes[1][value]", "she/her"),
                ("source[privacy]", "unlisted"),
                ("source[sensitive]", "true"),
                ("source[language]", "en"),
            ],
        )
    )
    assert_account(data)
    assert data["display_name"] == "Alice A."
    assert "#<span>tea</span>" in data["note"] and data["source"]["note"] == "I like #tea"
    assert (data["locked"], data["bot"], data["discoverable"], data["indexable"]) == (
        True,
        False,
        False,
        True,
    )
    assert [f["name"] for f in data["fields"]] == ["Site", "Pronouns"]
    assert 'href="https://alice.example"' in data["fields"][0]["value"]
    assert data["fields"][0]["verified_at"] is None
    assert data["source"]["fields"][1] == {
        "name": "Pronouns",
        "value": "she/her",
        "verified_at": None,
    }
    # Posting defaults are stored and used by later posts and /api/v1/preferences.
    assert (data["source"]["privacy"], data["source"]["sensitive"]) == ("unlisted", True)
    assert data["source"]["language"] == "en"
    prefs = ok(alice_client.get("/api/v1/preferences"))
    assert prefs["posting:default:visibility"] == "unlisted"
    assert prefs["posting:default:language"] == "en"
    status = ok(alice_client.post("/api/v1/statuses", {"status": "defaults"}))
    assert (status["visibility"], status["sensitive"], status["language"]) == (
        "unlisted",
        True,
        "en",
    )
    alice.refresh_from_db()
    assert alice.display_name == "Alice A." and alice.locked is True and alice.indexable is True
    assert "account.updated" in outbox.kinds()
    assert ok(alice_client.get("/api/v1/accounts/verify_credentials"))["display_name"] == (
        "Alice A."
    )


@pytest.mark.django_db
def test_update_credentials_multipart_with_ignored_avatar(alice, alice_client):
    body = encode_multipart(
        BOUNDARY,
        {
            "display_name": "Multi",
            "fields_attributes[0][name]": "a",
            "fields_attributes[0][value]": "b",
            "avatar": _upload("avatar.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32),
        },
    )
    data = ok(
        alice_client.patch(
            "/api/v1/accounts/update_credentials/", data=body, content_type=MULTIPART_CONTENT
        )
    )
    assert data["display_name"] == "Multi"
    assert data["fields"][0]["name"] == "a"
    assert data["avatar"].endswith("/avatar.png")  # the upload is ignored for now


def _upload(name: str, content: bytes):
    return SimpleUploadedFile(name, content, content_type="image/png")


@pytest.mark.django_db
def test_update_credentials_json_list_and_dict_fields(alice, alice_client):
    path = "/api/v1/accounts/update_credentials"
    data = ok(
        patch_json(
            alice_client,
            path,
            {"fields_attributes": [{"name": "x", "value": "1"}], "source": {"privacy": "private"}},
        )
    )
    assert [(f["name"], f["value"]) for f in data["fields"]] == [("x", "1")]
    data = ok(
        patch_json(
            alice_client,
            path,
            {
                "fields_attributes": {
                    "1": {"name": "second", "value": "2"},
                    "0": {"name": "first", "value": "1"},
                }
            },
        )
    )
    assert [f["name"] for f in data["fields"]] == ["first", "second"]
    # An empty list clears the fields; leaving fields_attributes out keeps them.
    data = ok(patch_json(alice_client, path, {"display_name": "Only name"}))
    assert len(data["fields"]) == 2
    data = ok(patch_json(alice_client, path, {"fields_attributes": []}))
    assert data["fields"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"display_name": "x" * 31},
        {"note": "n" * 501},
        {"locked": "maybe"},
        {"bot": {"a": 1}},
        {"display_name": ["a", {"b": 1}], "note": {"x": 1}},
        {"fields_attributes": "nope"},
        {"fields_attributes": [1, 2]},
        {"fields_attributes": {"a": {"name": "x", "value": "y"}}},
        {"fields_attributes": [{"name": "a", "value": "b"}] * 5},
        {"fields_attributes": [{"name": {"x": 1}, "value": "b"}]},
        {"source": {"privacy": "direct"}},
        {"source": {"privacy": "everyone"}},
        {"source": {"sensitive": "perhaps"}},
        {"source": {"language": "not a language"}},
        {"source": "public"},
    ],
)
def test_update_credentials_bad_input_changes_nothing(alice, alice_client, payload):
    account_update_profile(account=alice, display_name="Before", note="bio")
    before = Account.objects.get(pk=alice.pk)
    message = error(
        patch_json(
            alice_client,
            "/api/v1/accounts/update_credentials",
            {"display_name": "Changed", **payload},
        ),
        422,
    )
    assert message.startswith("Validation failed")
    after = Account.objects.get(pk=alice.pk)
    assert (after.display_name, after.note_source, after.locked, after.fields) == (
        before.display_name,
        before.note_source,
        before.locked,
        before.fields,
    )


@pytest.mark.django_db
def test_update_credentials_auth(alice, anon_client):
    path = "/api/v1/accounts/update_credentials"
    error(patch_json(anon_client, path, {"display_name": "x"}), 401)
    error(patch_json(client_for(alice, "read"), path, {"display_name": "x"}), 403)
    error(patch_json(ApiClient(make_token(None, "write")), path, {"display_name": "x"}), 422)
    assert ok(patch_json(client_for(alice, "write:accounts"), path, {"display_name": "ok"}))
    error(client_for(alice).get(path), 405)
    alice.refresh_from_db()
    assert alice.display_name == "ok"


# --- one account ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_account_detail(alice, bob, anon_client, alice_client):
    remote = RemoteAccountFactory(username="zed", domain="social.example")
    for path in (f"/api/v1/accounts/{bob.id}", f"/api/v1/accounts/{bob.id}/"):
        data = ok(anon_client.get(path))
        assert_account(data)
        assert data["acct"] == "bob" and data["url"].endswith("/@bob")
    data = ok(alice_client.get(f"/api/v1/accounts/{remote.id}"))
    assert data["acct"] == "zed@social.example" and data["uri"] == remote.uri
    error(anon_client.get("/api/v1/accounts/12345"), 404, "Record not found")
    error(anon_client.get("/api/v1/accounts/abc"), 404, "Record not found")
    account_suspend(account=bob)
    error(anon_client.get(f"/api/v1/accounts/{bob.id}"), 404, "Record not found")
    error(client_for(alice, "write").get(f"/api/v1/accounts/{alice.id}"), 403)


@pytest.mark.django_db
def test_registration_path_is_not_routed_here():
    match = resolve("/api/v1/accounts")
    assert "views.accounts" not in match.func.__module__
    assert "views.relations" not in match.func.__module__
    match = resolve("/api/v1/accounts/")
    assert "views.accounts" not in match.func.__module__


@pytest.mark.django_db
def test_lookup(alice, anon_client, settings):
    remote = RemoteAccountFactory(username="zed", domain="social.example")
    for acct in (
        "alice",
        "ALICE",
        "@alice",
        "alice@testserver",
        f"alice@{settings.OURVOICE_DOMAIN}",
    ):
        data = ok(anon_client.get("/api/v1/accounts/lookup", {"acct": acct}))
        assert data["id"] == str(alice.id)
    data = ok(anon_client.get("/api/v1/accounts/lookup/", {"acct": "zed@Social.Example"}))
    assert data["id"] == str(remote.id)
    for acct in ("nobody", "alice@elsewhere.example", "", "a@b@c"):
        error(anon_client.get("/api/v1/accounts/lookup", {"acct": acct}), 404, "Record not found")
    error(anon_client.get("/api/v1/accounts/lookup"), 404, "Record not found")


# --- statuses of an account ----------------------------------------------------------------------


@pytest.fixture
def profile(alice, bob):
    """Alice's posts: a plain one, a tagged one, a media one, a self-reply, a reply to bob,
    a followers-only one, and a boost of bob's post; plus one pinned."""
    bob_post = post_create(author=bob, text="bob says hi")
    plain = post_create(author=alice, text="plain")
    tagged = post_create(author=alice, text="about #Cats")
    media = MediaAttachment.objects.create(account=alice, url="https://testserver/m.png")
    with_media = post_create(author=alice, text="look", media_ids=[media.id])
    self_reply = post_create(author=alice, text="thread", in_reply_to=plain)
    reply = post_create(author=alice, text="@bob hi", in_reply_to=bob_post)
    private = post_create(author=alice, text="friends only", visibility="private")
    boost = repost_create(account=alice, post=bob_post)
    pin_create(account=alice, post=tagged)
    return {
        "bob_post": bob_post,
        "plain": plain,
        "tagged": tagged,
        "with_media": with_media,
        "self_reply": self_reply,
        "reply": reply,
        "private": private,
        "boost": boost,
    }


def _ids(data: list[dict]) -> list[str]:
    return [item["id"] for item in data]


@pytest.mark.django_db
def test_account_statuses_filters(alice, bob, profile, anon_client, bob_client):
    p = {k: str(v.id) for k, v in profile.items()}
    path = f"/api/v1/accounts/{alice.id}/statuses"
    data = ok(anon_client.get(path))
    assert _ids(data) == [
        p["boost"],
        p["reply"],
        p["self_reply"],
        p["with_media"],
        p["tagged"],
        p["plain"],
    ]
    assert data[0]["reblog"]["id"] == p["bob_post"] and data[0]["account"]["id"] == str(alice.id)
    assert DT.match(data[0]["created_at"])
    # followers-only posts appear for followers
    follow_create(follower=bob, target=alice)
    assert p["private"] in _ids(ok(bob_client.get(path)))
    assert p["boost"] not in _ids(ok(anon_client.get(path, {"exclude_reblogs": "true"})))
    no_replies = _ids(ok(anon_client.get(path, {"exclude_replies": "1"})))
    assert p["reply"] not in no_replies and p["self_reply"] in no_replies
    assert p["boost"] in no_replies
    assert _ids(ok(anon_client.get(path, {"only_media": "True"}))) == [p["with_media"]]
    assert _ids(ok(anon_client.get(path, {"tagged": "cats"}))) == [p["tagged"]]
    assert _ids(ok(anon_client.get(path + "/", {"pinned": "true"}))) == [p["tagged"]]
    data = ok(client_for(alice).get(path, {"pinned": "true"}))
    assert data[0]["pinned"] is True
    post_delete(post=profile["plain"], actor=alice)
    assert p["plain"] not in _ids(ok(anon_client.get(path)))


@pytest.mark.django_db
def test_account_statuses_hidden_when_blocked(alice, bob, profile, bob_client):
    block_create(account=alice, target=bob)
    data = ok(bob_client.get(f"/api/v1/accounts/{alice.id}/statuses"))
    assert data == []
    assert ok(bob_client.get(f"/api/v1/accounts/{bob.id}/statuses")) != []


@pytest.mark.django_db
def test_account_statuses_private_boost_audience(alice, bob, anon_client, bob_client):
    carol = local_account("carol")
    post = post_create(author=carol, text="carol's")
    boost = repost_create(account=alice, post=post, visibility="private")
    path = f"/api/v1/accounts/{alice.id}/statuses"
    assert ok(anon_client.get(path)) == []
    assert ok(bob_client.get(path)) == []
    follow_create(follower=bob, target=alice)
    assert _ids(ok(bob_client.get(path))) == [str(boost.id)]
    assert _ids(ok(client_for(alice).get(path))) == [str(boost.id)]


@pytest.mark.django_db
def test_account_statuses_pagination_link(alice, anon_client):
    posts = [post_create(author=alice, text=f"post {i}") for i in range(5)]
    path = f"/api/v1/accounts/{alice.id}/statuses"
    r = anon_client.get(path, {"limit": 2, "exclude_replies": "true"})
    assert _ids(ok(r)) == [str(posts[4].id), str(posts[3].id)]
    next_url, prev_url = link_urls(r)
    assert prev_url.startswith(f"https://testserver{path}?") and "min_id=" in prev_url
    assert next_url.startswith(f"https://testserver{path}?")
    assert "exclude_replies=true" in next_url and "limit=2" in next_url
    r = anon_client.get(path_of(next_url))
    assert _ids(ok(r)) == [str(posts[2].id), str(posts[1].id)]
    r = anon_client.get(path, {"min_id": posts[1].id, "limit": 2})
    assert _ids(ok(r)) == [str(posts[3].id), str(posts[2].id)]
    r = anon_client.get(path, {"max_id": posts[0].id})
    assert ok(r) == [] and "Link" not in r
    error(anon_client.get("/api/v1/accounts/999/statuses"), 404, "Record not found")


@pytest.mark.django_db
def test_account_statuses_query_count(alice, bob, bob_client):
    for i in range(8):
        post = post_create(author=bob, text=f"#tag{i} @alice hi")
        if i % 2:
            repost_create(account=alice, post=post)
        post_create(author=alice, text=f"post {i} #x")
    path = f"/api/v1/accounts/{alice.id}/statuses?limit="
    small = query_count(bob_client, path + "2")
    assert small == query_count(bob_client, path + "10")
    assert len(ok(bob_client.get(path + "10"))) == 10


# --- followers and following ---------------------------------------------------------------------


@pytest.mark.django_db
def test_followers_and_following_pagination(alice, anon_client):
    followers = [local_account(f"f{i}") for i in range(5)]
    for account in followers:
        follow_create(follower=account, target=alice)
    pending = local_account("pending")
    Account.objects.filter(pk=pending.pk).update(locked=True)
    pending.refresh_from_db()
    follow_create(follower=alice, target=pending)  # not accepted: left out of "following"
    for target in followers[:3]:
        follow_create(follower=alice, target=target)

    path = f"/api/v1/accounts/{alice.id}/followers"
    r = anon_client.get(path, {"limit": 2})
    assert _ids(ok(r)) == [str(followers[4].id), str(followers[3].id)]
    assert all(set(a) >= ACCOUNT_KEYS for a in r.json())
    next_url, prev_url = link_urls(r)
    follow_ids = list(
        Follow.objects.filter(target=alice).order_by("-id").values_list("id", flat=True)
    )
    assert f"max_id={follow_ids[1]}" in next_url and f"min_id={follow_ids[0]}" in prev_url
    r = anon_client.get(path_of(next_url))
    assert _ids(ok(r)) == [str(followers[2].id), str(followers[1].id)]
    r = anon_client.get(path_of(link_urls(r)[0]))
    assert _ids(ok(r)) == [str(followers[0].id)]
    r = anon_client.get(path_of(link_urls(r)[0]))
    assert ok(r) == [] and "Link" not in r

    data = ok(anon_client.get(f"/api/v1/accounts/{alice.id}/following/"))
    assert _ids(data) == [str(a.id) for a in reversed(followers[:3])]
    error(anon_client.get("/api/v1/accounts/42/followers"), 404, "Record not found")


@pytest.mark.django_db
def test_followers_hidden_from_blocked_viewer(alice, bob, bob_client):
    follow_create(follower=local_account("fan"), target=alice)
    assert len(ok(bob_client.get(f"/api/v1/accounts/{alice.id}/followers"))) == 1
    block_create(account=alice, target=bob)
    r = bob_client.get(f"/api/v1/accounts/{alice.id}/followers")
    assert ok(r) == [] and "Link" not in r


@pytest.mark.django_db
def test_followers_query_count(alice, alice_client):
    for i in range(10):
        account = local_account(f"q{i}")
        follow_create(follower=account, target=alice)
        follow_create(follower=alice, target=account)
    for kind in ("followers", "following"):
        path = f"/api/v1/accounts/{alice.id}/{kind}?limit="
        assert query_count(alice_client, path + "2") == query_count(alice_client, path + "9")


# --- search, familiar followers ------------------------------------------------------------------


@pytest.mark.django_db
def test_account_search(alice, bob, alice_client, anon_client):
    alicia = local_account("alicia")
    account_update_profile(account=bob, display_name="Alibaba")
    remote = RemoteAccountFactory(username="alina", domain="social.example")
    other = RemoteAccountFactory(username="alina", domain="other.example")
    gone = local_account("alister")
    account_suspend(account=gone)
    path = "/api/v1/accounts/search"

    data = ok(alice_client.get(path, {"q": "ali"}))
    found = _ids(data)
    assert set(found) == {str(a.id) for a in (alice, alicia, bob, remote, other)}
    assert found.index(str(alicia.id)) < found.index(str(remote.id))  # local first
    assert _ids(ok(alice_client.get(path, {"q": "alicia"})))[0] == str(alicia.id)
    assert _ids(ok(alice_client.get(path, {"q": "@alina@social.example"}))) == [str(remote.id)]
    assert _ids(ok(alice_client.get(path, {"q": "alicia@testserver"}))) == [str(alicia.id)]
    assert len(ok(alice_client.get(path, {"q": "ali", "limit": 2}))) == 2
    assert len(ok(alice_client.get(path, {"q": "ali", "limit": 500}))) == 5
    assert len(ok(alice_client.get(path + "/", {"q": "ali", "offset": 4}))) == 1
    assert ok(alice_client.get(path, {"q": ""})) == []
    follow_create(follower=alice, target=alicia)
    assert _ids(ok(alice_client.get(path, {"q": "ali", "following": "true"}))) == [str(alicia.id)]
    block_create(account=alicia, target=alice)
    assert str(alicia.id) not in _ids(ok(alice_client.get(path, {"q": "ali"})))
    error(anon_client.get(path, {"q": "ali"}), 401)
    error(client_for(alice, "write").get(path, {"q": "ali"}), 403)
    error(alice_client.get(path, {"q": "ali", "limit": "many"}), 422)


@pytest.mark.django_db
def test_account_search_query_count(alice, alice_client):
    for i in range(10):
        local_account(f"findme{i}")
    path = "/api/v1/accounts/search?q=findme&limit="
    assert query_count(alice_client, path + "2") == query_count(alice_client, path + "10")


@pytest.mark.django_db
def test_familiar_followers(alice, bob, alice_client):
    carol = local_account("carol")
    dave = local_account("dave")
    follow_create(follower=alice, target=bob)
    follow_create(follower=alice, target=dave)
    follow_create(follower=bob, target=carol)
    follow_create(follower=dave, target=carol)
    follow_create(follower=local_account("stranger"), target=carol)
    r = alice_client.get(
        "/api/v1/accounts/familiar_followers", {"id[]": [carol.id, bob.id, "junk", 999, carol.id]}
    )
    data = ok(r)
    assert [item["id"] for item in data] == [str(carol.id), str(bob.id)]
    assert {a["id"] for a in data[0]["accounts"]} == {str(bob.id), str(dave.id)}
    assert data[1]["accounts"] == []
    data = ok(alice_client.get("/api/v1/accounts/familiar_followers/", {"id": carol.id}))
    assert len(data) == 1 and len(data[0]["accounts"]) == 2
    error(ApiClient().get("/api/v1/accounts/familiar_followers"), 401)
    error(client_for(alice, "read:statuses").get("/api/v1/accounts/familiar_followers"), 403)


# --- preferences and empty features --------------------------------------------------------------


@pytest.mark.django_db
def test_preferences(alice, alice_client, anon_client):
    for path in ("/api/v1/preferences", "/api/v1/preferences/"):
        data = ok(alice_client.get(path))
        assert set(data) == PREFERENCE_KEYS
        assert data["posting:default:visibility"] == "public"
        assert data["posting:default:sensitive"] is False
        assert data["posting:default:language"] is None
        assert data["reading:expand:media"] == "default"
        assert data["reading:expand:spoilers"] is False
    error(anon_client.get("/api/v1/preferences"), 401)
    error(client_for(alice, "read:statuses").get("/api/v1/preferences"), 403)
    error(ApiClient(make_token(None, "read")).get("/api/v1/preferences"), 422)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/api/v1/lists", "read:lists"),
        ("/api/v1/followed_tags", "read:follows"),
        ("/api/v1/endorsements", "read:accounts"),
    ],
)
def test_empty_feature_lists(alice, alice_client, anon_client, path, scope):
    for url in (path, path + "/"):
        r = alice_client.get(url)
        assert ok(r) == [] and "Link" not in r
    assert ok(client_for(alice, scope).get(path)) == []
    error(client_for(alice, "write").get(path), 403)
    error(anon_client.get(path), 401)
    with CaptureQueriesContext(connection) as ctx:
        alice_client.get(path + "?limit=1")
    small = len(ctx.captured_queries)
    assert query_count(alice_client, path + "?limit=80") == small


@pytest.mark.django_db
def test_list_detail_and_account_lists(alice, bob, alice_client):
    error(alice_client.get("/api/v1/lists/1"), 404, "Record not found")
    error(alice_client.get("/api/v1/lists/1/"), 404, "Record not found")
    assert ok(alice_client.get(f"/api/v1/accounts/{bob.id}/lists")) == []
    error(alice_client.get("/api/v1/accounts/777/lists"), 404, "Record not found")
    error(client_for(alice, "read:accounts").get(f"/api/v1/accounts/{bob.id}/lists"), 403)


@pytest.mark.django_db
def test_suspended_account_statuses_and_follows_are_404(alice, anon_client):
    post_create(author=alice, text="hello")
    account_suspend(account=alice)
    for suffix in ("", "/statuses", "/followers", "/following"):
        error(anon_client.get(f"/api/v1/accounts/{alice.id}{suffix}"), 404, "Record not found")


@pytest.mark.django_db
def test_mute_does_not_hide_profile_statuses(alice, bob, bob_client):
    post = post_create(author=alice, text="still visible on the profile")
    ok(bob_client.post(f"/api/v1/accounts/{alice.id}/mute"))
    assert _ids(ok(bob_client.get(f"/api/v1/accounts/{alice.id}/statuses"))) == [str(post.id)]
    assert timezone.now() - timedelta(seconds=60) < post.published_at
