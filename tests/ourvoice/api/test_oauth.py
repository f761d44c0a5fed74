"""OAuth 2 for Mastodon clients: apps, authorize, token, revoke, discovery, login pages.

Every test goes through HTTP with real rows (mastodon-api.md §1 is the contract).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant

from ourvoice.accounts.services import user_approve
from ourvoice.api.mastodon.models import AppProfile
from ourvoice.api.mastodon.scopes import KNOWN_SCOPES
from tests.factories import PASSWORD, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

OOB = "urn:ietf:wg:oauth:2.0:oob"
ICECUBES = "icecubesapp://"
IVORY = "com.tapbots.Ivory.19283:/request_token"
ELK = "https://elk.zone/api/127.0.0.1%3A8000/oauth/https%3A%2F%2Felk.zone"
WITH_QUERY = "https://client.example/callback?instance=testserver&x=%2F"
ALL = "read write follow push"
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": (
        "Client authentication failed due to unknown client, no client authentication included, "
        "or unsupported authentication method."
    ),
}
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": (
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client."
    ),
}
INVALID_SCOPE = {
    "error": "invalid_scope",
    "error_description": "The requested scope is invalid, unknown, or malformed.",
}
UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": (
        "The authorization grant type is not supported by the authorization server."
    ),
}
DENIED_DESCRIPTION = quote("The resource owner or authorization server denied the request.", "")
CODE_INPUT = re.compile(r'<code class="token" id="code">([^<]+)</code>')


def register(**data) -> dict:
    data.setdefault("client_name", "Test app")
    data.setdefault("redirect_uris", OOB)
    data.setdefault("scopes", ALL)
    r = Client().post("/api/v1/apps", data)
    assert r.status_code == 200, r.content
    return r.json()


def session_for(account) -> Client:
    client = Client()
    client.force_login(account.user)
    return client


def authorize_params(app: dict, redirect_uri: str, **extra) -> dict:
    params = {
        "client_id": app["client_id"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": ALL,
    }
    params.update(extra)
    return params


def get_code(app: dict, account, redirect_uri: str = OOB, **extra) -> str:
    """Consent through the HTML endpoint and return the code it issued."""
    r = session_for(account).post(
        "/oauth/authorize",
        {**authorize_params(app, redirect_uri, **extra), "decision": "authorize"},
    )
    assert r.status_code == 302, r.content
    return Grant.objects.get(application__client_id=app["client_id"]).code


def exchange(app: dict, code: str, redirect_uri: str = OOB, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": redirect_uri,
        **extra,
    }
    return Client().post("/oauth/token", data)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def assert_json(r, status: int) -> dict:
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json")
    return r.json()


# --- POST /api/v1/apps -------------------------------------------------------------------------


@pytest.mark.django_db
def test_register_app_form_returns_credential_application():
    r = Client().post(
        "/api/v1/apps",
        {
            "client_name": "Mastodon.py app",
            "redirect_uris": OOB,
            "scopes": "read write follow push",
            "website": "https://example.org/app",
        },
    )
    body = assert_json(r, 200)
    app = Application.objects.get()
    assert body == {
        "id": str(app.id),
        "name": "Mastodon.py app",
        "website": "https://example.org/app",
        "scopes": ["read", "write", "follow", "push"],
        "redirect_uri": OOB,
        "redirect_uris": [OOB],
        "vapid_key": "",
        "client_id": app.client_id,
        "client_secret": body["client_secret"],
        "client_secret_expires_at": 0,
    }
    assert body["id"].isdigit()
    # DOT hashed the secret on save: the plaintext exists only in the response.
    assert app.client_secret != body["client_secret"]
    assert check_password(body["client_secret"], app.client_secret)
    assert app.client_type == Application.CLIENT_CONFIDENTIAL
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert app.redirect_uris == OOB
    profile = AppProfile.objects.get(application=app)
    assert profile.scopes == "read write follow push"
    assert profile.website == "https://example.org/app"
    assert profile.redirect_uris == [OOB]


@pytest.mark.django_db
def test_register_app_json_array_of_redirect_uris():
    r = Client().post(
        "/api/v1/apps/",
        {"client_name": "Elk", "redirect_uris": [ELK, ICECUBES], "scopes": "read write"},
        content_type="application/json",
    )
    body = assert_json(r, 200)
    assert body["redirect_uris"] == [ELK, ICECUBES]
    assert body["redirect_uri"] == f"{ELK}\n{ICECUBES}"
    assert body["website"] is None
    assert Application.objects.get().redirect_uris == f"{ELK} {ICECUBES}"


@pytest.mark.django_db
def test_register_app_rails_style_form_array():
    r = Client().post(
        "/api/v1/apps", {"client_name": "masto.js", "redirect_uris[]": [IVORY, ICECUBES]}
    )
    assert assert_json(r, 200)["redirect_uris"] == [IVORY, ICECUBES]


@pytest.mark.django_db
def test_register_app_query_string_only():
    """Ice Cubes used to send everything in the query string with no body."""
    r = Client().post(f"/api/v1/apps?client_name=IceCubes&redirect_uris={quote(ICECUBES, '')}")
    body = assert_json(r, 200)
    assert body["name"] == "IceCubes"
    assert body["redirect_uris"] == [ICECUBES]
    assert body["scopes"] == ["read"]  # default


@pytest.mark.django_db
def test_register_app_newline_separated_string():
    body = register(redirect_uris=f"{OOB}\n{WITH_QUERY}\n")
    assert body["redirect_uris"] == [OOB, WITH_QUERY]
    assert body["redirect_uri"] == f"{OOB}\n{WITH_QUERY}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "uri",
    [
        OOB,
        ICECUBES,
        IVORY,
        ELK,
        WITH_QUERY,
        "oauth2redirect://com.keylesspalace.tusky/",
        "org.joinmastodon.android-auth://callback",
        "mastodon://joinmastodon.org/oauth",
        "http://127.0.0.1:8765/callback",
    ],
)
def test_register_app_accepts_redirect_uris_seen_in_the_wild(uri):
    body = register(redirect_uris=uri)
    assert body["redirect_uris"] == [uri]
    assert AppProfile.objects.get().redirect_uris == [uri]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("uris", "message"),
    [
        ("https://client.example/cb#frag", "Redirect URI cannot contain a fragment."),
        ("/relative/callback", "Redirect URI must be an absolute URI."),
        ("no-scheme-here", "Redirect URI must be an absolute URI."),
        ("https://bad host/", "Redirect URI must be an absolute URI."),
        ("javascript:alert(1)", "Redirect URI must not use a script or local file scheme."),
        ("", "Redirect URI can't be blank"),
    ],
)
def test_register_app_rejects_bad_redirect_uris(uris, message):
    if uris == "https://bad host/":
        r = Client().post(
            "/api/v1/apps",
            {"client_name": "x", "redirect_uris": [uris]},
            content_type="application/json",
        )
    else:
        r = Client().post("/api/v1/apps", {"client_name": "x", "redirect_uris": uris})
    assert assert_json(r, 422) == {"error": f"Validation failed: {message}"}
    assert not Application.objects.exists()


@pytest.mark.django_db
def test_register_app_rejects_unknown_scope_and_missing_name():
    r = Client().post(
        "/api/v1/apps", {"client_name": "x", "redirect_uris": OOB, "scopes": "read fly"}
    )
    assert assert_json(r, 422) == {"error": "Validation failed: Scopes are not valid: fly"}
    r = Client().post("/api/v1/apps", {"redirect_uris": OOB})
    assert assert_json(r, 422) == {"error": "Validation failed: Name can't be blank"}
    r = Client().post("/api/v1/apps", {"client_name": "x" * 61, "redirect_uris": OOB})
    assert assert_json(r, 422) == {
        "error": "Validation failed: Name is too long (maximum is 60 characters)"
    }
    r = Client().post(
        "/api/v1/apps", {"client_name": "x", "redirect_uris": OOB, "website": "not a url"}
    )
    assert assert_json(r, 422) == {"error": "Validation failed: Website is not a valid URL"}
    assert not Application.objects.exists()
    assert not AppProfile.objects.exists()


@pytest.mark.django_db
def test_register_app_accepts_every_known_scope():
    """Tokodon asks for admin scopes; unimplemented known scopes must not fail registration."""
    body = register(scopes=" ".join(sorted(KNOWN_SCOPES)))
    assert sorted(body["scopes"]) == sorted(KNOWN_SCOPES)


@pytest.mark.django_db
def test_register_app_ignores_a_stale_bearer_token():
    r = Client().post(
        "/api/v1/apps",
        {"client_name": "x", "redirect_uris": OOB},
        HTTP_AUTHORIZATION="Bearer not-a-token",
    )
    assert r.status_code == 200


# --- GET /api/v1/apps/verify_credentials -------------------------------------------------------


@pytest.mark.django_db
def test_verify_credentials_with_app_and_user_tokens(alice):
    app = register(website="https://example.org")
    application = Application.objects.get(client_id=app["client_id"])
    expected = {
        "id": app["id"],
        "name": "Test app",
        "website": "https://example.org",
        "scopes": ["read", "write", "follow", "push"],
        "redirect_uri": OOB,
        "redirect_uris": [OOB],
        "vapid_key": "",
    }
    app_token = make_token(None, "read", app=application)
    r = ApiClient(app_token).get("/api/v1/apps/verify_credentials")
    assert assert_json(r, 200) == expected
    user_token = make_token(alice.user, "write", app=application)
    r = ApiClient(user_token).get("/api/v1/apps/verify_credentials/")
    assert assert_json(r, 200) == expected
    r = Client().get("/api/v1/apps/verify_credentials")
    assert assert_json(r, 401) == {"error": "The access token is invalid"}
    r = ApiClient("wrong").get("/api/v1/apps/verify_credentials")
    assert assert_json(r, 401) == {"error": "The access token is invalid"}


# --- GET /oauth/authorize ----------------------------------------------------------------------


@pytest.mark.django_db
def test_authorize_without_session_redirects_to_login(alice):
    app = register()
    params = authorize_params(app, OOB, force_login="False", state="None", lang="None")
    r = Client().get("/oauth/authorize/", params)
    assert r.status_code == 302
    assert r["Location"].startswith("/auth/login?next=")
    login = Client().get(r["Location"])
    assert login.status_code == 200
    # The form carries the authorize URL back, so logging in continues the flow.
    next_url = re.search(r'name="next" value="([^"]+)"', login.content.decode()).group(1)
    r = Client().post(r["Location"], {"username": "alice", "password": PASSWORD, "next": next_url})
    assert r.status_code == 302
    assert r["Location"].startswith("/oauth/authorize/?")
    assert f"client_id={app['client_id']}" in r["Location"]


@pytest.mark.django_db
def test_authorize_consent_page_shows_app_and_scopes(alice):
    app = register(client_name="Phanpy <b>", redirect_uris=WITH_QUERY)
    r = session_for(alice).get(
        "/oauth/authorize",
        authorize_params(app, WITH_QUERY, scope="read+write", state="xyz 1/2", lang="None"),
    )
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    html = r.content.decode()
    assert "Phanpy &lt;b&gt;" in html and "<b>" not in html.split("<main>")[1]
    assert "Read all your account&#x27;s data" in html
    assert "Modify all your account&#x27;s data" in html
    assert "Receive your push notifications" not in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="state" value="xyz 1/2"' in html
    assert 'name="scope" value="read write"' in html
    assert 'id="authorize"' in html and 'id="deny"' in html
    assert r["X-Frame-Options"] == "DENY"
    assert "no-store" in r["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("redirect_uri", [ICECUBES, IVORY, ELK, WITH_QUERY])
def test_authorize_redirects_to_the_exact_registered_uri(alice, redirect_uri):
    app = register(redirect_uris=redirect_uri)
    r = session_for(alice).post(
        "/oauth/authorize",
        {**authorize_params(app, redirect_uri, state="None"), "decision": "authorize"},
    )
    assert r.status_code == 302
    grant = Grant.objects.get()
    sep = "&" if "?" in redirect_uri else "?"
    assert r["Location"] == f"{redirect_uri}{sep}code={grant.code}&state=None"
    assert grant.user == alice.user
    assert grant.redirect_uri == redirect_uri
    assert grant.scope == ALL
    lifetime = grant.expires - timezone.now()
    assert timedelta(seconds=590) < lifetime <= timedelta(seconds=600)


@pytest.mark.django_db
def test_authorize_byte_for_byte_examples(alice):
    """The three shapes urlparse breaks, spelled out literally."""
    app = register(redirect_uris=f"{ICECUBES}\n{IVORY}\n{ELK}")
    client = session_for(alice)
    expected = {
        ICECUBES: "icecubesapp://?code={code}",
        IVORY: "com.tapbots.Ivory.19283:/request_token?code={code}",
        ELK: "https://elk.zone/api/127.0.0.1%3A8000/oauth/https%3A%2F%2Felk.zone?code={code}",
    }
    for uri, template in expected.items():
        r = client.post("/oauth/authorize", {**authorize_params(app, uri), "decision": "authorize"})
        code = Grant.objects.get(redirect_uri=uri).code
        assert r["Location"] == template.format(code=code)


@pytest.mark.django_db
def test_authorize_state_is_percent_encoded_and_echoed(alice):
    app = register(redirect_uris=ICECUBES)
    r = session_for(alice).post(
        "/oauth/authorize",
        {**authorize_params(app, ICECUBES, state="a b&c=d/é"), "decision": "authorize"},
    )
    code = Grant.objects.get().code
    assert r["Location"] == f"icecubesapp://?code={code}&state=a%20b%26c%3Dd%2F%C3%A9"


@pytest.mark.django_db
def test_authorize_oob_shows_the_code_on_the_native_page(alice):
    app = register()
    client = session_for(alice)
    r = client.post("/oauth/authorize", {**authorize_params(app, OOB), "decision": "authorize"})
    code = Grant.objects.get().code
    assert r.status_code == 302
    assert r["Location"] == f"/oauth/authorize/native?code={code}"
    page = Client().get(r["Location"])
    assert page.status_code == 200
    assert CODE_INPUT.search(page.content.decode()).group(1) == code
    assert Client().get("/oauth/authorize/native").status_code == 400


@pytest.mark.django_db
def test_authorize_deny(alice):
    app = register(redirect_uris=f"{ICECUBES}\n{OOB}")
    client = session_for(alice)
    r = client.post(
        "/oauth/authorize",
        {**authorize_params(app, ICECUBES, state="s1"), "decision": "deny"},
    )
    assert r.status_code == 302
    assert r["Location"] == (
        f"icecubesapp://?error=access_denied&error_description={DENIED_DESCRIPTION}&state=s1"
    )
    r = client.post("/oauth/authorize", {**authorize_params(app, OOB), "decision": "deny"})
    assert r["Location"] == "/oauth/authorize/native?error=access_denied"
    page = Client().get(r["Location"])
    assert page.status_code == 200
    assert "Access denied" in page.content.decode()
    assert not Grant.objects.exists()


@pytest.mark.django_db
def test_authorize_unknown_client_or_uri_never_redirects(alice):
    app = register(redirect_uris=ICECUBES)
    client = session_for(alice)
    cases = [
        {**authorize_params(app, ICECUBES), "client_id": "nope"},
        authorize_params(app, "https://evil.example/cb"),
        authorize_params(app, "icecubesapp:/"),  # not byte-for-byte equal
        authorize_params(app, "ICECUBESAPP://"),
    ]
    for params in cases:
        for method in (client.get, client.post):
            r = method("/oauth/authorize", {**params, "decision": "authorize"})
            assert r.status_code == 400
            assert "Location" not in r
            assert r["Content-Type"].startswith("text/html")
            assert 'id="error"' in r.content.decode()
    assert not Grant.objects.exists()


@pytest.mark.django_db
def test_authorize_redirect_uri_may_be_omitted_when_only_one_is_registered(alice):
    app = register(redirect_uris=ICECUBES)
    params = authorize_params(app, ICECUBES)
    del params["redirect_uri"]
    r = session_for(alice).post("/oauth/authorize", {**params, "decision": "authorize"})
    assert r["Location"] == f"icecubesapp://?code={Grant.objects.get().code}"
    two = register(redirect_uris=f"{ICECUBES}\n{OOB}")
    params = authorize_params(two, ICECUBES)
    del params["redirect_uri"]
    assert session_for(alice).get("/oauth/authorize", params).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "error", "description"),
    [
        ({"response_type": "token"}, "unsupported_response_type", None),
        ({"scope": "read admin:write"}, "invalid_scope", None),
        ({"scope": "read nonsense"}, "invalid_scope", None),
        (
            {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
            "invalid_request",
            "The code challenge method must be S256.",
        ),
        (
            {"code_challenge": "x" * 43},
            "invalid_request",
            "The code challenge method must be S256.",
        ),
        (
            {"code_challenge": "short", "code_challenge_method": "S256"},
            "invalid_request",
            "The code challenge is malformed.",
        ),
    ],
)
def test_authorize_errors_go_back_to_the_client(alice, extra, error, description):
    app = register(redirect_uris=f"{WITH_QUERY}\n{OOB}", scopes=ALL)
    client = session_for(alice)
    r = client.get("/oauth/authorize", authorize_params(app, WITH_QUERY, state="st", **extra))
    assert r.status_code == 302
    location = r["Location"]
    assert location.startswith(f"{WITH_QUERY}&error={error}&error_description=")
    assert location.endswith("&state=st")
    if description:
        assert f"error_description={quote(description, '')}&" in location
    # For the out-of-band URI there is nowhere to redirect: an error page.
    r = client.get("/oauth/authorize", authorize_params(app, OOB, **extra))
    assert r.status_code == 400
    assert "Location" not in r
    assert not Grant.objects.exists()


@pytest.mark.django_db
def test_authorize_default_scope_is_read_and_granular_subsets_are_fine(alice):
    app = register(redirect_uris=ICECUBES, scopes="read write")
    client = session_for(alice)
    params = authorize_params(app, ICECUBES)
    del params["scope"]
    client.post("/oauth/authorize", {**params, "decision": "authorize"})
    assert Grant.objects.get().scope == "read"
    Grant.objects.all().delete()
    client.post(
        "/oauth/authorize",
        {
            **authorize_params(app, ICECUBES, scope="read:statuses write:media"),
            "decision": "authorize",
        },
    )
    assert Grant.objects.get().scope == "read:statuses write:media"


@pytest.mark.django_db
def test_authorize_post_requires_csrf_token(alice):
    app = register(redirect_uris=ICECUBES)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    data = {**authorize_params(app, ICECUBES), "decision": "authorize"}
    r = client.post("/oauth/authorize", data)
    assert r.status_code == 403
    assert not Grant.objects.exists()
    page = client.get("/oauth/authorize", authorize_params(app, ICECUBES))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    r = client.post("/oauth/authorize", {**data, "csrfmiddlewaretoken": token.group(1)})
    assert r.status_code == 302
    assert Grant.objects.count() == 1


@pytest.mark.django_db
def test_authorize_post_without_session_goes_to_login(alice):
    app = register(redirect_uris=ICECUBES)
    r = Client().post(
        "/oauth/authorize", {**authorize_params(app, ICECUBES), "decision": "authorize"}
    )
    assert r.status_code == 302
    assert r["Location"].startswith("/auth/login?next=")
    assert not Grant.objects.exists()


@pytest.mark.django_db
def test_authorize_force_login_signs_out_first(alice):
    app = register(redirect_uris=ICECUBES)
    client = session_for(alice)
    r = client.get("/oauth/authorize", authorize_params(app, ICECUBES, force_login="true"))
    assert r.status_code == 302
    assert r["Location"].startswith("/auth/login?next=")
    assert "force_login" not in r["Location"]
    assert "_auth_user_id" not in client.session
    # Mastodon.py's junk `force_login=False` keeps the session.
    client = session_for(alice)
    r = client.get("/oauth/authorize", authorize_params(app, ICECUBES, force_login="False"))
    assert r.status_code == 200


# --- POST /oauth/token: authorization_code -----------------------------------------------------


@pytest.mark.django_db
def test_code_exchange_issues_a_working_token(alice):
    app = register(redirect_uris=ELK)
    code = get_code(app, alice, ELK)
    r = exchange(app, code, ELK, scope="ignored", oauth_info="issuer", junk="1")
    body = assert_json(r, 200)
    assert set(body) == {"access_token", "token_type", "scope", "created_at"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == ALL
    assert isinstance(body["created_at"], int)
    assert abs(body["created_at"] - timezone.now().timestamp()) < 60
    assert r["Cache-Control"] == "no-store"
    token = AccessToken.objects.get()
    assert token.user == alice.user
    assert token.token == ""  # only the checksum is stored
    assert token.token_checksum == hashlib.sha256(body["access_token"].encode()).hexdigest()
    assert token.expires > timezone.now() + timedelta(days=365 * 99)
    assert not Grant.objects.exists()
    api = ApiClient(body["access_token"])
    assert api.get("/api/v1/apps/verify_credentials").json()["name"] == "Test app"
    assert api.get("/api/v1/timelines/home").status_code == 200


@pytest.mark.django_db
def test_code_exchange_with_json_body_and_basic_auth(alice):
    app = register()
    code = get_code(app, alice)
    r = Client().post(
        "/oauth/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB},
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode(),
    )
    assert assert_json(r, 200)["scope"] == ALL
    code = get_code(app, alice)
    r = Client().post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OOB,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
        content_type="application/json",
    )
    assert assert_json(r, 200)["scope"] == ALL


@pytest.mark.django_db
def test_code_is_single_use(alice):
    app = register()
    code = get_code(app, alice)
    assert exchange(app, code).status_code == 200
    assert assert_json(exchange(app, code), 400) == INVALID_GRANT
    assert AccessToken.objects.count() == 1


@pytest.mark.django_db
def test_code_exchange_refusals(alice):
    app = register(redirect_uris=f"{OOB}\n{ICECUBES}")
    other = register()
    # another app's code
    code = get_code(app, alice)
    assert assert_json(exchange(other, code), 400) == INVALID_GRANT
    # wrong or missing redirect_uri (the code is burnt by the failed attempt)
    assert assert_json(exchange(app, code, ICECUBES), 400) == INVALID_GRANT
    assert assert_json(exchange(app, code), 400) == INVALID_GRANT
    Grant.objects.all().delete()
    code = get_code(app, alice)
    r = Client().post(
        "/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert assert_json(r, 400) == INVALID_GRANT
    # expired
    code = get_code(app, alice)
    Grant.objects.filter(code=code).update(expires=timezone.now() - timedelta(seconds=1))
    assert assert_json(exchange(app, code), 400) == INVALID_GRANT
    # unknown and missing code
    assert assert_json(exchange(app, "nope"), 400) == INVALID_GRANT
    assert assert_json(exchange(app, ""), 400) == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: code.",
    }
    assert not AccessToken.objects.exists()


@pytest.mark.django_db
def test_code_of_a_user_disabled_meanwhile_is_refused(alice):
    app = register()
    code = get_code(app, alice)
    type(alice.user).objects.filter(pk=alice.user.pk).update(is_active=False)
    assert assert_json(exchange(app, code), 400) == INVALID_GRANT


@pytest.mark.django_db
def test_pkce_s256(alice):
    app = register(redirect_uris=ICECUBES)
    verifier, challenge = pkce_pair()
    code = get_code(app, alice, ICECUBES, code_challenge=challenge, code_challenge_method="S256")
    grant = Grant.objects.get()
    assert (grant.code_challenge, grant.code_challenge_method) == (challenge, "S256")
    r = exchange(app, code, ICECUBES, code_verifier=verifier)
    assert assert_json(r, 200)["scope"] == ALL


@pytest.mark.django_db
def test_pkce_mismatch_missing_or_unexpected_verifier(alice):
    app = register(redirect_uris=ICECUBES)
    verifier, challenge = pkce_pair()
    mismatch = {
        "error": "invalid_grant",
        "error_description": "The PKCE code verifier does not match.",
    }
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code = get_code(app, alice, ICECUBES, **pkce)
    r = exchange(app, code, ICECUBES, code_verifier=verifier + "x")
    assert assert_json(r, 400) == mismatch
    # the failed attempt burnt the code
    assert assert_json(exchange(app, code, ICECUBES, code_verifier=verifier), 400) == INVALID_GRANT
    code = get_code(app, alice, ICECUBES, **pkce)
    assert assert_json(exchange(app, code, ICECUBES), 400) == mismatch
    code = get_code(app, alice, ICECUBES)
    r = exchange(app, code, ICECUBES, code_verifier=verifier)
    assert assert_json(r, 400) == {
        "error": "invalid_grant",
        "error_description": "A code verifier was sent for a code without PKCE.",
    }
    assert not AccessToken.objects.exists()


@pytest.mark.django_db
def test_token_client_authentication_failures(alice):
    app = register()
    code = get_code(app, alice)
    cases = [
        {"client_id": app["client_id"], "client_secret": "wrong"},
        {"client_id": "unknown", "client_secret": app["client_secret"]},
        {"client_id": app["client_id"]},
        {},
    ]
    for credentials in cases:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB}
        r = Client().post("/oauth/token", {**data, **credentials})
        assert assert_json(r, 401) == INVALID_CLIENT
    r = Client().post(
        "/oauth/token",
        {"grant_type": "client_credentials"},
        HTTP_AUTHORIZATION="Basic !!!not-base64",
    )
    assert assert_json(r, 401) == INVALID_CLIENT
    assert Grant.objects.filter(code=code).exists()  # untouched by unauthenticated attempts


@pytest.mark.django_db
def test_token_grant_type_errors(settings):
    app = register()
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    r = Client().post("/oauth/token", credentials)
    assert assert_json(r, 400) == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: grant_type.",
    }
    for grant_type in ("refresh_token", "implicit", "urn:ietf:params:oauth:grant-type:device_code"):
        r = Client().post("/oauth/token", {**credentials, "grant_type": grant_type})
        assert assert_json(r, 400) == UNSUPPORTED_GRANT
    r = Client().post("/oauth/token", "{not json", content_type="application/json")
    assert assert_json(r, 400)["error"] == "invalid_request"
    assert Client().get("/oauth/token").status_code == 405


# --- client_credentials and password -----------------------------------------------------------


@pytest.mark.django_db
def test_client_credentials_app_token(alice):
    app = register(scopes="read write")
    credentials = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    r = Client().post("/oauth/token", {**credentials, "grant_type": "client_credentials"})
    body = assert_json(r, 200)
    assert body["scope"] == "read"
    token = AccessToken.objects.get()
    assert token.user is None
    api = ApiClient(body["access_token"])
    assert api.get("/api/v1/apps/verify_credentials").status_code == 200
    r = api.get("/api/v1/timelines/home")
    assert assert_json(r, 422) == {"error": "This method requires an authenticated user"}
    r = Client().post(
        "/oauth/token",
        {**credentials, "grant_type": "client_credentials", "scope": "read write"},
        content_type="application/json",
    )
    assert assert_json(r, 200)["scope"] == "read write"
    for scope in ("read follow", "read bogus"):
        r = Client().post(
            "/oauth/token", {**credentials, "grant_type": "client_credentials", "scope": scope}
        )
        assert assert_json(r, 400) == INVALID_SCOPE
    assert AccessToken.objects.count() == 2


@pytest.mark.django_db
def test_password_grant_when_enabled(settings, alice):
    settings.OURVOICE_OAUTH_PASSWORD_GRANT = True
    app = register()
    base = {
        "grant_type": "password",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "scope": "read write follow",
    }
    for login in ("alice", "ALICE", "alice@example.org", "Alice@Example.org"):
        r = Client().post("/oauth/token", {**base, "username": login, "password": PASSWORD})
        body = assert_json(r, 200)
        assert body["scope"] == "read write follow"
        me = ApiClient(body["access_token"]).get("/api/v1/timelines/home")
        assert me.status_code == 200
    assert AccessToken.objects.filter(user=alice.user).count() == 4
    r = Client().post("/oauth/token", {**base, "username": "alice", "password": "wrong"})
    assert assert_json(r, 400) == INVALID_GRANT
    r = Client().post("/oauth/token", {**base, "username": "nobody", "password": PASSWORD})
    assert assert_json(r, 400) == INVALID_GRANT
    r = Client().post("/oauth/token", {**base, "username": "alice"})
    assert assert_json(r, 400) == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: password.",
    }
    r = Client().post(
        "/oauth/token",
        {**base, "username": "alice", "password": PASSWORD, "scope": "admin:read"},
    )
    assert assert_json(r, 400) == INVALID_SCOPE
    assert AccessToken.objects.count() == 4


@pytest.mark.django_db
def test_password_grant_refuses_pending_users(settings):
    settings.OURVOICE_OAUTH_PASSWORD_GRANT = True
    pending = local_account("pat", approved=False)
    app = register()
    data = {
        "grant_type": "password",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "username": "pat",
        "password": PASSWORD,
    }
    r = Client().post("/oauth/token", data)
    assert assert_json(r, 400) == {
        "error": "invalid_grant",
        "error_description": "Your login is currently pending approval",
    }
    user_approve(user=pending.user)
    assert assert_json(Client().post("/oauth/token", data), 200)["scope"] == "read"


@pytest.mark.django_db
def test_password_grant_when_disabled(settings, alice):
    settings.OURVOICE_OAUTH_PASSWORD_GRANT = False
    app = register()
    r = Client().post(
        "/oauth/token",
        {
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "alice",
            "password": PASSWORD,
        },
    )
    assert assert_json(r, 400) == UNSUPPORTED_GRANT
    assert not AccessToken.objects.exists()


# --- POST /oauth/revoke ------------------------------------------------------------------------


@pytest.mark.django_db
def test_revoke_is_idempotent_and_kills_the_token(alice):
    app = register()
    token = assert_json(exchange(app, get_code(app, alice)), 200)["access_token"]
    api = ApiClient(token)
    assert api.get("/api/v1/timelines/home").status_code == 200
    data = {"client_id": app["client_id"], "client_secret": app["client_secret"], "token": token}
    r = Client().post("/oauth/revoke", data)
    assert assert_json(r, 200) == {}
    assert not AccessToken.objects.exists()
    r = api.get("/api/v1/timelines/home")
    assert assert_json(r, 401) == {"error": "The access token is invalid"}
    assert assert_json(api.get("/api/v1/apps/verify_credentials"), 401)
    assert assert_json(Client().post("/oauth/revoke/", data), 200) == {}
    r = Client().post("/oauth/revoke", {**data, "token": "never-issued"})
    assert assert_json(r, 200) == {}


@pytest.mark.django_db
def test_revoke_refuses_other_apps_tokens_and_bad_clients(alice):
    app = register()
    other = register()
    token = assert_json(exchange(app, get_code(app, alice)), 200)["access_token"]
    r = Client().post(
        "/oauth/revoke",
        {"client_id": other["client_id"], "client_secret": other["client_secret"], "token": token},
        content_type="application/json",
    )
    assert assert_json(r, 403) == {
        "error": "unauthorized_client",
        "error_description": "You are not authorized to revoke this token",
    }
    r = Client().post(
        "/oauth/revoke",
        {"client_id": app["client_id"], "client_secret": "wrong", "token": token},
    )
    assert assert_json(r, 401) == INVALID_CLIENT
    assert ApiClient(token).get("/api/v1/timelines/home").status_code == 200


# --- discovery ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("password_grant", [True, False])
def test_authorization_server_metadata(settings, password_grant):
    settings.OURVOICE_OAUTH_PASSWORD_GRANT = password_grant
    base = settings.OURVOICE_BASE_URL
    r = Client().get("/.well-known/oauth-authorization-server")
    grants = ["authorization_code", "client_credentials"] + (["password"] if password_grant else [])
    assert assert_json(r, 200) == {
        "issuer": f"{base}/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    assert r["Access-Control-Allow-Origin"] == "*"


@pytest.mark.django_db
def test_cors_preflight_on_token_and_apps():
    for path in ("/oauth/token", "/api/v1/apps"):
        r = Client().options(
            path,
            HTTP_ORIGIN="https://phanpy.social",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        )
        assert r.status_code == 200
        assert r["Access-Control-Allow-Origin"] == "*"


# --- /auth/login and /auth/logout --------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_by_username_or_email(alice):
    r = Client().get("/auth/login")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html and 'name="viewport"' in html
    for login in ("alice", "alice@example.org", "@alice"):
        client = Client()
        r = client.post(
            "/auth/login?next=/oauth/authorize%3Fclient_id%3Dx",
            {"username": login, "password": PASSWORD},
        )
        assert r.status_code == 302
        assert r["Location"] == "/oauth/authorize?client_id=x"
        assert client.session["_auth_user_id"] == str(alice.user.pk)


@pytest.mark.django_db
def test_login_wrong_password_shows_an_error(alice):
    client = Client()
    r = client.post("/auth/login", {"username": "alice", "password": "nope"})
    assert r.status_code == 200
    assert "Please enter a correct username or email and password." in r.content.decode()
    assert "_auth_user_id" not in client.session
    r = client.post("/auth/login", {"username": "nobody", "password": PASSWORD})
    assert "Please enter a correct username or email and password." in r.content.decode()


@pytest.mark.django_db
def test_login_refuses_pending_users_and_says_so():
    local_account("pat", approved=False)
    client = Client()
    r = client.post("/auth/login", {"username": "pat", "password": PASSWORD})
    assert r.status_code == 200
    assert "pending approval" in r.content.decode()
    assert "_auth_user_id" not in client.session
    # The wrong password does not reveal the pending state.
    r = client.post("/auth/login", {"username": "pat", "password": "wrong"})
    assert "pending approval" not in r.content.decode()


@pytest.mark.django_db
def test_login_ignores_offsite_next(alice):
    r = Client().post(
        "/auth/login?next=https://evil.example/", {"username": "alice", "password": PASSWORD}
    )
    assert r.status_code == 302
    assert r["Location"] == "/auth/login"


@pytest.mark.django_db
def test_login_requires_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    r = client.post("/auth/login", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_logout_page(alice):
    client = session_for(alice)
    r = client.get("/auth/logout")
    assert r.status_code == 200
    assert "@alice" in r.content.decode()
    assert "_auth_user_id" in client.session  # GET changes nothing
    r = client.post("/auth/logout/")
    assert r.status_code == 200
    assert "You have been logged out" in r.content.decode()
    assert "_auth_user_id" not in client.session
