"""Test helpers for the inbox, fetch and verification tests: a fake remote server.

`Remote` builds actor documents and activities for one remote origin, serves documents through
pytest-httpx, and signs inbox POSTs with `federation.signatures.sign_request` and the fixed test
key of `signature_vectors` (or a second, generated key). `stub_dns` makes every test host
resolve to a public address (the SSRF guard still runs); a table entry can point a host at a
private address instead.
"""

from __future__ import annotations

import functools
import itertools
from datetime import datetime
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.test import Client
from pytest_httpx import HTTPXMock

from federation import fetch, signatures
from federation.models import InboxItem
from ourvoice.accounts.models import Account
from ourvoice.core import http as core_http
from tests.federation import signature_vectors as vectors

PUBLIC_IP = "93.184.216.34"
ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

PRIVATE_KEY = vectors.TEST_PRIVATE_KEY
PUBLIC_KEY = vectors.TEST_PUBLIC_KEY

_ids = itertools.count(1)


@functools.cache
def other_keypair() -> tuple[str, str]:
    """A second RSA key pair (private PEM, public PEM), generated once per test session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def stub_dns(
    monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]] | None = None
) -> list[str]:
    """Resolve every host to PUBLIC_IP (or the table's addresses); returns the lookups made."""
    lookups: list[str] = []
    entries = table or {}

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return entries.get(host, [PUBLIC_IP])

    monkeypatch.setattr(core_http, "system_resolver", resolver)
    return lookups


def reset_caches() -> None:
    """Forget process-level caches between tests (the Django cache is cleared by conftest)."""
    fetch.key_cache_clear()


class Remote:
    """One remote origin (`scheme://domain`) with actors served by pytest-httpx."""

    def __init__(
        self, httpx_mock: HTTPXMock, domain: str = "remote.example", scheme: str = "https"
    ):
        self.httpx_mock = httpx_mock
        self.domain = domain
        self.base = f"{scheme}://{domain}"

    # --- documents ---

    def actor_id(self, username: str) -> str:
        return f"{self.base}/users/{username}"

    def key_id(self, username: str) -> str:
        return f"{self.actor_id(username)}#main-key"

    def actor_document(
        self,
        username: str,
        *,
        public_pem: str = PUBLIC_KEY,
        key_id: str | None = None,
        key_owner: str | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        actor = self.actor_id(username)
        document: dict[str, Any] = {
            "@context": [AS_CONTEXT, "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": username,
            "name": username.title(),
            "summary": "<p>Hello</p>",
            "url": f"{self.base}/@{username}",
            "inbox": f"{actor}/inbox",
            "outbox": f"{actor}/outbox",
            "followers": f"{actor}/followers",
            "following": f"{actor}/following",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {
                "id": key_id or self.key_id(username),
                "owner": key_owner or actor,
                "publicKeyPem": public_pem,
            },
        }
        document.update(overrides)
        return document

    def serve(
        self,
        url: str,
        document: dict[str, Any] | bytes,
        *,
        content_type: str = ACTIVITY_JSON,
        status: int = 200,
        headers: dict[str, str] | None = None,
        optional: bool = True,
    ) -> None:
        """Answer GETs of `url` (any number of times) with `document`."""
        content = document if isinstance(document, bytes) else orjson.dumps(document)
        self.httpx_mock.add_response(
            url=url,
            method="GET",
            status_code=status,
            content=content,
            headers={"Content-Type": content_type, **(headers or {})},
            is_reusable=True,
            is_optional=optional,
        )

    def serve_actor(self, username: str, **kwargs: Any) -> dict[str, Any]:
        content_type = kwargs.pop("content_type", ACTIVITY_JSON)
        document = self.actor_document(username, **kwargs)
        self.serve(self.actor_id(username), document, content_type=content_type)
        return document

    def note(self, username: str, **overrides: Any) -> dict[str, Any]:
        actor = self.actor_id(username)
        number = next(_ids)
        note = {
            "id": f"{actor}/statuses/{number}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>Note {number}</p>",
            "to": [PUBLIC],
            "cc": [f"{actor}/followers"],
            "published": "2026-07-07T12:00:00Z",
        }
        note.update(overrides)
        return note

    def activity(self, username: str, kind: str = "Create", **overrides: Any) -> dict[str, Any]:
        actor = self.actor_id(username)
        note = self.note(username)
        activity: dict[str, Any] = {
            "@context": AS_CONTEXT,
            "id": f"{note['id']}/activity",
            "type": kind,
            "actor": actor,
            "to": [PUBLIC],
            "object": note,
        }
        activity.update(overrides)
        return activity

    # --- signing ---

    def signed_headers(
        self,
        body: bytes,
        *,
        username: str = "alice",
        path: str = "/inbox",
        key_id: str | None = None,
        private_pem: str = PRIVATE_KEY,
        now: datetime | None = None,
    ) -> dict[str, str]:
        return signatures.sign_request(
            method="POST",
            url=f"{settings.OURVOICE_BASE_URL}{path}",
            headers={"Content-Type": ACTIVITY_JSON},
            body=body,
            key_id=key_id or self.key_id(username),
            private_key_pem=private_pem,
            now=now,
        )


def body_of(activity: dict[str, Any]) -> bytes:
    return orjson.dumps(activity)


def post(client: Client, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST `body` to `path` with these (signed) headers, as a remote server would."""
    extra = {k: v for k, v in headers.items() if k.lower() not in {"content-type"}}
    content_type = headers.get("Content-Type", ACTIVITY_JSON)
    return client.post(path, data=body, content_type=content_type, headers=extra)


def snapshot() -> tuple[int, int]:
    """(inbox items, remote accounts): compare before and after a refused request."""
    return InboxItem.objects.count(), Account.objects.remote().count()
