"""Actor documents and profile pages: content negotiation, Vary, suspended and system actors."""

from __future__ import annotations

import orjson
import pytest

from federation.outbound.renderers import CONTEXT
from ourvoice.accounts.services import account_suspend, account_update_profile
from tests.federation.views.conftest import AP, BASE, LD

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (AP, AP),
        (LD, LD),
        ("application/ld+json", LD),
        (f"{AP}, {LD}", AP),
        (f"{LD}, {AP}", AP),
        ("text/html;q=0.9, application/activity+json", AP),
    ],
)
def test_actor_content_negotiation(ap_get, alice, accept, content_type):
    response = ap_get("/users/alice", accept=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Vary"] == "Accept"
    assert response["Cache-Control"] == "max-age=180, public"
    document = orjson.loads(response.content)
    assert document["id"] == f"{BASE}/users/alice"
    assert document["@context"] == CONTEXT


@pytest.mark.parametrize("accept", ["text/html", "*/*", "", "application/json"])
def test_actor_html_for_browsers(client, alice, accept):
    response = client.get("/users/alice", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Vary"] == "Accept"
    html = response.content.decode()
    assert '<link rel="alternate" type="application/activity+json"' in html
    assert f'href="{BASE}/users/alice"' in html
    assert "@alice@testserver" in html


def test_actor_document_fields(ap_get, alice):
    document = orjson.loads(ap_get("/users/alice").content)
    assert document["type"] == "Person"
    assert document["preferredUsername"] == "alice"
    assert document["name"] == "Alice"
    assert document["inbox"] == f"{BASE}/users/alice/inbox"
    assert document["outbox"] == f"{BASE}/users/alice/outbox"
    assert document["followers"] == f"{BASE}/users/alice/followers"
    assert document["following"] == f"{BASE}/users/alice/following"
    assert document["featured"] == f"{BASE}/users/alice/collections/featured"
    assert document["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert document["url"] == f"{BASE}/@alice"
    assert document["publicKey"]["id"] == f"{BASE}/users/alice#main-key"
    assert document["publicKey"]["owner"] == f"{BASE}/users/alice"
    assert document["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert document["webfinger"] == "acct:alice@testserver"
    assert document["manuallyApprovesFollowers"] is False
    assert "suspended" not in document
    assert "moderationService" not in document


def test_profile_page_at_handle_url_is_negotiated_too(client, ap_get, alice):
    assert client.get("/@alice", HTTP_ACCEPT="text/html")["Content-Type"].startswith("text/html")
    response = ap_get("/@alice")
    assert response["Content-Type"] == AP
    assert orjson.loads(response.content)["id"] == f"{BASE}/users/alice"


def test_username_is_case_insensitive(ap_get, alice):
    response = ap_get("/users/ALICE")
    assert response.status_code == 200
    assert orjson.loads(response.content)["preferredUsername"] == "alice"


def test_unknown_actor_is_404(client, ap_get, db):
    response = ap_get("/users/nobody")
    assert response.status_code == 404
    assert response["Content-Type"] == AP
    html = client.get("/users/nobody", HTTP_ACCEPT="text/html")
    assert html.status_code == 404
    assert html["Content-Type"].startswith("text/html")


def test_remote_account_is_not_served_here(ap_get, remote):
    assert ap_get("/users/carol").status_code == 404


def test_instance_actor_only_at_actor(ap_get, db):
    assert ap_get("/users/testserver").status_code == 404
    response = ap_get("/actor")
    assert response.status_code == 200
    assert response["Content-Type"] == AP
    assert response["Vary"] == "Accept"
    document = orjson.loads(response.content)
    assert document["id"] == f"{BASE}/actor"
    assert document["type"] == "Application"
    assert document["preferredUsername"] == "testserver"
    assert document["manuallyApprovesFollowers"] is True
    assert document["inbox"] == f"{BASE}/actor/inbox"
    assert document["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert document["webfinger"] == "acct:testserver@testserver"
    assert document["moderationService"] == f"{BASE}/users/moderation"
    assert "followers" not in document


def test_instance_actor_html_is_the_about_page(client, db):
    response = client.get("/actor", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert f'href="{BASE}/actor"' in response.content.decode()


def test_moderation_actor_is_a_service(ap_get, db):
    document = orjson.loads(ap_get("/users/moderation").content)
    assert document["type"] == "Service"
    assert document["preferredUsername"] == "moderation"
    assert document["manuallyApprovesFollowers"] is True


def test_suspended_actor_is_gone_with_a_minimal_actor(client, ap_get, alice):
    account_update_profile(account=alice, note="My bio", display_name="Alice A")
    account_suspend(account=alice)
    response = ap_get("/users/alice")
    assert response.status_code == 410
    assert response["Content-Type"] == AP
    document = orjson.loads(response.content)
    assert document["suspended"] is True
    assert document["id"] == f"{BASE}/users/alice"
    assert document["name"] == ""
    assert document["summary"] == ""
    assert document["attachment"] == []
    assert "icon" not in document
    assert document["publicKey"]["owner"] == f"{BASE}/users/alice"
    html = client.get("/users/alice", HTTP_ACCEPT="text/html")
    assert html.status_code == 410
    assert "My bio" not in html.content.decode()


def test_profile_page_escapes_display_name(client, db):
    from tests.factories import local_account

    account = local_account("mallory", display_name="<script>x</script>")
    account_update_profile(
        account=account,
        fields=[{"name": "<b>site</b>", "value": "<script>alert(2)</script>https://ok.example"}],
    )
    html = client.get("/@mallory", HTTP_ACCEPT="text/html").content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "&lt;b&gt;site&lt;/b&gt;" in html


def test_profile_page_sanitises_stored_html_again(client, alice):
    """Even if a bio row somehow held unsafe HTML, the page sanitises it before output."""
    alice.note = '<p>hi<script>alert(1)</script><a href="javascript:x()" onclick="y()">l</a></p>'
    alice.avatar_url = "javascript:alert(1)"
    alice.save(update_fields=["note", "avatar_url"])
    html = client.get("/@alice", HTTP_ACCEPT="text/html").content.decode()
    assert "<script>" not in html
    assert "javascript:" not in html
    assert "onclick" not in html
    assert "<p>hi" in html


def test_profile_page_lists_public_posts_only(client, alice, post_of):
    post_of(alice, "visible public post")
    post_of(alice, "visible unlisted post", visibility="unlisted")
    post_of(alice, "hidden private post", visibility="private")
    post_of(alice, "hidden direct post", visibility="direct")
    html = client.get("/@alice", HTTP_ACCEPT="text/html").content.decode()
    assert "visible public post" in html
    assert "visible unlisted post" in html
    assert "hidden" not in html


def test_actor_methods(client, alice):
    assert client.post("/users/alice", HTTP_ACCEPT=AP).status_code == 405
    assert client.head("/users/alice", HTTP_ACCEPT=AP).status_code == 200
