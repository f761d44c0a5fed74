"""The OAuth authorization flow in a real browser: login form, consent, code, token."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from oauth2_provider.models import Grant

from tests.factories import PASSWORD, local_account

OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "https://client.example/callback"
ALL = "read write follow push"


def register_app(base: str, redirect_uri: str) -> dict:
    r = httpx.post(
        f"{base}/api/v1/apps",
        json={"client_name": "Browser test", "redirect_uris": redirect_uri, "scopes": ALL},
    )
    assert r.status_code == 200, r.text
    return r.json()


def authorize_url(app: dict, redirect_uri: str, state: str = "st4te") -> str:
    query = urlencode(
        {
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ALL,
            "state": state,
            "force_login": "False",
            "lang": "None",
        }
    )
    return f"/oauth/authorize?{query}"


def log_in(page, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.django_db(transaction=True)
def test_code_flow_out_of_band(page, live_server):
    local_account("alice")
    app = register_app(live_server.url, OOB)
    page.goto(authorize_url(app, OOB))
    assert "/auth/login" in page.url
    log_in(page, "alice@example.org", PASSWORD)
    page.wait_for_selector("#authorize")
    assert page.inner_text("#app-name") == "Browser test"
    assert "Receive your push notifications" in page.inner_text("#scopes")
    page.click("#authorize")
    page.wait_for_selector("#code")
    assert "/oauth/authorize/native?code=" in page.url
    code = page.inner_text("#code").strip()
    r = httpx.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": OOB,
        },
    )
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["scope"] == ALL and token["token_type"] == "Bearer"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = httpx.get(f"{live_server.url}/api/v1/apps/verify_credentials", headers=headers)
    assert me.status_code == 200
    assert me.json()["name"] == "Browser test"
    home = httpx.get(f"{live_server.url}/api/v1/timelines/home", headers=headers)
    assert home.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_wrong_password_shows_the_error_and_no_session(page, live_server):
    local_account("alice")
    page.goto("/auth/login")
    log_in(page, "alice", "not the password")
    page.wait_for_selector(".error")
    assert "Please enter a correct username or email and password." in page.inner_text(".error")
    assert "/auth/login" in page.url
    assert not any(c["name"] == "sessionid" for c in page.context.cookies())
    # The login page does not claim a session either.
    assert page.locator("#signed-in").count() == 0


@pytest.mark.django_db(transaction=True)
def test_denied_consent_redirects_with_access_denied(page, live_server):
    local_account("alice")
    app = register_app(live_server.url, CALLBACK)
    landed: list[str] = []

    def client_callback(route):
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p id=cb>back in the app</p>")

    # Answer the client's callback in the browser itself: no request leaves the machine.
    page.route(f"{CALLBACK}*", client_callback)
    page.goto(authorize_url(app, CALLBACK, state="keep me"))
    log_in(page, "alice", PASSWORD)
    page.wait_for_selector("#deny")
    page.click("#deny")
    page.wait_for_selector("#cb")
    assert landed == [
        f"{CALLBACK}?error=access_denied&error_description=The%20resource%20owner%20or%20"
        "authorization%20server%20denied%20the%20request.&state=keep%20me"
    ]
    assert not Grant.objects.exists()
