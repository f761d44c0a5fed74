"""Sign-up through `POST /api/v1/accounts` (Mastodon.py `create_account`, toot `register`)."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken

from ourvoice.accounts.models import Account, User
from ourvoice.accounts.services import user_approve
from ourvoice.notifications.models import Notification
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_app, make_token

GOOD = {
    "username": "newbie",
    "email": "newbie@example.org",
    "password": "a long enough passphrase",
    "agreement": "true",
    "locale": "en",
}


@pytest.fixture
def app(db):
    return make_app(name="Sign-up client", scopes="read write follow")


@pytest.fixture
def app_client(app) -> ApiClient:
    """An app token (client_credentials) as clients use for sign-up screens."""
    return ApiClient(make_token(None, "read write", app=app))


def assert_json(r, status: int) -> dict:
    assert r.status_code == status, r.content
    assert r["Content-Type"].startswith("application/json")
    return r.json()


@pytest.mark.django_db
def test_open_registration_returns_a_working_token(settings, app, app_client):
    settings.OURVOICE_REGISTRATION = "open"
    r = app_client.post("/api/v1/accounts", GOOD)
    body = assert_json(r, 200)
    assert set(body) == {"access_token", "token_type", "scope", "created_at"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read write follow"  # the app's scopes
    assert isinstance(body["created_at"], int)
    user = User.objects.get(username="newbie")
    assert user.is_active and user.approval == User.Approval.APPROVED
    assert user.email == "newbie@example.org" and user.locale == "en"
    assert user.check_password(GOOD["password"])
    assert Account.objects.filter(user=user, domain="").exists()
    token = AccessToken.objects.get(user=user)
    assert token.application == app
    assert token.token_checksum == hashlib.sha256(body["access_token"].encode()).hexdigest()
    api = ApiClient(body["access_token"])
    assert api.get("/api/v1/timelines/home").status_code == 200
    assert api.post("/api/v1/statuses", {"status": "hello"}).status_code == 200


@pytest.mark.django_db
def test_registration_with_json_body_and_trailing_slash(settings, app_client):
    settings.OURVOICE_REGISTRATION = "open"
    r = app_client.post(
        "/api/v1/accounts/", {**GOOD, "agreement": True}, content_type="application/json"
    )
    assert assert_json(r, 200)["scope"] == "read write follow"
    assert User.objects.filter(username="newbie").exists()


@pytest.mark.django_db
def test_user_token_may_register_too(settings, alice, app):
    settings.OURVOICE_REGISTRATION = "open"
    client = ApiClient(make_token(alice.user, "write", app=app))
    assert assert_json(client.post("/api/v1/accounts", GOOD), 200)["scope"] == "read write follow"


@pytest.mark.django_db
def test_approval_mode_creates_a_pending_user_whose_token_waits(settings, app_client):
    settings.OURVOICE_REGISTRATION = "approval"
    r = app_client.post("/api/v1/accounts", {**GOOD, "reason": "I run the local choir."})
    body = assert_json(r, 200)
    user = User.objects.get(username="newbie")
    assert user.approval == User.Approval.PENDING and not user.is_active
    assert user.signup_reason == "I run the local choir."
    api = ApiClient(body["access_token"])
    # As Mastodon: the token exists but answers 403 until an admin approves.
    assert assert_json(api.get("/api/v1/timelines/home"), 403) == {
        "error": "Your login is currently pending approval"
    }
    user_approve(user=user)
    assert api.get("/api/v1/timelines/home").status_code == 200


@pytest.mark.django_db
def test_closed_registration(settings, app_client):
    settings.OURVOICE_REGISTRATION = "closed"
    r = app_client.post("/api/v1/accounts", GOOD)
    assert assert_json(r, 403) == {"error": "Registrations are closed"}
    assert not User.objects.filter(username="newbie").exists()
    assert not AccessToken.objects.filter(user__isnull=False).exists()


@pytest.mark.django_db
def test_registration_needs_a_token_with_write_accounts(settings, app):
    settings.OURVOICE_REGISTRATION = "open"
    r = Client().post("/api/v1/accounts", GOOD)
    assert assert_json(r, 401) == {"error": "The access token is invalid"}
    r = ApiClient(make_token(None, "read", app=app)).post("/api/v1/accounts", GOOD)
    assert assert_json(r, 403) == {"error": "This action is outside the authorized scopes"}
    r = ApiClient(make_token(None, "write:accounts", app=app)).post("/api/v1/accounts", GOOD)
    assert r.status_code == 200
    assert User.objects.filter(username="newbie").count() == 1


@pytest.mark.django_db
def test_registration_notifies_admins(settings, app_client, outbox):
    settings.OURVOICE_REGISTRATION = "approval"
    boss = local_account("boss", is_admin=True)
    member = local_account("member")
    outbox.drain()
    assert assert_json(app_client.post("/api/v1/accounts", GOOD), 200)
    assert "account.created" in outbox.kinds()
    outbox.drain()
    newbie = Account.objects.get(username="newbie")
    signups = Notification.objects.filter(type=Notification.Type.ADMIN_SIGN_UP, from_account=newbie)
    assert [n.recipient_id for n in signups] == [boss.id]
    assert not Notification.objects.filter(recipient=member).exists()


@pytest.mark.django_db
def test_validation_errors_use_mastodons_shape(settings, app_client, alice):
    settings.OURVOICE_REGISTRATION = "open"
    r = app_client.post(
        "/api/v1/accounts",
        {
            "username": "ALICE",
            "email": "alice@example.org",
            "password": "short",
            "agreement": "false",
            "locale": "not a locale",
        },
    )
    assert assert_json(r, 422) == {
        "error": (
            "Validation failed: Username has already been taken, Email has already been taken, "
            "Password is too short (minimum is 8 characters), Agreement must be accepted, "
            "Locale is not included in the list"
        ),
        "details": {
            "username": [{"error": "ERR_TAKEN", "description": "has already been taken"}],
            "email": [{"error": "ERR_TAKEN", "description": "has already been taken"}],
            "password": [
                {"error": "ERR_TOO_SHORT", "description": "is too short (minimum is 8 characters)"}
            ],
            "agreement": [{"error": "ERR_ACCEPTED", "description": "must be accepted"}],
            "locale": [{"error": "ERR_INCLUSION", "description": "is not included in the list"}],
        },
    }
    assert User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "code", "description"),
    [
        ({"username": ""}, "username", "ERR_BLANK", "can't be blank"),
        (
            {"username": "a" * 31},
            "username",
            "ERR_TOO_LONG",
            "is too long (maximum is 30 characters)",
        ),
        (
            {"username": "no-dashes"},
            "username",
            "ERR_INVALID",
            "must contain only letters, numbers and underscores",
        ),
        ({"username": "Moderation"}, "username", "ERR_RESERVED", "is reserved"),
        ({"email": ""}, "email", "ERR_BLANK", "can't be blank"),
        ({"email": "not-an-email"}, "email", "ERR_INVALID", "is invalid"),
        ({"password": ""}, "password", "ERR_BLANK", "can't be blank"),
        ({"password": "password123"}, "password", "ERR_INVALID", "is too common"),
        ({"agreement": ""}, "agreement", "ERR_ACCEPTED", "must be accepted"),
        (
            {"reason": "x" * 1001},
            "reason",
            "ERR_TOO_LONG",
            "is too long (maximum is 1000 characters)",
        ),
    ],
)
def test_single_field_errors(settings, app_client, changes, field, code, description):
    settings.OURVOICE_REGISTRATION = "open"
    data = {**GOOD, **changes}
    r = app_client.post("/api/v1/accounts", data)
    label = field.capitalize()
    assert assert_json(r, 422) == {
        "error": f"Validation failed: {label} {description}",
        "details": {field: [{"error": code, "description": description}]},
    }
    assert not User.objects.exists()


@pytest.mark.django_db
def test_missing_agreement_and_bad_boolean(settings, app_client):
    settings.OURVOICE_REGISTRATION = "open"
    data = {k: v for k, v in GOOD.items() if k != "agreement"}
    r = app_client.post("/api/v1/accounts", data)
    assert assert_json(r, 422)["details"] == {
        "agreement": [{"error": "ERR_ACCEPTED", "description": "must be accepted"}]
    }
    r = app_client.post("/api/v1/accounts", {**GOOD, "agreement": "maybe"})
    assert assert_json(r, 422) == {"error": "Validation failed: agreement must be a boolean"}
    assert not User.objects.exists()
