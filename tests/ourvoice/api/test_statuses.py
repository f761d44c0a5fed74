"""Statuses and timelines through the HTTP API with real tokens."""

from __future__ import annotations

import re

import pytest

from ourvoice.accounts.services import follow_create
from ourvoice.posts.models import Post, PostEdit
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STATUS_KEYS = {
    "id",
    "uri",
    "url",
    "created_at",
    "edited_at",
    "account",
    "content",
    "visibility",
    "sensitive",
    "spoiler_text",
    "language",
    "media_attachments",
    "mentions",
    "tags",
    "emojis",
    "reblogs_count",
    "favourites_count",
    "replies_count",
    "in_reply_to_id",
    "in_reply_to_account_id",
    "reblog",
    "poll",
    "card",
    "application",
}

pytestmark = pytest.mark.django_db


def test_create_returns_full_status(alice_client, bob):
    r = alice_client.post("/api/v1/statuses", {"status": "hi @bob #Fedi", "language": "en"})
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/json")
    data = r.json()
    assert set(data) >= STATUS_KEYS
    assert data["id"].isdigit()
    assert DT.match(data["created_at"])
    assert data["edited_at"] is None
    assert data["mentions"] == [
        {"id": str(bob.id), "username": "bob", "acct": "bob", "url": bob.url}
    ]
    assert data["tags"] == [{"name": "fedi", "url": "https://testserver/tags/fedi"}]
    assert data["favourited"] is False
    assert data["pinned"] is False
    assert data["application"]["name"] == "Test client"


def test_create_json_body_and_visibility(alice_client):
    r = alice_client.post(
        "/api/v1/statuses",
        {"status": "secret", "visibility": "private", "spoiler_text": "cw"},
        content_type="application/json",
    )
    assert r.status_code == 200
    assert r.json()["visibility"] == "private"
    assert r.json()["sensitive"] is True


def test_idempotency_key_returns_same_status(alice_client, alice):
    headers = {"HTTP_IDEMPOTENCY_KEY": "abc-123"}
    first = alice_client.post("/api/v1/statuses", {"status": "once"}, **headers).json()
    second = alice_client.post("/api/v1/statuses", {"status": "once"}, **headers).json()
    assert first["id"] == second["id"]
    assert Post.objects.filter(author=alice).count() == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"status": ""}, "Text can't be blank"),
        ({"status": "x" * 501}, "longer than 500"),
        ({"status": "x", "visibility": "friends"}, "Visibility must be"),
    ],
)
def test_create_bad_input_changes_nothing(alice_client, alice, body, fragment):
    r = alice_client.post("/api/v1/statuses", body)
    assert r.status_code == 422
    assert fragment in r.json()["error"]
    assert not Post.objects.filter(author=alice).exists()


def test_reply_to_unknown_status_is_404(alice_client, alice):
    r = alice_client.post("/api/v1/statuses", {"status": "x", "in_reply_to_id": "123456"})
    assert r.status_code == 404
    assert r.json() == {"error": "Record not found"}
    assert not Post.objects.filter(author=alice).exists()


def test_scopes_and_tokens(alice, anon_client):
    read_only = ApiClient(make_token(alice.user, scopes="read"))
    r = read_only.post("/api/v1/statuses", {"status": "x"})
    assert r.status_code == 403
    assert r.json() == {"error": "This action is outside the authorized scopes"}
    app_only = ApiClient(make_token(None, scopes="read write"))
    r = app_only.post("/api/v1/statuses", {"status": "x"})
    assert r.status_code == 422
    assert r.json() == {"error": "This method requires an authenticated user"}
    assert anon_client.post("/api/v1/statuses", {"status": "x"}).status_code == 401
    bogus = ApiClient("not-a-token")
    r = bogus.get("/api/v1/timelines/public")
    assert r.status_code == 401
    assert r.json() == {"error": "The access token is invalid"}
    granular = ApiClient(make_token(alice.user, scopes="write:statuses"))
    assert granular.post("/api/v1/statuses", {"status": "ok"}).status_code == 200
    assert not Post.objects.filter(source="x").exists()


def test_get_respects_visibility(alice, bob, alice_client, bob_client, anon_client):
    private = post_create(author=alice, text="followers", visibility="private")
    assert anon_client.get(f"/api/v1/statuses/{private.id}").status_code == 404
    assert bob_client.get(f"/api/v1/statuses/{private.id}").status_code == 404
    follow_create(follower=bob, target=alice)
    assert bob_client.get(f"/api/v1/statuses/{private.id}").status_code == 200
    assert anon_client.get("/api/v1/statuses/not-a-number").status_code == 404


def test_edit_history_and_source(alice_client, bob_client):
    sid = alice_client.post("/api/v1/statuses", {"status": "v1"}).json()["id"]
    r = alice_client.put(
        f"/api/v1/statuses/{sid}", {"status": "v2"}, content_type="application/json"
    )
    assert r.status_code == 200
    assert "v2" in r.json()["content"]
    assert DT.match(r.json()["edited_at"])
    history = alice_client.get(f"/api/v1/statuses/{sid}/history").json()
    assert ["v1" in h["content"] for h in history] == [True, False]
    assert all(DT.match(h["created_at"]) for h in history)
    source = alice_client.get(f"/api/v1/statuses/{sid}/source").json()
    assert source == {"id": sid, "text": "v2", "spoiler_text": ""}
    r = bob_client.put(
        f"/api/v1/statuses/{sid}", {"status": "hijack"}, content_type="application/json"
    )
    assert r.status_code == 403
    assert PostEdit.objects.filter(post_id=int(sid)).count() == 2
    assert bob_client.get(f"/api/v1/statuses/{sid}/source").status_code == 404


def test_delete_returns_text_and_then_404(alice_client, bob_client):
    sid = alice_client.post("/api/v1/statuses", {"status": "bye"}).json()["id"]
    assert bob_client.delete(f"/api/v1/statuses/{sid}").status_code == 403
    r = alice_client.delete(f"/api/v1/statuses/{sid}")
    assert r.status_code == 200
    assert r.json()["text"] == "bye"
    assert alice_client.get(f"/api/v1/statuses/{sid}").status_code == 404
    assert alice_client.delete(f"/api/v1/statuses/{sid}").status_code == 404


def test_context_order(alice, bob, alice_client):
    root = post_create(author=alice, text="root")
    a = post_create(author=bob, text="a", in_reply_to=root)
    b = post_create(author=alice, text="b", in_reply_to=a)
    c = post_create(author=bob, text="c", in_reply_to=root)
    ctx = alice_client.get(f"/api/v1/statuses/{a.id}/context").json()
    assert [s["id"] for s in ctx["ancestors"]] == [str(root.id)]
    assert [s["id"] for s in ctx["descendants"]] == [str(b.id)]
    ctx = alice_client.get(f"/api/v1/statuses/{root.id}/context/").json()
    assert [s["id"] for s in ctx["descendants"]] == [str(a.id), str(b.id), str(c.id)]
    assert ctx["ancestors"] == []


def test_actions_round_trip(alice, bob, alice_client, bob_client):
    sid = alice_client.post("/api/v1/statuses", {"status": "like me"}).json()["id"]
    for action, key, value in [
        ("favourite", "favourited", True),
        ("bookmark", "bookmarked", True),
        ("unfavourite", "favourited", False),
        ("unbookmark", "bookmarked", False),
    ]:
        r = bob_client.post(f"/api/v1/statuses/{sid}/{action}")
        assert r.status_code == 200, action
        assert r.json()[key] is value
    wrapper = bob_client.post(f"/api/v1/statuses/{sid}/reblog").json()
    assert wrapper["reblog"]["id"] == sid
    assert wrapper["id"] != sid
    assert wrapper["account"]["id"] == str(bob.id)
    assert wrapper["reblogged"] is True
    assert wrapper["reblog"]["reblogs_count"] == 1
    original = bob_client.post(f"/api/v1/statuses/{sid}/unreblog").json()
    assert original["id"] == sid
    assert original["reblogged"] is False
    pinned = alice_client.post(f"/api/v1/statuses/{sid}/pin").json()
    assert pinned["pinned"] is True
    assert bob_client.post(f"/api/v1/statuses/{sid}/pin").status_code == 422
    assert alice_client.post(f"/api/v1/statuses/{sid}/unpin").json()["pinned"] is False


def test_favourited_by_pagination(alice, alice_client):
    sid = alice_client.post("/api/v1/statuses", {"status": "popular"}).json()["id"]
    fans = [local_account(f"fan{i}") for i in range(5)]
    for fan in fans:
        ApiClient(make_token(fan.user)).post(f"/api/v1/statuses/{sid}/favourite")
    r = alice_client.get(f"/api/v1/statuses/{sid}/favourited_by?limit=2")
    assert [a["username"] for a in r.json()] == ["fan4", "fan3"]
    next_url = re.match(r'<([^>]+)>; rel="next"', r["Link"]).group(1)
    r2 = alice_client.get(next_url.replace("https://testserver", ""))
    assert [a["username"] for a in r2.json()] == ["fan2", "fan1"]
    assert alice_client.get(f"/api/v1/statuses/{sid}/reblogged_by").json() == []
    assert "Link" not in alice_client.get(f"/api/v1/statuses/{sid}/reblogged_by")


def test_home_timeline_paging(alice, bob, alice_client):
    follow_create(follower=alice, target=bob)
    ids = [post_create(author=bob, text=f"n{i}").id for i in range(5)]
    page = alice_client.get("/api/v1/timelines/home?limit=2")
    assert [int(s["id"]) for s in page.json()] == [ids[4], ids[3]]
    link = page["Link"]
    assert link.startswith("<https://testserver/api/v1/timelines/home?")
    assert f"max_id={ids[3]}" in link
    assert 'rel="next"' in link
    assert f"min_id={ids[4]}" in link
    r = alice_client.get(f"/api/v1/timelines/home?min_id={ids[0]}&limit=2")
    assert [int(s["id"]) for s in r.json()] == [ids[2], ids[1]]
    r = alice_client.get(f"/api/v1/timelines/home?since_id={ids[2]}&limit=40")
    assert [int(s["id"]) for s in r.json()] == [ids[4], ids[3]]
    r = alice_client.get(f"/api/v1/timelines/home?max_id={ids[0]}")
    assert r.json() == []
    assert "Link" not in r
    assert len(alice_client.get("/api/v1/timelines/home?limit=999").json()) == 5


def test_home_timeline_includes_boosts(alice, bob, alice_client, bob_client):
    carol = local_account("carol")
    follow_create(follower=alice, target=bob)
    post = post_create(author=carol, text="boost me")
    bob_client.post(f"/api/v1/statuses/{post.id}/reblog")
    statuses = alice_client.get("/api/v1/timelines/home").json()
    assert statuses[0]["reblog"]["id"] == str(post.id)
    assert statuses[0]["account"]["username"] == "bob"


def test_public_and_tag_timelines(alice, alice_client, anon_client):
    post_create(author=alice, text="public #Hello")
    post_create(author=alice, text="quiet", visibility="unlisted")
    public = anon_client.get("/api/v1/timelines/public").json()
    assert len(public) == 1
    assert public[0]["content"].startswith('<p>public <a href="https://testserver/tags/hello"')
    assert len(anon_client.get("/api/v1/timelines/public?local=true").json()) == 1
    assert anon_client.get("/api/v1/timelines/public?remote=true").json() == []
    assert len(anon_client.get("/api/v1/timelines/tag/hello").json()) == 1
    assert anon_client.get("/api/v1/timelines/tag/nothing").json() == []


@pytest.mark.parametrize("path", ["/api/v1/timelines/home", "/api/v1/timelines/public"])
def test_timeline_query_count_is_constant(
    alice, bob, alice_client, path, django_assert_max_num_queries
):
    follow_create(follower=alice, target=bob)
    for i in range(30):
        post = post_create(author=bob, text=f"@alice post {i} #tag{i % 3}")
        if i % 5 == 0:
            ApiClient(make_token(alice.user)).post(f"/api/v1/statuses/{post.id}/favourite")
    with django_assert_max_num_queries(14) as small:
        alice_client.get(f"{path}?limit=2")
    with django_assert_max_num_queries(14) as large:
        r = alice_client.get(f"{path}?limit=40")
    assert len(r.json()) == 30
    assert len(large.captured_queries) == len(small.captured_queries)


def test_unknown_remote_mentions_are_resolved_before_posting(alice_client, monkeypatch):
    """`@zed@far.example` we never saw is looked up (WebFinger + actor) and becomes a mention;
    known and unresolvable ones cost no look-up / stay text."""
    from federation import services as federation_services
    from tests.factories import RemoteAccountFactory

    known = RemoteAccountFactory(username="kim", domain="near.example")
    asked: list[str] = []

    def resolve(query: str):
        asked.append(query)
        if query == "@zed@far.example":
            return RemoteAccountFactory(username="zed", domain="far.example")
        return None

    monkeypatch.setattr(federation_services, "account_resolve", resolve)
    r = alice_client.post(
        "/api/v1/statuses",
        {
            "status": "hi @zed@far.example @kim@near.example @nobody@gone.example @bob",
            "visibility": "direct",
        },
    )

    assert r.status_code == 200
    assert asked == ["@zed@far.example", "@nobody@gone.example"]
    accts = {m["acct"] for m in r.json()["mentions"]}
    assert accts == {"zed@far.example", f"kim@{known.domain}"}
    post = Post.objects.get(pk=r.json()["id"])
    assert set(post.mentions.values_list("username", flat=True)) == {"zed", "kim"}
