"""Helpers for the outgoing-federation tests: remote accounts, follows, stored deliveries.

No network: DNS is stubbed (`stub_dns`) and HTTP is answered by pytest-httpx.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from federation import delivery
from federation.models import Delivery, OutgoingActivity
from federation.signatures import verify_request
from federation.transport import Response, Target
from ourvoice.accounts.models import Account, Follow
from ourvoice.core import http as core_http

PUBLIC_IP = "93.184.215.14"
_seq = itertools.count(1)


def remote(domain: str, username: str | None = None, *, shared: bool = True, **kw: Any) -> Account:
    """A remote account on `domain` (with a shared inbox unless `shared=False`)."""
    username = username or f"r{next(_seq)}"
    uri = f"https://{domain}/users/{username}"
    fields: dict[str, Any] = {
        "uri": uri,
        "url": f"https://{domain}/@{username}",
        "inbox_uri": f"{uri}/inbox",
        "shared_inbox_uri": f"https://{domain}/inbox" if shared else "",
        "followers_uri": f"{uri}/followers",
        "key_id": f"{uri}#main-key",
        **kw,
    }
    return Account.objects.create(username=username, domain=domain, **fields)


def follow(follower: Account, target: Account, *, accepted: bool = True) -> Follow:
    """A follow row, written directly (no outbox event)."""
    return Follow.objects.create(
        follower=follower,
        target=target,
        state=Follow.State.ACCEPTED if accepted else Follow.State.PENDING,
        uri=f"{follower.uri}#follows/{next(_seq)}",
    )


def activities(type_: str | None = None) -> list[OutgoingActivity]:
    qs = OutgoingActivity.objects.order_by("id")
    return list(qs.filter(type=type_) if type_ else qs)


def only_activity(type_: str) -> OutgoingActivity:
    found = activities(type_)
    assert len(found) == 1, [a.uri for a in found]
    return found[0]


def body(activity: OutgoingActivity) -> dict[str, Any]:
    return orjson.loads(bytes(activity.body))


def inboxes(activity: OutgoingActivity, state: str | None = None) -> set[str]:
    qs = Delivery.objects.filter(activity=activity)
    if state:
        qs = qs.filter(state=state)
    return set(qs.values_list("inbox", flat=True))


def stub_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]] | None = None) -> None:
    """Every host resolves to a public address unless the table says otherwise."""
    entries = table or {}

    def resolver(host: str, port: int) -> list[str]:
        return entries.get(host, [PUBLIC_IP])

    monkeypatch.setattr(core_http, "system_resolver", resolver)
    delivery.delivery_client_reset()


def verify(request: Any, account: Account) -> Account:
    """Verify an intercepted request's signature with the account's public key; the signer."""

    def resolver(key_id: str, refresh: bool) -> tuple[str, Account]:
        assert key_id == account.key_id
        return account.public_key_pem, account

    result = verify_request(
        method=request.method,
        path=request.url.raw_path.decode().split("?", 1)[0],
        query=request.url.query.decode(),
        headers=dict(request.headers),
        body=request.content,
        key_resolver=resolver,
    )
    return result.owner


class HttpxSender:
    """`federation.transport.DeliverySender`'s interface over `SafeClient`, so pytest-httpx
    answers the deliveries of the delivery-logic tests. Signing, URL normalisation and the
    address check still run; the real socket layer is tested against a loopback server in
    tests/federation/test_transport.py."""

    def __init__(self) -> None:
        self.client = core_http.SafeClient()

    def post(
        self, target: Target, *, headers: dict[str, str], body: bytes, max_bytes: int
    ) -> Response:
        result = self.client.post(target.url, headers=headers, content=body, max_bytes=max_bytes)
        return Response(result.status, False)

    def close(self) -> None:
        self.client.close()
