"""`deliveries_send` over the real delivery sender and a loopback server: signatures verified on
what arrived, one connection per origin across chunks, stale sockets, timeouts and the SSRF guard
deciding the row's state."""

from __future__ import annotations

import ipaddress

import pytest
from django.utils import timezone

from federation import delivery, transport
from federation.delivery import deliveries_send
from federation.models import Delivery, Instance
from federation.signatures import verify_request
from tests.factories import local_account
from tests.federation.loopback import LoopbackServer, Reply, Request
from tests.federation.outbound.support import stub_dns
from tests.federation.test_delivery import publish, rows

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@pytest.fixture(autouse=True)
def _loopback(monkeypatch, settings):
    settings.OURVOICE_SCHEME = "http"
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = [LOOPBACK]
    stub_dns(monkeypatch, {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    yield
    delivery.delivery_client_reset()


@pytest.fixture
def alice():
    return local_account("alice")


def ids_of(*activities) -> list[int]:
    return [row.id for activity in activities for row in rows(activity)]


def verified(request: Request, account) -> bool:
    def resolver(key_id: str, refresh: bool):
        assert key_id == account.key_id
        return account.public_key_pem, account

    path, _, query = request.path.partition("?")
    result = verify_request(
        method=request.method,
        path=path,
        query=query,
        headers=request.headers,
        body=request.body,
        key_resolver=resolver,
        scheme="http",
    )
    return result.owner == account


def test_signed_deliveries_share_one_connection_per_origin_across_chunks(alice):
    with LoopbackServer() as server:
        port = server.port
        inboxes = [f"http://a.test:{port}/users/u{n}/inbox" for n in range(5)]
        inboxes += [f"http://b.test:{port}/inbox?x=1"]
        first = publish(alice, inboxes, 1)
        second = publish(alice, inboxes, 2)

        assert deliveries_send(ids=ids_of(first)).sent == 6
        assert deliveries_send(ids=ids_of(second)).sent == 6  # the next task, same pool

    assert server.connections == 2  # one per origin (a.test:port, b.test:port)
    assert len(server.requests) == 12
    for request in server.requests:
        assert verified(request, alice)
        assert request.headers["content-type"] == "application/activity+json"
        assert request.headers["user-agent"].startswith("OURVoice/")
        assert request.headers["host"] in {f"a.test:{port}", f"b.test:{port}"}
    bodies = {bytes(first.body), bytes(second.body)}
    assert {r.body for r in server.requests} == bodies
    for row in rows(first) + rows(second):
        assert (row.state, row.last_status, row.attempts) == (Delivery.State.SENT, 202, 1)
    assert Instance.objects.get(domain=f"a.test:{port}").last_success_at is not None


def test_a_socket_the_peer_dropped_delivers_exactly_once(alice):
    def respond(request: Request) -> Reply:
        # The peer closes the first connection as the second request arrives, unprocessed.
        return Reply(drop=True) if (request.connection, request.index) == (1, 1) else Reply()

    with LoopbackServer(respond=respond) as server:
        inboxes = [f"http://a.test:{server.port}/users/u{n}/inbox" for n in range(3)]
        activity = publish(alice, inboxes)
        report = deliveries_send(ids=ids_of(activity))

    assert report.sent == 3
    assert sorted(r.path for r in server.requests) == sorted(f"/users/u{n}/inbox" for n in range(3))
    assert delivery.delivery_client().stats.retries == 1
    assert {row.state for row in rows(activity)} == {Delivery.State.SENT}
    assert {row.attempts for row in rows(activity)} == {1}


def test_an_unanswered_request_is_retried_later(alice, monkeypatch):
    monkeypatch.setattr(transport, "READ_TIMEOUT", 0.3)
    with LoopbackServer(respond=lambda request: Reply(hang=3)) as server:
        activity = publish(alice, [f"http://a.test:{server.port}/inbox"])
        before = timezone.now()
        report = deliveries_send(ids=ids_of(activity))

    assert report.retried == 1
    (row,) = rows(activity)
    assert row.state == Delivery.State.PENDING
    assert row.last_status is None
    assert row.last_error.startswith("Timeout")
    assert 15 <= (row.next_attempt_at - before).total_seconds() < 17
    instance = Instance.objects.get(domain=f"a.test:{server.port}")
    assert instance.failure_days == [timezone.now().date().isoformat()]


@pytest.mark.parametrize(
    ("answer", "state", "status"),
    [
        (
            b"HTTP/1.1 301 Moved\r\nLocation: http://a.test/x\r\nContent-Length: 0\r\n\r\n",
            "pending",
            301,
        ),
        (
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nno!\r\n0\r\n\r\n",
            "failed",
            404,
        ),
        (b"HTTP/1.0 503 Busy\r\n\r\ntry later", "pending", 503),
    ],
)
def test_status_decides_the_row_state(alice, answer, state, status):
    # The HTTP/1.0 answer has no length: its body ends when the server closes.
    with LoopbackServer(respond=lambda request: Reply(data=answer, close=True)) as server:
        activity = publish(alice, [f"http://a.test:{server.port}/inbox"])
        deliveries_send(ids=ids_of(activity))

    assert len(server.requests) == 1  # no redirect followed
    (row,) = rows(activity)
    assert (row.state, row.last_status, row.last_error) == (state, status, f"HTTP {status}")


def test_a_private_address_is_refused_without_the_setting(alice, settings):
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = []
    with LoopbackServer() as server:
        activity = publish(alice, [f"http://a.test:{server.port}/inbox"])
        deliveries_send(ids=ids_of(activity))

    assert server.connections == 0
    (row,) = rows(activity)
    assert row.state == Delivery.State.FAILED
    assert row.last_error.startswith("ForbiddenAddress")
