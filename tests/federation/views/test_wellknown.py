"""WebFinger (RFC 7033, federation.md §1), host-meta and NodeInfo 2.0 / 2.1."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.utils import timezone

from ourvoice.accounts.models import User
from ourvoice.accounts.services import account_suspend
from ourvoice.posts.services import post_delete
from tests.federation.views.conftest import AP, BASE
from tests.federation.views.jsonschema_lite import errors, load_schema

pytestmark = pytest.mark.django_db

JRD = "application/jrd+json"
PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
SUBSCRIBE = "http://ostatus.org/schema/1.0/subscribe"


def webfinger(client, resource=None, **params):
    query = {} if resource is None else {"resource": resource}
    query.update(params)
    return client.get("/.well-known/webfinger", query)


# --- WebFinger ------------------------------------------------------------------------------


def test_webfinger_acct(client, alice):
    response = webfinger(client, "acct:alice@testserver")
    assert response.status_code == 200
    assert response["Content-Type"] == JRD
    assert response["Access-Control-Allow-Origin"] == "*"
    body = orjson.loads(response.content)
    assert body["subject"] == "acct:alice@testserver"
    assert body["aliases"] == [f"{BASE}/@alice", f"{BASE}/users/alice"]
    links = {link["rel"]: link for link in body["links"]}
    assert links["self"] == {"rel": "self", "type": AP, "href": f"{BASE}/users/alice"}
    assert links[PROFILE_PAGE] == {
        "rel": PROFILE_PAGE,
        "type": "text/html",
        "href": f"{BASE}/@alice",
    }
    assert links[SUBSCRIBE]["template"] == f"{BASE}/authorize_interaction?uri={{uri}}"


@pytest.mark.parametrize(
    "resource",
    [
        "acct:ALICE@testserver",
        "acct:Alice@TESTSERVER",
        "acct:alice@testserver.",
        "acct:alice@testserver:443",
        f"{BASE}/users/alice",
        f"{BASE}/users/ALICE",
        f"{BASE}/@alice",
        "https://TESTSERVER/@alice",
    ],
)
def test_webfinger_resource_forms_give_the_canonical_subject(client, db, resource):
    from tests.factories import local_account

    local_account("Alice")
    response = webfinger(client, resource)
    assert response.status_code == 200, resource
    assert orjson.loads(response.content)["subject"] == "acct:Alice@testserver"


def test_webfinger_instance_actor(client, db):
    response = webfinger(client, "acct:testserver@testserver")
    assert response.status_code == 200
    body = orjson.loads(response.content)
    assert body["subject"] == "acct:testserver@testserver"
    assert f"{BASE}/actor" in body["aliases"]
    self_link = next(link for link in body["links"] if link["rel"] == "self")
    assert self_link["href"] == f"{BASE}/actor"
    assert webfinger(client, f"{BASE}/actor").status_code == 200


def test_webfinger_moderation_actor(client, db):
    response = webfinger(client, "acct:moderation@testserver")
    assert response.status_code == 200
    body = orjson.loads(response.content)
    assert body["subject"] == "acct:moderation@testserver"
    self_link = next(link for link in body["links"] if link["rel"] == "self")
    assert self_link["href"] == f"{BASE}/users/moderation"


def test_webfinger_rel_filter_repeated(client, alice):
    response = client.get(
        "/.well-known/webfinger?resource=acct:alice@testserver"
        f"&rel=self&rel={PROFILE_PAGE}&rel=http://example.com/unknown"
    )
    body = orjson.loads(response.content)
    assert sorted(link["rel"] for link in body["links"]) == sorted(["self", PROFILE_PAGE])
    assert body["subject"] == "acct:alice@testserver"

    only_subscribe = orjson.loads(webfinger(client, "acct:alice@testserver", rel=SUBSCRIBE).content)
    assert [link["rel"] for link in only_subscribe["links"]] == [SUBSCRIBE]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?resource=",
        "?resource=acct:x==y",
        "?resource=acct:alice",
        "?resource=acct:@testserver",
        "?resource=acct:alice@",
        "?resource=acct:al%20ice@testserver",
        "?resource=acct:alice@test/server",
        "?resource=x==y",
        "?resource=alice@testserver",
        "?resource=https://",
        "?resource=https://testserver:99999/users/alice",
        "?rel=self",
    ],
)
def test_webfinger_bad_resource_is_400(client, alice, query):
    response = client.get(f"/.well-known/webfinger{query}")
    assert response.status_code == 400, query
    assert response["Content-Type"] == JRD
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "error" in orjson.loads(response.content)


@pytest.mark.parametrize(
    "resource",
    [
        "acct:nobody@testserver",
        "acct:alice@other.example",
        "acct:alice@testserver:8443",
        "https://other.example/users/alice",
        "http://testserver/users/alice",
        f"{BASE}/users/nobody",
        f"{BASE}/users/alice/statuses/1",
        f"{BASE}/tags/alice",
        "mailto:alice@testserver",
        "acct:a.b@testserver",
    ],
)
def test_webfinger_unknown_or_foreign_is_404(client, alice, resource):
    response = webfinger(client, resource)
    assert response.status_code == 404, resource
    assert response["Access-Control-Allow-Origin"] == "*"


def test_webfinger_remote_account_is_not_served(client, remote):
    assert webfinger(client, "acct:carol@remote.example").status_code == 404
    assert webfinger(client, "acct:carol@testserver").status_code == 404


def test_webfinger_suspended_account_is_gone(client, alice):
    account_suspend(account=alice)
    assert webfinger(client, "acct:alice@testserver").status_code == 410


def test_webfinger_head_and_methods(client, alice):
    assert client.head("/.well-known/webfinger?resource=acct:alice@testserver").status_code == 200
    assert client.post("/.well-known/webfinger?resource=acct:alice@testserver").status_code == 405


# --- host-meta ------------------------------------------------------------------------------


def test_host_meta_xrd(client, db):
    response = client.get("/.well-known/host-meta")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xrd+xml; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    body = response.content.decode()
    assert '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">' in body
    assert f'<Link rel="lrdd" template="{BASE}/.well-known/webfinger?resource={{uri}}"/>' in body


def test_host_meta_json(client, db):
    response = client.get("/.well-known/host-meta.json")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert orjson.loads(response.content) == {
        "links": [{"rel": "lrdd", "template": f"{BASE}/.well-known/webfinger?resource={{uri}}"}]
    }


# --- NodeInfo -------------------------------------------------------------------------------


def test_nodeinfo_index(client, db):
    response = client.get("/.well-known/nodeinfo")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    links = orjson.loads(response.content)["links"]
    assert {link["rel"]: link["href"] for link in links} == {
        "http://nodeinfo.diaspora.software/ns/schema/2.1": f"{BASE}/nodeinfo/2.1",
        "http://nodeinfo.diaspora.software/ns/schema/2.0": f"{BASE}/nodeinfo/2.0",
    }


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_nodeinfo_validates_against_its_schema(client, alice, version):
    response = client.get(f"/nodeinfo/{version}")
    assert response.status_code == 200
    assert (
        response["Content-Type"]
        == f'application/json; profile="http://nodeinfo.diaspora.software/ns/schema/{version}#"'
    )
    assert response["Access-Control-Allow-Origin"] == "*"
    document = orjson.loads(response.content)
    assert errors(document, load_schema(f"nodeinfo-{version}.schema.json")) == []
    assert document["version"] == version
    assert document["software"] == {"name": "ourvoice", "version": "0.1.0"}
    assert document["protocols"] == ["activitypub"]
    assert document["metadata"]["nodeName"] == "testserver"
    assert document["metadata"]["ourvoice"] == {
        "moderation": {"version": "1", "actor": f"{BASE}/users/moderation"}
    }


def test_nodeinfo_2_0_refuses_2_1_only_fields():
    """The 2.0 schema forbids software.repository; the 2.1 schema allows it."""
    document = {
        "version": "2.0",
        "software": {"name": "ourvoice", "version": "1", "repository": "https://x.example"},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": True,
        "usage": {"users": {}},
        "metadata": {},
    }
    assert errors(document, load_schema("nodeinfo-2.0.schema.json")) == [
        "$.software: additional property 'repository' is not allowed"
    ]
    document["version"] = "2.1"
    assert errors(document, load_schema("nodeinfo-2.1.schema.json")) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(version="2.2"), "$.version: '2.2' is not one of ['2.1']"),
        (lambda d: d["software"].update(name="OUR Voice"), "does not match"),
        (lambda d: d.update(protocols=[]), "$.protocols: fewer than 1 items"),
        (lambda d: d.update(protocols=["gopher"]), "$.protocols[0]: 'gopher' is not one of"),
        (lambda d: d["usage"]["users"].update(total=-1), "$.usage.users.total: -1 is below 0"),
        (lambda d: d["usage"]["users"].update(total=True), "expected integer"),
        (lambda d: d["usage"].update(extra=1), "additional property 'extra'"),
        (lambda d: d.pop("metadata"), "missing required property 'metadata'"),
        (lambda d: d.update(openRegistrations="yes"), "expected boolean"),
        (lambda d: d["services"].update(inbound=["email"]), "'email' is not one of"),
        (lambda d: d.update(extra={}), "additional property 'extra'"),
    ],
)
def test_schema_checker_catches_violations(mutate, expected):
    document = {
        "version": "2.1",
        "software": {"name": "ourvoice", "version": "1"},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {"total": 0}},
        "metadata": {},
    }
    mutate(document)
    found = errors(document, load_schema("nodeinfo-2.1.schema.json"))
    assert any(expected in message for message in found), found


def test_nodeinfo_usage_numbers_are_real(client, post_of):
    from tests.factories import local_account

    now = timezone.now()
    active = local_account("active")
    post_of(active, "one")
    reply_to = post_of(active, "two")
    post_of(active, "a reply", in_reply_to=reply_to)
    post_of(active, "private", visibility="private")
    gone = post_of(active, "deleted")
    post_delete(post=gone, actor=active)

    logged_in = local_account("loggedin")
    User.objects.filter(pk=logged_in.user_id).update(last_login=now - timedelta(days=60))
    local_account("idle")
    suspended = local_account("suspended")
    account_suspend(account=suspended)
    local_account("pending", approved=False)

    usage = orjson.loads(client.get("/nodeinfo/2.1").content)["usage"]
    # people: active, loggedin, idle (suspended, pending and the system actors don't count)
    assert usage["users"] == {"total": 3, "activeHalfyear": 2, "activeMonth": 1}
    assert usage["localPosts"] == 4
    assert usage["localComments"] == 1


@pytest.mark.parametrize(
    ("mode", "expected"), [("open", True), ("approval", False), ("closed", False)]
)
def test_nodeinfo_open_registrations(client, db, settings, mode, expected):
    settings.OURVOICE_REGISTRATION = mode
    assert orjson.loads(client.get("/nodeinfo/2.0").content)["openRegistrations"] is expected


def test_webfinger_instance_actor_with_a_port(client, db, settings):
    settings.OURVOICE_DOMAIN = "localhost:8000"
    settings.OURVOICE_BASE_URL = "http://localhost:8000"
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    response = webfinger(client, "acct:localhost:8000@localhost:8000")
    assert response.status_code == 200
    assert orjson.loads(response.content)["subject"].endswith("@localhost:8000")
    assert webfinger(client, "acct:localhost%3A8000@localhost:8000").status_code == 200
    assert webfinger(client, "acct:alice@localhost:8001").status_code == 404
