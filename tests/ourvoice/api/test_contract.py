"""Contract sweep (mastodon-api.md §0): every GET endpoint, with data behind it, must answer
`application/json` with a non-empty body, numeric-string ids, millisecond UTC datetimes, the
same answer with a trailing slash, and CORS headers; preflights work where browsers need them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ourvoice.accounts.services import follow_create
from ourvoice.events import outbox_drain
from ourvoice.interactions.services import bookmark_create, like_create, repost_create
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
NUMERIC = re.compile(r"^\d+$")
#: Keys holding ids that are not Mastodon row ids.
NON_NUMERIC_ID_KEYS = {"client_id", "group_key"}

pytestmark = pytest.mark.django_db


def _check(value: Any, path: str = "$") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(item, str):
                if key == "last_status_at":
                    assert DATE.match(item), where
                elif key.endswith("_at"):
                    assert DT.match(item), f"{where} = {item!r}"
                elif (key == "id" or key.endswith("_id")) and key not in NON_NUMERIC_ID_KEYS:
                    # "-99" is Mastodon's id of the everyone role in CredentialAccount.role.
                    assert NUMERIC.match(item) or where.endswith("role.id"), f"{where} = {item!r}"
            elif isinstance(item, int) and (key == "id" or key.endswith("_id")):
                pytest.fail(f"{where} is a number, ids must be strings")
            _check(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")


@pytest.fixture
def world():
    alice = local_account("alice")
    bob = local_account("bob")
    follow_create(follower=alice, target=bob)
    follow_create(follower=bob, target=alice)
    post = post_create(author=bob, text="hello @alice #contract")
    reply = post_create(author=alice, text="hi bob", in_reply_to=post)
    like_create(account=alice, post=post)
    repost_create(account=alice, post=post)
    bookmark_create(account=alice, post=post)
    outbox_drain()
    return {"alice": alice, "bob": bob, "post": post, "reply": reply}


def _paths(w: dict) -> list[str]:
    a, b, p = w["alice"].id, w["bob"].id, w["post"].id
    return [
        "/api/v1/instance",
        "/api/v2/instance",
        "/api/v1/instance/rules",
        "/api/v1/instance/peers",
        "/api/v1/instance/activity",
        "/api/v1/instance/extended_description",
        "/api/v1/instance/translation_languages",
        "/api/v1/accounts/verify_credentials",
        "/api/v1/preferences",
        f"/api/v1/accounts/{b}",
        f"/api/v1/accounts/{b}/statuses",
        f"/api/v1/accounts/{b}/followers",
        f"/api/v1/accounts/{b}/following",
        f"/api/v1/accounts/relationships?id[]={b}",
        "/api/v1/accounts/lookup?acct=bob",
        "/api/v1/accounts/search?q=bo",
        f"/api/v1/accounts/familiar_followers?id[]={a}",
        f"/api/v1/statuses/{p}",
        f"/api/v1/statuses/{p}/context",
        f"/api/v1/statuses/{p}/history",
        f"/api/v1/statuses/{p}/favourited_by",
        f"/api/v1/statuses/{p}/reblogged_by",
        f"/api/v1/statuses/{w['reply'].id}/source",
        "/api/v1/timelines/home",
        "/api/v1/timelines/public",
        "/api/v1/timelines/tag/contract",
        "/api/v1/notifications",
        "/api/v1/markers?timeline[]=notifications&timeline[]=home",
        "/api/v1/follow_requests",
        "/api/v1/blocks",
        "/api/v1/mutes",
        "/api/v1/domain_blocks",
        "/api/v1/favourites",
        "/api/v1/bookmarks",
        "/api/v1/lists",
        "/api/v1/followed_tags",
        "/api/v2/search?q=hello",
        "/api/v1/custom_emojis",
        "/api/v1/filters",
        "/api/v2/filters",
        "/api/v1/announcements",
        "/api/v1/trends/tags",
        "/api/v1/trends/statuses",
        "/api/v1/trends/links",
        "/api/v2/suggestions",
        "/api/v1/conversations",
        "/api/v1/tags/contract",
        "/api/v1/apps/verify_credentials",
        "/.well-known/oauth-authorization-server",
    ]


def test_every_get_endpoint_keeps_the_contract(world):
    client = ApiClient(make_token(world["alice"].user))
    for path in _paths(world):
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.content!r}"
        assert response["Content-Type"].startswith("application/json"), path
        assert response.content, path
        assert response["Access-Control-Allow-Origin"] == "*", path
        body = response.json()
        _check(body, path)
        base, _, query = path.partition("?")
        slashed = client.get(f"{base}/" + (f"?{query}" if query else ""))
        assert slashed.status_code == 200, f"{path} with a trailing slash"
        assert slashed.json() == body or path.endswith("instance") or "trends" in path, path


def test_link_header_shape_on_every_paginated_list(world):
    client = ApiClient(make_token(world["alice"].user))
    b = world["bob"].id
    for path in [
        "/api/v1/timelines/home",
        "/api/v1/timelines/public",
        f"/api/v1/accounts/{b}/statuses",
        f"/api/v1/accounts/{b}/followers",
        "/api/v1/notifications",
        "/api/v1/favourites",
        "/api/v1/bookmarks",
        f"/api/v1/statuses/{world['post'].id}/favourited_by",
    ]:
        response = client.get(f"{path}?limit=1")
        link = response["Link"]
        assert re.match(
            r'<https://testserver/[^>]+max_id=\d+[^>]*>; rel="next", '
            r'<https://testserver/[^>]+min_id=\d+[^>]*>; rel="prev"$',
            link,
        ), (path, link)
        assert "limit=1" in link


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/apps",
        "/oauth/token",
        "/oauth/revoke",
        "/api/v1/timelines/home",
        "/.well-known/oauth-authorization-server",
    ],
)
def test_cors_preflight(client, path):
    response = client.options(
        path,
        HTTP_ORIGIN="https://elk.zone",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "Link" in response["Access-Control-Expose-Headers"]


def test_errors_are_json_everywhere(client):
    for path in [
        "/api/v1/nope",
        "/api/v1/statuses/1",
        "/api/v1/accounts/1",
        "/api/v1/timelines/home",
    ]:
        response = client.get(path)
        assert response["Content-Type"].startswith("application/json"), path
        assert set(response.json()) >= {"error"}, path


def test_rate_limit_headers_and_429(settings):
    settings.OURVOICE_RATE_LIMITS = True
    user = local_account("limited")
    client = ApiClient(make_token(user.user))
    first = client.get("/api/v1/timelines/public")
    assert first["X-RateLimit-Limit"] == "300"
    assert first["X-RateLimit-Remaining"] == "299"
    assert DT.match(first["X-RateLimit-Reset"])
    for _ in range(300):
        last = client.get("/api/v1/custom_emojis")
    assert last.status_code == 429
    assert last.json() == {"error": "Too many requests"}
    assert int(last["Retry-After"]) > 0
    settings.OURVOICE_RATE_LIMITS = False
    assert client.get("/api/v1/custom_emojis").status_code == 200
