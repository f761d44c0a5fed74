"""Inbox body and fetched-document advisories (federation.md §5): each refusal stores nothing."""

from __future__ import annotations

import pytest

from tests.federation.remote import LD_JSON, body_of, post, snapshot

pytestmark = pytest.mark.django_db


def _refused(response, status, before):
    assert response.status_code == status, response.content
    assert snapshot() == before


@pytest.mark.parametrize(
    "reshape",
    [
        lambda a: {**a, "@graph": [a["object"]]},
        lambda a: {**a, "object": {**a["object"], "@reverse": {"attributedTo": a["actor"]}}},
        lambda a: {**a, "@included": [{"id": "https://victim.example/users/admin"}]},
        lambda a: {**a, "@context": [a["@context"], {"g": "@graph"}]},
        lambda a: {**a, "object": {**a["object"], "tag": [{"@nest": {}}]}},
    ],
    ids=["graph", "reverse", "included", "aliased-graph", "nest"],
)
def test_reshaped_json_ld_is_400_without_fetching(client, remote, httpx_mock, reshape):
    """GHSA-9rfg-v8g9-9367 / Mastodon CVE-2026-46349: @graph, @reverse, @included bodies."""
    body = body_of(reshape(remote.activity("alice")))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 400, before)
    assert httpx_mock.get_requests() == []


def test_oversized_body_is_413(client, remote, httpx_mock):
    activity = remote.activity("alice")
    activity["object"]["content"] = "x" * (1024 * 1024)
    body = body_of(activity)
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 413, before)
    assert httpx_mock.get_requests() == []


def test_declared_length_over_the_limit_is_413_before_reading(client, remote):
    body = body_of(remote.activity("alice"))
    headers = remote.signed_headers(body)
    before = snapshot()
    response = client.post(
        "/inbox",
        data=body,
        content_type="application/activity+json",
        headers={k: v for k, v in headers.items() if k != "Content-Type"},
        CONTENT_LENGTH=str(2 * 1024 * 1024),
    )
    _refused(response, 413, before)


def test_body_of_exactly_the_limit_is_not_413(client, remote):
    activity = remote.activity("alice")
    activity["object"]["content"] = ""
    base = len(body_of(activity))
    activity["object"]["content"] = "x" * (1024 * 1024 - base)
    body = body_of(activity)
    assert len(body) == 1024 * 1024
    response = post(client, "/inbox", body, {"Content-Type": "application/activity+json"})
    assert response.status_code == 401  # not signed, but not too large


def test_unknown_inbox_is_404(client, remote, httpx_mock):
    body = body_of(remote.activity("alice"))
    before = snapshot()
    response = post(client, "/users/nobody/inbox", body, remote.signed_headers(body))
    _refused(response, 404, before)
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/html; charset=utf-8", "application/ld+json", "image/png"],
)
def test_key_document_with_a_wrong_content_type_is_refused(client, remote, content_type):
    """Mastodon CVE-2024-23832 / GHSA-jhrq-qvrm-qr36: JSON served as something else (e.g. an
    upload on the victim's host) is never taken as an actor or key."""
    remote.serve_actor("alice", content_type=content_type)
    body = body_of(remote.activity("alice"))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)


def test_key_document_with_the_ld_json_profile_is_accepted(client, remote):
    remote.serve_actor("alice", content_type=LD_JSON)
    body = body_of(remote.activity("alice"))
    assert post(client, "/inbox", body, remote.signed_headers(body)).status_code == 202


def test_key_document_declaring_another_origin_is_refused(client, remote, httpx_mock):
    """CVE-2024-23832: the document at alice's URL claims to be an actor elsewhere."""
    remote.serve(
        remote.actor_id("alice"),
        remote.actor_document("alice", id="https://victim.example/users/alice"),
    )
    body = body_of(remote.activity("alice"))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)
    assert len(httpx_mock.get_requests()) == 1  # the foreign id is never fetched


def test_key_document_declaring_another_actor_of_the_origin_is_refused(client, remote):
    """The declared id is refetched once; that actor does not own the signing key."""
    remote.serve(remote.actor_id("alice"), remote.actor_document("bob"))
    remote.serve_actor("bob")
    body = body_of(remote.activity("alice"))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)


def test_key_whose_owner_is_another_actor_is_refused(client, remote):
    """Bidirectional check: alice's document lists the key, but names mallory as owner."""
    remote.serve_actor("alice", key_owner=remote.actor_id("mallory"))
    body = body_of(remote.activity("alice"))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)


def test_key_document_redirected_to_another_host_is_refused(client, remote):
    remote.httpx_mock.add_response(
        url=remote.actor_id("alice"),
        status_code=302,
        headers={"Location": "https://uploads.example/files/actor.json"},
    )
    remote.serve("https://uploads.example/files/actor.json", remote.actor_document("alice"))
    body = body_of(remote.activity("alice"))
    before = snapshot()

    _refused(post(client, "/inbox", body, remote.signed_headers(body)), 401, before)
