"""GET /api/v2/search through the API with real tokens."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_update_profile, block_create, follow_create
from ourvoice.api.mastodon.views import search as search_view
from ourvoice.posts.services import post_create, post_delete
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _search(client, query: str = "", **params):
    r = client.get("/api/v2/search", {"q": query, **params} if query else params)
    assert r["Content-Type"].startswith("application/json")
    return r


def _ok(client, query: str, **params) -> dict:
    r = _search(client, query, **params)
    assert r.status_code == 200, r.content
    data = r.json()
    assert set(data) == {"accounts", "statuses", "hashtags"}
    return data


def _accts(data: dict) -> list[str]:
    return [a["acct"] for a in data["accounts"]]


@pytest.fixture
def world(alice, bob):
    carol = local_account("carol", display_name="Carol Bobbington")
    dave = RemoteAccountFactory(username="bobby", domain="remote.example")
    public = post_create(author=bob, text="Hello wide world #Python @alice")
    private = post_create(author=bob, text="hello followers only", visibility="private")
    other = post_create(author=carol, text="nothing to see #pythonic")
    return {
        "carol": carol,
        "dave": dave,
        "public": public,
        "private": private,
        "other": other,
    }


def test_accounts_by_username_display_name_and_acct(alice_client, alice, bob, world):
    data = _ok(alice_client, "bob")
    accts = _accts(data)
    assert accts[0] == "bob"  # exact username first
    assert set(accts) == {"bob", "bobby@remote.example"}
    assert data["accounts"][0]["id"] == str(bob.id)
    assert _accts(_ok(alice_client, "@bob"))[0] == "bob"
    assert _accts(_ok(alice_client, "bob@testserver")) == ["bob"]
    assert _accts(_ok(alice_client, "@bobby@remote.example")) == ["bobby@remote.example"]
    assert _accts(_ok(alice_client, "BOBBY@Remote.Example")) == ["bobby@remote.example"]
    assert _accts(_ok(alice_client, "Carol Bob")) == ["carol"]  # display name prefix
    assert _accts(_ok(alice_client, "zzz")) == []


def test_instance_actor_and_suspended_accounts_hidden(alice_client, world):
    assert Account.objects.filter(role=Account.Role.INSTANCE, username="testserver").exists()
    assert _accts(_ok(alice_client, "testserver")) == []
    world["dave"].suspended_at = world["public"].published_at
    world["dave"].save(update_fields=["suspended_at"])
    assert _accts(_ok(alice_client, "bobby")) == []


def test_accounts_following_and_blocks(alice_client, alice, bob, world):
    assert _accts(_ok(alice_client, "bob", following="true")) == []
    follow_create(follower=alice, target=bob)
    assert _accts(_ok(alice_client, "bob", following="true")) == ["bob"]
    block_create(account=world["carol"], target=alice)
    assert _accts(_ok(alice_client, "carol")) == []


def test_statuses_visible_to_viewer_only(alice_client, bob_client, alice, bob, world):
    data = _ok(alice_client, "hello")
    assert [s["id"] for s in data["statuses"]] == [str(world["public"].id)]
    status = data["statuses"][0]
    assert DT.match(status["created_at"]) and status["favourited"] is False
    # the author sees its followers-only post too, newest first
    data = _ok(bob_client, "hello")
    assert [s["id"] for s in data["statuses"]] == [
        str(world["private"].id),
        str(world["public"].id),
    ]
    follow_create(follower=alice, target=bob)
    assert len(_ok(alice_client, "hello")["statuses"]) == 2
    post_delete(post=world["public"], actor=bob)
    assert [s["id"] for s in _ok(alice_client, "hello")["statuses"]] == [str(world["private"].id)]


def test_statuses_match_words_not_markup(alice_client, world):
    assert len(_ok(alice_client, "wide hello")["statuses"]) == 1
    assert _ok(alice_client, "hello nothing")["statuses"] == []
    # the rendered HTML has <span>/<a href> for the mention: markup never matches
    assert _ok(alice_client, "href")["statuses"] == []
    assert _ok(alice_client, "h-card")["statuses"] == []


def test_statuses_filters(alice_client, bob, world):
    data = _ok(alice_client, "#python", type="statuses")
    assert {s["id"] for s in data["statuses"]} == {str(world["public"].id), str(world["other"].id)}
    assert data["accounts"] == [] and data["hashtags"] == []
    data = _ok(alice_client, "python", account_id=str(bob.id))
    assert [s["id"] for s in data["statuses"]] == [str(world["public"].id)]
    assert _ok(alice_client, "python", account_id="x")["statuses"] == []
    data = _ok(alice_client, "python", max_id=str(world["other"].id))
    assert [s["id"] for s in data["statuses"]] == [str(world["public"].id)]
    data = _ok(alice_client, "python", min_id=str(world["public"].id))
    assert [s["id"] for s in data["statuses"]] == [str(world["other"].id)]


def test_hashtags(alice_client, anon_client, world):
    data = _ok(alice_client, "#pyth")
    assert [t["name"] for t in data["hashtags"]] == ["python", "pythonic"]
    tag = data["hashtags"][0]
    assert set(tag) == {"id", "name", "url", "history", "following"}
    assert tag["id"].isdigit() and tag["url"] == "https://testserver/tags/python"
    assert tag["following"] is False
    assert len(tag["history"]) == 7
    assert tag["history"][0]["uses"] == "1" and tag["history"][0]["accounts"] == "1"
    assert all(isinstance(v, str) and v.isdigit() for h in tag["history"] for v in h.values())
    assert int(tag["history"][0]["day"]) % 86400 == 0
    assert int(tag["history"][0]["day"]) - int(tag["history"][1]["day"]) == 86400
    assert [t["name"] for t in _ok(anon_client, "PYTHONIC")["hashtags"]] == ["pythonic"]


def test_type_filter(alice_client, world):
    data = _ok(alice_client, "python", type="hashtags")
    assert data["accounts"] == [] and data["statuses"] == [] and len(data["hashtags"]) == 2
    data = _ok(alice_client, "bob", type="accounts")
    assert data["statuses"] == [] and data["hashtags"] == [] and _accts(data)
    assert _ok(alice_client, "bob", type="bogus") == {
        "accounts": [],
        "statuses": [],
        "hashtags": [],
    }


def test_limit_and_offset(alice_client, world):
    for i in range(3):
        RemoteAccountFactory(username=f"bobcat{i}", domain="cats.example")
    first = _accts(_ok(alice_client, "bob", limit="2"))
    second = _accts(_ok(alice_client, "bob", limit="2", offset="2"))
    assert len(first) == 2 and len(second) == 2 and not set(first) & set(second)
    assert len(_ok(alice_client, "bob", limit="1000")["accounts"]) == 5


def test_url_queries(alice_client, anon_client, bob, world):
    public = world["public"]
    for url in (public.url, public.uri):
        data = _ok(alice_client, url)
        assert [s["id"] for s in data["statuses"]] == [str(public.id)]
        assert data["accounts"] == [] and data["hashtags"] == []
    assert _ok(alice_client, world["private"].url)["statuses"] == []  # not visible to alice
    for url in (bob.uri, bob.url):
        data = _ok(alice_client, url)
        assert _accts(data) == ["bob"] and data["statuses"] == []
    assert _ok(anon_client, public.url) == {"accounts": [], "statuses": [], "hashtags": []}
    assert _accts(_ok(anon_client, bob.uri)) == ["bob"]
    assert _ok(alice_client, public.url, type="accounts")["statuses"] == []


def test_resolve_hook_is_called_for_unknown_remote_resources(alice_client, world, monkeypatch):
    calls = []
    found = RemoteAccountFactory(username="newcomer", domain="far.example")

    def fake(query):
        calls.append(query)
        return found if "@" in query else None

    monkeypatch.setattr(search_view, "_resolve_remote", fake)
    data = _ok(alice_client, "@newcomer@elsewhere.example", resolve="true")
    assert _accts(data) == ["newcomer@far.example"]
    assert _ok(alice_client, "https://far.example/notes/1", resolve="1")["statuses"] == []
    assert calls == ["@newcomer@elsewhere.example", "https://far.example/notes/1"]
    # known accounts and queries without resolve are answered locally, without the hook
    _ok(alice_client, "bobby@remote.example", resolve="true")
    _ok(alice_client, "@nobody@far.example")
    assert len(calls) == 2


def test_anonymous_and_app_tokens(anon_client, world):
    data = _ok(anon_client, "hello")
    assert data["statuses"] == []  # statuses need a signed-in viewer (Mastodon)
    data = _ok(anon_client, "bob")
    assert "bob" in _accts(data)
    r = _search(anon_client, "bob", offset="1")
    assert r.status_code == 401
    assert r.json() == {
        "error": "Search queries pagination is not supported without authentication"
    }
    r = _search(anon_client, "bob", resolve="true")
    assert r.status_code == 401 and "resolve" in r.json()["error"]
    app = ApiClient(make_token(None, scopes="read"))
    data = _ok(app, "hello")
    assert data["statuses"] == []


def test_bad_input_and_scopes(alice, alice_client, world):
    for params in ({}, {"q": "   "}):
        r = alice_client.get("/api/v2/search", params)
        assert r.status_code == 400
        assert r.json() == {"error": "param is missing or the value is empty: q"}
    # a bad limit or offset falls back to the default, as for every Mastodon list
    r = _search(alice_client, "bob", limit="abc", offset="x")
    assert r.status_code == 200 and "bob" in _accts(r.json())
    r = _search(alice_client, "bob", resolve="maybe")
    assert r.status_code == 422
    no_search = ApiClient(make_token(alice.user, scopes="read:statuses"))
    r = _search(no_search, "bob")
    assert r.status_code == 403
    assert r.json() == {"error": "This action is outside the authorized scopes"}
    assert (
        _search(ApiClient(make_token(alice.user, scopes="read:search")), "bob").status_code == 200
    )
    r = ApiClient("not-a-token").get("/api/v2/search", {"q": "bob"})
    assert r.status_code == 401


def test_trailing_slash(alice_client, world):
    r = alice_client.get("/api/v2/search/", {"q": "bob"})
    assert r.status_code == 200 and "bob" in _accts(r.json())


def test_query_count_does_not_grow(alice, bob):
    client = ApiClient(make_token(alice.user))
    for i in range(12):
        author = local_account(f"zed{i}")
        account_update_profile(account=author, display_name=f"Zed {i}")
        post_create(author=author, text=f"zebra crossing number {i} #zebra{i} @bob")
    follow_create(follower=alice, target=bob)

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            data = _ok(client, "zebra", limit=str(limit))
        assert len(data["statuses"]) == limit and len(data["hashtags"]) == limit
        data_accounts = _ok(client, "zed", limit=str(limit))["accounts"]
        assert len(data_accounts) == limit
        return len(ctx.captured_queries)

    assert count(1) == count(10)
