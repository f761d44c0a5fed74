"""Inbox signature and origin advisories (federation.md §5): each refusal stores nothing.

Every test asserts the status AND that no InboxItem and no remote Account were written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from federation import signatures
from federation.models import InboxItem
from tests.federation.remote import (
    PRIVATE_KEY,
    body_of,
    other_keypair,
    post,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _refused(response, status, before):
    assert response.status_code == status, response.content
    assert snapshot() == before


def test_forged_signature_is_401(client, remote):
    """A signature made with a key that is not the actor's."""
    forger_private, _ = other_keypair()
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, private_pem=forger_private)
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)


def test_tampered_body_is_401(client, remote):
    """A valid signature over another body (the Digest header no longer matches)."""
    remote.serve_actor("alice")
    signed = body_of(remote.activity("alice"))
    headers = remote.signed_headers(signed)
    tampered = signed.replace(b"Note", b"Evil")
    before = snapshot()

    _refused(post(client, "/inbox", tampered, headers), 401, before)


def test_digest_mismatch_is_401_without_a_key_fetch(client, remote, httpx_mock):
    """Misskey CVE-2023-49079: Digest not validated → body spoofing."""
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    headers["Digest"] = signatures.digest_sha256(b"another body")
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert httpx_mock.get_requests() == []


def test_replayed_activity_is_stored_once(client, remote, kicks):
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)

    first = post(client, "/inbox", body, headers)
    second = post(client, "/inbox", body, headers)

    assert (first.status_code, second.status_code) == (202, 202)
    assert InboxItem.objects.count() == 1
    assert kicks == [1]


def test_replay_outside_the_date_window_is_401(client, remote, monkeypatch):
    """The same signed request, accepted when fresh, is refused once its Date is stale."""
    remote.serve_actor("alice")
    signed_at = datetime.now(tz=UTC) - timedelta(hours=2)
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, now=signed_at)
    clock = [signed_at]
    real_verify = signatures.verify_request
    monkeypatch.setattr(
        signatures, "verify_request", lambda **kwargs: real_verify(now=clock[0], **kwargs)
    )
    assert post(client, "/inbox", body, headers).status_code == 202
    before = snapshot()

    clock[0] = signed_at + timedelta(minutes=66)
    _refused(post(client, "/inbox", body, headers), 401, before)
    assert InboxItem.objects.count() == 1


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(minutes=-66), 401),  # stale: older than 5 min + 1 h skew
        (timedelta(minutes=61), 401),  # future: more than 1 h ahead
        (timedelta(minutes=-50), 202),  # inside Mastodon's window
        (timedelta(minutes=50), 202),
    ],
)
def test_date_window(client, remote, offset, status):
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, now=datetime.now(tz=UTC) + offset)
    before = snapshot()

    response = post(client, "/inbox", body, headers)

    assert response.status_code == status
    if status == 401:
        assert snapshot() == before


def _valid_header(remote, body) -> str:
    return remote.signed_headers(body)["Signature"]


MALFORMED = {
    "empty": lambda valid: "",
    "blank": lambda valid: "   ",
    "garbage": lambda valid: "Signature",
    "no signature": lambda valid: valid.split(',signature="')[0],
    "no keyId": lambda valid: valid.split(",", 1)[1],
    "empty keyId": lambda valid: 'keyId=""' + valid[valid.index(",") :],
    "not base64": lambda valid: valid.split(',signature="')[0] + ',signature="!!not base64!!"',
    "empty signature": lambda valid: valid.split(',signature="')[0] + ',signature=""',
    "unknown algorithm": lambda valid: valid.replace("rsa-sha256", "hmac-sha256"),
    "digest not signed": lambda valid: valid.replace(" digest content-type", ""),
    "date not signed": lambda valid: valid.replace(" date", ""),
    "duplicate parameter": lambda valid: valid + ',keyId="https://remote.example/x"',
    "unterminated quote": lambda valid: valid[:-1],
    "trailing comma": lambda valid: valid + ",",
    "created without hs2019": lambda valid: valid.replace(" date ", " (created) "),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_signature_header_is_401_before_any_fetch(client, remote, httpx_mock, case):
    """Misskey CVE-2026-28432: malformed, partial or empty Signature headers."""
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    headers["Signature"] = MALFORMED[case](headers["Signature"])
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert httpx_mock.get_requests() == []


def test_missing_signature_header_is_401(client, remote, httpx_mock):
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    del headers["Signature"]
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert httpx_mock.get_requests() == []


def test_truncated_signature_is_401(client, remote):
    """A partial signature value that still parses: verification fails, nothing is kept."""
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    value = headers["Signature"]
    start = value.index(',signature="') + len(',signature="')
    headers["Signature"] = value[:start] + value[start : start + 40] + '"'
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)


def test_malformed_rfc9421_signature_is_401(client, remote, httpx_mock):
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    del headers["Signature"]
    headers["Signature-Input"] = 'sig1=("@method");keyid="https://remote.example/users/alice"'
    headers["Signature"] = "sig1=:AAAA:"
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert httpx_mock.get_requests() == []


def test_key_id_from_another_host_than_the_actor_is_401_without_fetching(
    client, remote, httpx_mock
):
    """The signer (keyId host) and the activity's actor must be on one origin."""
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, key_id="https://attacker.example/users/alice#main-key")
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert httpx_mock.get_requests() == []


def test_actor_is_not_the_key_owner_is_401_and_persists_nothing(client, remote, httpx_mock):
    """Fedify CVE-2025-54888: a valid signature by mallory, activity claiming alice. The key
    fetch stores mallory's actor on the way; the refusal must roll that back."""
    remote.serve_actor("mallory")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, username="mallory")
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
    assert [str(r.url) for r in httpx_mock.get_requests()] == [remote.actor_id("mallory")]


def test_real_actor_is_accepted_after_a_forger_used_its_key_id(client, remote, httpx_mock):
    """The refused request rolled the actor back; the real one is not locked out by the
    per-key refetch limit (the fetched document is reused, not refetched)."""
    forger_private, _ = other_keypair()
    remote.serve_actor("alice")
    forged = body_of(remote.activity("alice"))
    assert (
        post(
            client, "/inbox", forged, remote.signed_headers(forged, private_pem=forger_private)
        ).status_code
        == 401
    )
    real = body_of(remote.activity("alice"))
    assert post(client, "/inbox", real, remote.signed_headers(real)).status_code == 202
    assert len(httpx_mock.get_requests()) == 1


def test_activity_id_on_another_host_is_401_without_fetching(client, remote, httpx_mock):
    """CVE-2024-23832: an activity id outside the signer's origin."""
    activity = remote.activity("alice", id="https://victim.example/activities/1")
    body = body_of(activity)
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)
    assert httpx_mock.get_requests() == []


def test_signature_for_another_inbox_path_is_401(client, remote):
    """The request target is signed: a request replayed to another inbox fails."""
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body, path="/users/someone/inbox")
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)


def test_signature_for_another_host_is_401(client, remote):
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = signatures.sign_request(
        method="POST",
        url="https://other-server.example/inbox",
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=remote.key_id("alice"),
        private_key_pem=PRIVATE_KEY,
    )
    headers.pop("Host")
    before = snapshot()

    _refused(post(client, "/inbox", body, headers), 401, before)
