"""Notifications and markers through the Mastodon API, with real tokens."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ourvoice.accounts.services import follow_create
from ourvoice.interactions.services import like_create
from ourvoice.notifications.models import Marker, Notification
from ourvoice.notifications.services import notification_create
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NOTIFICATION_KEYS = {"id", "type", "group_key", "created_at", "account", "status", "report"}


def _json(response) -> object:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def _ids(response) -> list[str]:
    return [n["id"] for n in _json(response)]


def _notify_likes(recipient, count: int) -> list[Notification]:
    """`count` favourite notifications for `recipient`, each from a new account on a new post."""
    rows = []
    for i in range(count):
        post = post_create(author=recipient, text=f"post {i} #tag{i} @bob")
        fan = RemoteAccountFactory()
        rows.append(
            notification_create(
                recipient=recipient,
                from_account=fan,
                type=Notification.Type.FAVOURITE,
                post=post,
                dedupe_key=f"test:{i}",
            )
        )
    return rows


@pytest.fixture
def mixed(alice, bob, outbox):
    """alice gets a mention, a favourite and a follow from bob (through the real outbox)."""
    post = post_create(author=bob, text="hi @alice")
    mine = post_create(author=alice, text="my post")
    like_create(account=bob, post=mine)
    follow_create(follower=bob, target=alice)
    outbox.drain()
    return {n.type: n for n in Notification.objects.filter(recipient=alice)}, post, mine


def test_list_shape_and_order(alice_client, mixed):
    by_type, post, mine = mixed
    assert set(by_type) == {"mention", "favourite", "follow"}
    r = alice_client.get("/api/v1/notifications")
    assert r.status_code == 200
    data = _json(r)
    assert [n["type"] for n in data] == ["follow", "favourite", "mention"]
    for item in data:
        assert set(item) == NOTIFICATION_KEYS
        assert item["id"].isdigit() and DT.match(item["created_at"])
        assert item["group_key"] == f"ungrouped-{item['id']}"
        assert item["account"]["acct"] == "bob"
    assert data[0]["status"] is None
    assert data[1]["status"]["id"] == str(mine.id)
    assert data[2]["status"]["id"] == str(post.id)
    assert data[2]["status"]["favourited"] is False
    assert int(data[0]["id"]) > int(data[1]["id"]) > int(data[2]["id"])


@pytest.mark.parametrize(
    "query",
    [
        "types[]=mention&types[]=follow",
        "types[0]=mention&types[1]=follow",
    ],
)
def test_types_filter_encodings(alice_client, mixed, query):
    r = alice_client.get(f"/api/v1/notifications?{query}")
    assert [n["type"] for n in _json(r)] == ["follow", "mention"]


def test_types_as_json_array_and_bare_scalar(alice_client, mixed):
    r = alice_client.generic(
        "GET",
        "/api/v1/notifications",
        json.dumps({"types": ["favourite"], "exclude_types": ["mention"]}),
        content_type="application/json",
    )
    assert r.status_code == 200
    assert [n["type"] for n in _json(r)] == ["favourite"]
    r = alice_client.get("/api/v1/notifications?types=mention")
    assert [n["type"] for n in _json(r)] == ["mention"]


def test_exclude_types_and_unknown_types(alice_client, mixed):
    r = alice_client.get("/api/v1/notifications?exclude_types[]=follow&exclude_types[]=bogus")
    assert [n["type"] for n in _json(r)] == ["favourite", "mention"]
    # unknown names are ignored; only unknown names asked for → nothing matches (Mastodon)
    r = alice_client.get("/api/v1/notifications?types[]=mention&types[]=not_a_type")
    assert [n["type"] for n in _json(r)] == ["mention"]
    r = alice_client.get("/api/v1/notifications?types[]=not_a_type")
    assert r.status_code == 200 and _json(r) == [] and "Link" not in r


def test_account_id_filter(alice, alice_client, mixed):
    by_type, _, _ = mixed
    carol = local_account("carol")
    follow_create(follower=carol, target=alice)
    from ourvoice.events import outbox_drain

    outbox_drain()
    r = alice_client.get(f"/api/v1/notifications?account_id={carol.id}")
    data = _json(r)
    assert [(n["type"], n["account"]["acct"]) for n in data] == [("follow", "carol")]
    bob_id = by_type["mention"].from_account_id
    r = alice_client.get(f"/api/v1/notifications?account_id={bob_id}")
    assert len(_json(r)) == 3
    r = alice_client.get("/api/v1/notifications?account_id=nope")
    assert r.status_code == 200 and _json(r) == []


def test_pagination_cursors_and_link(alice, alice_client):
    rows = _notify_likes(alice, 5)
    ids = sorted((n.id for n in rows), reverse=True)
    r = alice_client.get("/api/v1/notifications?limit=2&types[]=favourite")
    assert _ids(r) == [str(i) for i in ids[:2]]
    link = r["Link"]
    assert link.startswith("<https://testserver/api/v1/notifications?")
    assert f"max_id={ids[1]}" in link and f"min_id={ids[0]}" in link
    assert 'rel="next"' in link and 'rel="prev"' in link
    assert "types%5B%5D=favourite" in link and "limit=2" in link
    next_url = re.match(r'<([^>]+)>; rel="next"', link).group(1)
    r = alice_client.get(next_url.removeprefix("https://testserver"))
    assert _ids(r) == [str(i) for i in ids[2:4]]
    r = alice_client.get(f"/api/v1/notifications?since_id={ids[2]}")
    assert _ids(r) == [str(i) for i in ids[:2]]
    r = alice_client.get(f"/api/v1/notifications?min_id={ids[4]}&limit=2")
    assert _ids(r) == [str(ids[2]), str(ids[3])]
    r = alice_client.get(f"/api/v1/notifications?max_id={ids[4]}")
    assert _json(r) == [] and "Link" not in r


def test_limit_default_and_clamp(alice, alice_client):
    _notify_likes(alice, 3)
    r = alice_client.get("/api/v1/notifications?limit=1000")
    assert len(_json(r)) == 3 and "limit=80" in r["Link"]
    r = alice_client.get("/api/v1/notifications")
    assert "limit=40" in r["Link"]
    r = alice_client.get("/api/v1/notifications?limit=abc")
    assert r.status_code == 200 and len(_json(r)) == 3


def test_query_count_does_not_grow(alice, bob):
    _notify_likes(alice, 20)
    client = ApiClient(make_token(alice.user))

    def count(limit: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(f"/api/v1/notifications?limit={limit}")
        assert len(r.json()) == limit
        return len(ctx.captured_queries)

    assert count(1) == count(20)


def test_detail(alice_client, bob_client, mixed):
    by_type, _, _ = mixed
    mention = by_type["mention"]
    r = alice_client.get(f"/api/v1/notifications/{mention.id}/")
    assert r.status_code == 200
    data = _json(r)
    assert set(data) == NOTIFICATION_KEYS and data["type"] == "mention"
    for bad in (str(mention.id), "0", "abc"):
        r = bob_client.get(f"/api/v1/notifications/{bad}")
        assert r.status_code == 404 and _json(r) == {"error": "Record not found"}


def test_dismiss(alice_client, bob_client, mixed):
    by_type, _, _ = mixed
    mention = by_type["mention"]
    r = bob_client.post(f"/api/v1/notifications/{mention.id}/dismiss")
    assert r.status_code == 404 and _json(r) == {"error": "Record not found"}
    assert not Notification.objects.get(pk=mention.pk).dismissed
    r = alice_client.post(f"/api/v1/notifications/{mention.id}/dismiss/")
    assert r.status_code == 200 and _json(r) == {}
    assert Notification.objects.get(pk=mention.pk).dismissed
    assert "mention" not in [n["type"] for n in _json(alice_client.get("/api/v1/notifications"))]
    assert alice_client.get(f"/api/v1/notifications/{mention.id}").status_code == 404
    assert alice_client.post("/api/v1/notifications/xyz/dismiss").status_code == 404


def test_clear(alice, alice_client, bob, mixed):
    _notify_likes(bob, 2)
    r = alice_client.post("/api/v1/notifications/clear")
    assert r.status_code == 200 and _json(r) == {}
    assert _json(alice_client.get("/api/v1/notifications")) == []
    # only the caller's notifications are cleared
    assert Notification.objects.filter(recipient=bob, dismissed=False).count() == 2


def test_auth_and_scopes(alice, mixed):
    anon = ApiClient()
    r = anon.get("/api/v1/notifications")
    assert r.status_code == 401 and _json(r) == {"error": "The access token is invalid"}
    read_only = ApiClient(make_token(alice.user, scopes="read:statuses"))
    r = read_only.get("/api/v1/notifications")
    assert r.status_code == 403
    assert _json(r) == {"error": "This action is outside the authorized scopes"}
    reader = ApiClient(make_token(alice.user, scopes="read:notifications"))
    assert reader.get("/api/v1/notifications").status_code == 200
    r = reader.post("/api/v1/notifications/clear")
    assert r.status_code == 403
    assert Notification.objects.filter(recipient=alice, dismissed=False).count() == 3
    app = ApiClient(make_token(None, scopes="read write"))
    r = app.get("/api/v1/notifications")
    assert r.status_code == 422
    assert _json(r) == {"error": "This method requires an authenticated user"}
    assert app.post("/api/v1/notifications/clear").status_code == 422
    assert Notification.objects.filter(recipient=alice, dismissed=False).count() == 3


def test_unread_count_and_v1_search_not_served(alice_client):
    # api_versions.mastodon < 2: no unread_count; v1 search is gone from Mastodon
    assert alice_client.get("/api/v1/notifications/unread_count").status_code == 404
    assert alice_client.get("/api/v1/search?q=x").status_code == 404


# --- Markers ------------------------------------------------------------------------------------


def test_markers_default_notifications_marker(alice, alice_client):
    r = alice_client.get("/api/v1/markers?timeline[]=home&timeline[]=notifications")
    assert r.status_code == 200
    data = _json(r)
    assert list(data) == ["notifications"]  # an unset home marker is left out, as Mastodon
    marker = data["notifications"]
    assert marker["last_read_id"] == "0" and marker["version"] == 0
    assert DT.match(marker["updated_at"])
    # Phanpy sends a bare scalar
    assert _json(alice_client.get("/api/v1/markers?timeline=notifications")) == data
    assert _json(alice_client.get("/api/v1/markers")) == {}
    assert _json(alice_client.get("/api/v1/markers?timeline[]=bogus")) == {}
    assert not Marker.objects.exists()


def test_markers_set_form_and_json(alice, alice_client, bob_client):
    r = alice_client.post(
        "/api/v1/markers", {"home[last_read_id]": "123", "notifications[last_read_id]": "456"}
    )
    assert r.status_code == 200
    data = _json(r)
    assert set(data) == {"home", "notifications"}
    assert data["home"]["last_read_id"] == "123" and data["home"]["version"] == 1
    assert data["notifications"]["last_read_id"] == "456"
    assert DT.match(data["home"]["updated_at"])
    r = alice_client.post(
        "/api/v1/markers/",
        json.dumps({"home": {"last_read_id": "789"}}),
        content_type="application/json",
    )
    assert _json(r) == {"home": {**_json(r)["home"], "last_read_id": "789", "version": 2}}
    r = alice_client.get("/api/v1/markers?timeline[]=home&timeline[]=notifications")
    data = _json(r)
    assert data["home"]["last_read_id"] == "789" and data["home"]["version"] == 2
    assert data["notifications"]["last_read_id"] == "456" and data["notifications"]["version"] == 1
    # markers are per account
    r = bob_client.get("/api/v1/markers?timeline[]=home&timeline[]=notifications")
    assert list(_json(r)) == ["notifications"]
    assert _json(r)["notifications"]["last_read_id"] == "0"


def test_markers_bad_input_changes_nothing(alice, alice_client):
    alice_client.post("/api/v1/markers", {"home[last_read_id]": "5"})
    for body in (
        {"home[last_read_id]": "abc"},
        {"home[last_read_id]": "7", "notifications[last_read_id]": "-1"},
        {"home": "7"},
        {"home[last_read_id]": str(2**64)},
    ):
        r = alice_client.post("/api/v1/markers", body)
        assert r.status_code == 422, body
        assert _json(r)["error"].startswith("Validation failed")
    marker = Marker.objects.get(account=alice, timeline="home")
    assert (marker.last_read_id, marker.version) == (5, 1)
    assert not Marker.objects.filter(timeline="notifications").exists()
    r = alice_client.post("/api/v1/markers", {"unknown[last_read_id]": "5"})
    assert r.status_code == 200 and _json(r) == {}


def test_markers_auth(alice):
    assert ApiClient().get("/api/v1/markers?timeline[]=home").status_code == 401
    reader = ApiClient(make_token(alice.user, scopes="read"))
    assert reader.get("/api/v1/markers?timeline[]=home").status_code == 200
    r = reader.post("/api/v1/markers", {"home[last_read_id]": "5"})
    assert r.status_code == 403 and not Marker.objects.exists()
    app = ApiClient(make_token(None))
    assert app.get("/api/v1/markers").status_code == 422
