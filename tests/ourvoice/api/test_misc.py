"""Startup endpoints: emojis, filters, announcements, trends, tags, suggestions, push,
conversations and scheduled statuses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ourvoice.accounts.services import (
    account_silence,
    account_update_profile,
    block_create,
    follow_create,
    mute_create,
)
from ourvoice.interactions.services import like_create, repost_create
from ourvoice.posts.models import Hashtag, Post
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TAG_KEYS = {"id", "name", "url", "history", "following"}


def _json(response):
    assert response["Content-Type"].startswith("application/json")
    return response.json()


# --- Empty lists --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/api/v1/filters", "read:filters"),
        ("/api/v2/filters", "read:filters"),
        ("/api/v1/announcements", "read"),
        ("/api/v1/conversations", "read:statuses"),
        ("/api/v1/scheduled_statuses", "read:statuses"),
    ],
)
def test_empty_user_lists(alice, path, scope):
    client = ApiClient(make_token(alice.user, scopes=scope))
    for url in (path, f"{path}/"):
        r = client.get(url)
        assert r.status_code == 200 and _json(r) == [] and "Link" not in r
    r = ApiClient().get(path)
    assert r.status_code == 401 and _json(r) == {"error": "The access token is invalid"}
    r = ApiClient(make_token(alice.user, scopes="write")).get(path)
    assert r.status_code == 403
    r = ApiClient(make_token(None, scopes="read")).get(path)
    assert r.status_code == 422
    assert _json(r) == {"error": "This method requires an authenticated user"}


@pytest.mark.parametrize("path", ["/api/v1/custom_emojis", "/api/v1/trends/links"])
def test_empty_public_lists(alice_client, anon_client, path):
    for client in (anon_client, alice_client, ApiClient(make_token(None))):
        r = client.get(path)
        assert r.status_code == 200 and _json(r) == []
    assert anon_client.get(f"{path}/").status_code == 200


# --- Trends -------------------------------------------------------------------------------------


@pytest.fixture
def tagged(alice, bob):
    carol = local_account("carol")
    for author in (alice, bob, carol):
        post_create(author=author, text="about #Alpha")
    post_create(author=bob, text="#beta once")
    post_create(author=bob, text="#beta twice")
    post_create(author=alice, text="#hidden followers only", visibility="private")
    old = timezone.now() - timedelta(days=8)
    post_create(author=carol, text="#ancient", published_at=old)
    dan = local_account("dan")
    post_create(author=dan, text="#silenced")
    account_silence(account=dan, silenced=True)
    remote = RemoteAccountFactory()
    post = Post.objects.create(
        author=remote,
        content="<p>#gamma</p>",
        uri=f"{remote.uri}/notes/1",
        local=False,
    )
    post.hashtags.add(Hashtag.objects.create(name="gamma"))
    return carol


def test_trending_tags(anon_client, alice_client, tagged):
    r = anon_client.get("/api/v1/trends/tags")
    assert r.status_code == 200
    data = _json(r)
    assert [t["name"] for t in data] == ["alpha", "beta"]
    alpha, beta = data
    assert set(alpha) == TAG_KEYS and alpha["id"].isdigit()
    assert alpha["url"] == "https://testserver/tags/alpha"
    assert len(alpha["history"]) == 7
    assert alpha["history"][0] == {
        "day": alpha["history"][0]["day"],
        "uses": "3",
        "accounts": "3",
    }
    assert int(alpha["history"][0]["day"]) % 86400 == 0
    assert all(h["uses"] == "0" for h in alpha["history"][1:])
    assert beta["history"][0]["uses"] == "2" and beta["history"][0]["accounts"] == "1"
    assert _json(alice_client.get("/api/v1/trends")) == data
    assert _json(anon_client.get("/api/v1/trends/tags/")) == data


def test_trending_tags_offset_link(anon_client, tagged):
    r = anon_client.get("/api/v1/trends/tags?limit=1")
    assert [t["name"] for t in _json(r)] == ["alpha"]
    assert r["Link"] == ('<https://testserver/api/v1/trends/tags?offset=1&limit=1>; rel="next"')
    r = anon_client.get("/api/v1/trends/tags?limit=1&offset=1")
    assert [t["name"] for t in _json(r)] == ["beta"]
    assert r["Link"].startswith(
        '<https://testserver/api/v1/trends/tags?offset=2&limit=1>; rel="next"'
    )
    assert '<https://testserver/api/v1/trends/tags?offset=0&limit=1>; rel="prev"' in r["Link"]
    r = anon_client.get("/api/v1/trends/tags?limit=1&offset=5")
    assert _json(r) == [] and 'rel="next"' not in r["Link"]
    r = anon_client.get("/api/v1/trends/tags?limit=500")
    assert len(_json(r)) == 2 and "Link" not in r


def test_trending_tags_query_count(anon_client, alice):
    for i in range(12):
        post_create(author=alice, text=f"#topic{i}")

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert len(_json(anon_client.get(f"/api/v1/trends/tags?limit={limit}"))) == limit
        return len(ctx.captured_queries)

    assert count(1) == count(10)


@pytest.fixture
def popular(alice, bob):
    carol = local_account("carol")
    top = post_create(author=bob, text="top post")
    second = post_create(author=carol, text="second post")
    quiet = post_create(author=bob, text="no interactions")
    private = post_create(author=bob, text="private", visibility="private")
    old = post_create(author=bob, text="old", published_at=timezone.now() - timedelta(days=3))
    for post in (top, second, old):
        like_create(account=alice, post=post)
    repost_create(account=carol, post=top)
    follow_create(follower=carol, target=bob)
    like_create(account=carol, post=private)  # liked, but only followers may read it
    return {"top": top, "second": second, "quiet": quiet, "private": private, "carol": carol}


def test_trending_statuses(anon_client, alice_client, popular):
    r = anon_client.get("/api/v1/trends/statuses")
    data = _json(r)
    assert [s["id"] for s in data] == [str(popular["top"].id), str(popular["second"].id)]
    assert "favourited" not in data[0] and DT.match(data[0]["created_at"])
    data = _json(alice_client.get("/api/v1/trends/statuses/"))
    assert data[0]["favourited"] is True and data[0]["reblogs_count"] == 1
    r = anon_client.get("/api/v1/trends/statuses?limit=1")
    assert len(_json(r)) == 1 and 'offset=1&limit=1>; rel="next"' in r["Link"]


def test_trending_statuses_respect_the_viewer(alice, alice_client, popular):
    mute_create(account=alice, target=popular["carol"])
    data = _json(alice_client.get("/api/v1/trends/statuses"))
    assert [s["id"] for s in data] == [str(popular["top"].id)]


def test_trending_statuses_query_count(anon_client, alice):
    for i in range(12):
        post = post_create(author=alice, text=f"popular {i} #t{i} @alice")
        like_create(account=local_account(f"fan{i}"), post=post)

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert len(_json(anon_client.get(f"/api/v1/trends/statuses?limit={limit}"))) == limit
        return len(ctx.captured_queries)

    assert count(1) == count(10)


# --- Suggestions --------------------------------------------------------------------------------


@pytest.fixture
def network(alice, bob):
    """alice follows bob and erin; both follow carol, bob follows dave and alice."""
    carol, dave, erin = (local_account(n) for n in ("carol", "dave", "erin"))
    hidden, blocked, muted = (local_account(n) for n in ("hidden", "blocked", "muted"))
    account_update_profile(account=hidden, discoverable=False)
    for target in (bob, erin):
        follow_create(follower=alice, target=target)
    for follower in (bob, erin):
        follow_create(follower=follower, target=carol)
    for target in (dave, alice, hidden, blocked, muted):
        follow_create(follower=bob, target=target)
    follow_create(follower=erin, target=bob)
    block_create(account=blocked, target=alice)
    mute_create(account=alice, target=muted)
    return {"carol": carol, "dave": dave}


def test_suggestions_v2(alice_client, network):
    r = alice_client.get("/api/v2/suggestions")
    assert r.status_code == 200
    data = _json(r)
    assert [s["account"]["acct"] for s in data] == ["carol", "dave"]
    for item in data:
        assert item["source"] == "past_interactions"
        assert item["sources"] == ["friends_of_friends"]
        assert item["account"]["id"].isdigit()
    assert len(_json(alice_client.get("/api/v2/suggestions?limit=1"))) == 1


def test_suggestions_v1_and_auth(alice, alice_client, bob_client, network):
    data = _json(alice_client.get("/api/v1/suggestions/"))
    assert [a["acct"] for a in data] == ["carol", "dave"]
    # bob follows alice, who follows erin (bob already follows everyone else alice follows)
    assert [a["acct"] for a in _json(bob_client.get("/api/v1/suggestions"))] == ["erin"]
    assert ApiClient().get("/api/v2/suggestions").status_code == 401
    r = ApiClient(make_token(alice.user, scopes="write")).get("/api/v2/suggestions")
    assert r.status_code == 403


def test_suggestions_query_count(alice):
    client = ApiClient(make_token(alice.user))
    friend = local_account("friend")
    follow_create(follower=alice, target=friend)
    for i in range(12):
        follow_create(follower=friend, target=local_account(f"fof{i}"))

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert len(_json(client.get(f"/api/v2/suggestions?limit={limit}"))) == limit
        return len(ctx.captured_queries)

    assert count(1) == count(10)


# --- Tags ---------------------------------------------------------------------------------------


def test_tag_detail(anon_client, alice_client, alice):
    post_create(author=alice, text="#Django rocks")
    for client in (anon_client, alice_client):
        r = client.get("/api/v1/tags/Django")
        assert r.status_code == 200
        data = _json(r)
        assert set(data) == TAG_KEYS and data["name"] == "django"
        assert data["history"][0]["uses"] == "1" and data["following"] is False
    assert anon_client.get("/api/v1/tags/django/").status_code == 200
    r = anon_client.get("/api/v1/tags/unknown")
    assert r.status_code == 404 and _json(r) == {"error": "Record not found"}


def test_tag_follow_is_refused_clearly(alice, alice_client, anon_client):
    post_create(author=alice, text="#django")
    for action in ("follow", "unfollow"):
        r = alice_client.post(f"/api/v1/tags/django/{action}")
        assert r.status_code == 422
        assert _json(r) == {"error": "Following hashtags is not supported yet"}
        r = alice_client.post(f"/api/v1/tags/nope/{action}/")
        assert r.status_code == 404
        assert anon_client.post(f"/api/v1/tags/django/{action}").status_code == 401
    r = ApiClient(make_token(alice.user, scopes="read")).post("/api/v1/tags/django/follow")
    assert r.status_code == 403


# --- Web Push -----------------------------------------------------------------------------------


def test_push_subscription(alice, alice_client):
    r = alice_client.get("/api/v1/push/subscription")
    assert r.status_code == 404 and _json(r) == {"error": "Record not found"}
    assert alice_client.get("/api/v1/push/subscription/").status_code == 404
    r = alice_client.post(
        "/api/v1/push/subscription",
        {"subscription[endpoint]": "https://push.example/1", "subscription[keys][auth]": "x"},
    )
    assert r.status_code == 422
    assert _json(r) == {"error": "Web Push is not supported by this server yet"}
    r = alice_client.put("/api/v1/push/subscription", {}, content_type="application/json")
    assert r.status_code == 404
    r = alice_client.delete("/api/v1/push/subscription")
    assert r.status_code == 200 and _json(r) == {}
    no_push = ApiClient(make_token(alice.user, scopes="read write follow"))
    assert no_push.get("/api/v1/push/subscription").status_code == 403
    assert ApiClient().get("/api/v1/push/subscription").status_code == 401
