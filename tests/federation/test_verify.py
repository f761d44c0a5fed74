"""federation.verify: Django requests → HTTP-signature verification, signer and origin checks."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import RequestFactory

from federation import signatures, verify
from federation.models import Instance
from federation.policy import DomainBlocked
from ourvoice.accounts.models import Account
from tests.factories import local_account
from tests.federation.remote import (
    PRIVATE_KEY,
    Remote,
    body_of,
    other_keypair,
    reset_caches,
    snapshot,
    stub_dns,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def remote(httpx_mock, monkeypatch):
    stub_dns(monkeypatch)
    return Remote(httpx_mock)


def _signed_get(path: str, *, key_id: str, private_pem: str = PRIVATE_KEY, raw: str | None = None):
    headers = signatures.sign_request(
        method="GET",
        url=f"{settings.OURVOICE_BASE_URL}{raw or path}",
        headers=None,
        body=None,
        key_id=key_id,
        private_key_pem=private_pem,
    )
    request = RequestFactory().get(path, headers=headers)
    if raw is not None:
        request.META["RAW_URI"] = raw
    return request


def _signed_post(remote: Remote, activity: dict, *, path: str = "/inbox", **sign):
    body = body_of(activity)
    headers = remote.signed_headers(body, path=path, **sign)
    content_type = headers.pop("Content-Type")
    request = RequestFactory().post(path, data=body, content_type=content_type, headers=headers)
    return request, body


# --- wire_target ---------------------------------------------------------------------------------


def test_wire_target_prefers_gunicorns_raw_uri():
    request = RequestFactory().get("/users/alice")
    request.META["RAW_URI"] = "/users/al%69ce?page=%7E1"
    assert verify.wire_target(request) == ("/users/al%69ce", "page=%7E1")


def test_wire_target_reads_absolute_form_and_request_uri():
    request = RequestFactory().get("/x")
    request.META["REQUEST_URI"] = "https://testserver/x/y?z=1"
    assert verify.wire_target(request) == ("/x/y", "z=1")


def test_wire_target_falls_back_to_the_full_path():
    request = RequestFactory().get("/users/alice/outbox", {"page": "true"})
    assert verify.wire_target(request) == ("/users/alice/outbox", "page=true")


# --- GET (authorized fetch) ---------------------------------------------------------------------


def test_wire_headers_are_djangos_headers_with_lowercased_names():
    request = RequestFactory().post(
        "/inbox",
        data=b"{}",
        content_type="application/activity+json",
        HTTP_SIGNATURE='keyId="k",signature="s"',
        HTTP_X_FORWARDED_FOR="10.0.0.1",
        HTTP_DIGEST="SHA-256=abc",
    )
    request.META["SERVER_SOFTWARE"] = "gunicorn/23"  # not a header

    headers = verify.wire_headers(request)

    assert headers == {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/activity+json"
    assert headers["x-forwarded-for"] == "10.0.0.1"
    assert "server-software" not in headers


def test_signed_get_returns_the_signer(remote):
    remote.serve_actor("alice")
    request = _signed_get("/users/bob", key_id=remote.key_id("alice"))

    signer = verify.verify_signed_get(request)

    assert signer.uri == remote.actor_id("alice")
    assert signer.domain == "remote.example"


def test_signed_get_verifies_the_raw_percent_encoded_target(remote):
    """The signature covers the target as sent; Django's re-encoding of the path differs."""
    remote.serve_actor("alice")
    request = _signed_get("/users/b~b", key_id=remote.key_id("alice"), raw="/users/b%7Eb")
    assert verify.verify_signed_get(request).uri == remote.actor_id("alice")


def test_unsigned_get_is_rejected(db):
    with pytest.raises(verify.SignatureRejected):
        verify.verify_signed_get(RequestFactory().get("/users/bob"))


def test_get_signed_with_a_local_key_needs_no_fetch(httpx_mock):
    bob = local_account("bob")
    request = _signed_get("/users/x", key_id=bob.key_id, private_pem=bob.private_key_pem)
    assert verify.verify_signed_get(request) == bob
    assert httpx_mock.get_requests() == []


def test_get_from_a_suspended_domain_is_blocked_before_any_fetch(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    request = _signed_get("/users/bob", key_id=remote.key_id("alice"))

    with pytest.raises(DomainBlocked):
        verify.verify_signed_get(request)
    assert httpx_mock.get_requests() == []


def test_get_with_a_bad_signature_persists_nothing(remote):
    other_private, _ = other_keypair()
    remote.serve_actor("alice")
    request = _signed_get("/users/bob", key_id=remote.key_id("alice"), private_pem=other_private)
    before = snapshot()

    with pytest.raises(verify.SignatureRejected):
        verify.verify_signed_get(request)
    assert snapshot() == before


# --- POST (inbox) -------------------------------------------------------------------------------


def test_signed_post_returns_the_actor(remote):
    remote.serve_actor("alice")
    request, body = _signed_post(remote, remote.activity("alice"))
    assert verify.verify_signed_post(request, body).uri == remote.actor_id("alice")


def test_signed_activity_reports_key_and_standard(remote):
    remote.serve_actor("alice")
    activity = remote.activity("alice")
    request, body = _signed_post(remote, activity)

    verified = verify.verify_signed_activity(request, body, activity=activity)

    assert verified.key_id == remote.key_id("alice")
    assert verified.standard == "cavage"
    assert isinstance(verified.owner, Account)


def test_rfc9421_target_uri_uses_ourvoice_scheme(remote, settings):
    remote.serve_actor("alice")
    activity = remote.activity("alice")
    body = body_of(activity)
    headers = signatures.sign_request_rfc9421(
        method="POST",
        url=f"http://{settings.OURVOICE_DOMAIN}/inbox",  # wrong scheme for this server
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=remote.key_id("alice"),
        private_key_pem=PRIVATE_KEY,
    )
    content_type = headers.pop("Content-Type")
    request = RequestFactory().post("/inbox", data=body, content_type=content_type, headers=headers)

    with pytest.raises(verify.SignatureRejected):
        verify.verify_signed_post(request, body)

    settings.OURVOICE_SCHEME = "http"
    assert verify.verify_signed_post(request, body).uri == remote.actor_id("alice")


def test_post_whose_body_is_not_json_is_rejected(remote):
    request, _ = _signed_post(remote, remote.activity("alice"))
    with pytest.raises(verify.SignatureRejected):
        verify.verify_signed_post(request, b"[]")


def test_signer_must_be_the_actor(remote, httpx_mock):
    remote.serve_actor("bob")
    activity = remote.activity("alice")
    request, body = _signed_post(remote, activity, username="bob")
    before = snapshot()

    with pytest.raises(verify.SignatureRejected, match="owner"):
        verify.verify_signed_post(request, body)
    assert snapshot() == before  # bob's actor fetched for his key is rolled back too
    assert len(httpx_mock.get_requests()) == 1


def test_key_and_actor_on_different_hosts_fetch_nothing(remote, httpx_mock):
    activity = remote.activity("alice")
    request, body = _signed_post(remote, activity, key_id="https://other.example/users/a#k")
    with pytest.raises(verify.SignatureRejected, match="different hosts"):
        verify.verify_signed_post(request, body)
    assert httpx_mock.get_requests() == []


def test_activity_id_on_another_host_fetches_nothing(remote, httpx_mock):
    activity = remote.activity("alice", id="https://other.example/activities/1")
    request, body = _signed_post(remote, activity)
    with pytest.raises(verify.SignatureRejected, match="activity id"):
        verify.verify_signed_post(request, body)
    assert httpx_mock.get_requests() == []
