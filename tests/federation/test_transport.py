"""The delivery transport against a real loopback server: keep-alive reuse, response framing,
stale pooled sockets sent again exactly once, `Connection: close`, timeouts, the SSRF guard and
TLS (federation/transport.py)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

import pytest

from federation import transport
from federation.transport import DeliverySender, Target, target_parse
from ourvoice.core.http import (
    BadScheme,
    BadUrl,
    ConnectionFailed,
    ForbiddenAddress,
    Timeout,
    TooLarge,
)
from tests.federation.loopback import LoopbackServer, Reply, Request
from tests.ourvoice.core.test_http import _tls_contexts

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
BODY = b'{"type":"Create"}'


def dns(table: dict[str, list[str]] | None = None):
    entries = {"peer.test": ["127.0.0.1"], **(table or {})}
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        if host not in entries:
            raise ConnectionFailed(f"NXDOMAIN {host}")
        return entries[host]

    resolve.lookups = lookups  # type: ignore[attr-defined]
    return resolve


@pytest.fixture(autouse=True)
def _http_allowed(settings):
    settings.OURVOICE_SCHEME = "http"


@pytest.fixture
def sender():
    client = DeliverySender(resolver=dns(), allowed_networks=LOOPBACK)
    yield client
    client.close()


def post(client: DeliverySender, url: str, **kwargs) -> int:
    return client.post(url, headers={"X-Test": "1"}, body=BODY, **kwargs).status


def reply(data: bytes, **kwargs) -> Reply:
    return Reply(data=data, **kwargs)


# --- Keep-alive ----------------------------------------------------------------------------------


def test_many_requests_share_one_connection(sender):
    with LoopbackServer() as server:
        url = f"http://peer.test:{server.port}/inbox"
        statuses = [post(sender, url) for _ in range(25)]

    assert statuses == [202] * 25
    assert server.connections == 1
    assert [r.index for r in server.requests] == list(range(25))
    assert sender.stats.connections == 1
    first = server.requests[0]
    assert first.method == "POST"
    assert first.path == "/inbox"
    assert first.body == BODY
    assert first.headers["host"] == f"peer.test:{server.port}"
    assert first.headers["content-length"] == str(len(BODY))
    assert first.headers["connection"] == "keep-alive"
    assert first.headers["x-test"] == "1"


def test_pool_is_keyed_by_origin(sender):
    """Two names on one address are two origins: two connections, each reused."""
    client = DeliverySender(resolver=dns({"other.test": ["127.0.0.1"]}), allowed_networks=LOOPBACK)
    with LoopbackServer() as server:
        for _ in range(3):
            post(client, f"http://peer.test:{server.port}/a")
            post(client, f"http://other.test:{server.port}/b")
    client.close()
    assert server.connections == 2
    by_connection = {(r.connection, r.headers["host"].split(":")[0]) for r in server.requests}
    assert len(by_connection) == 2


def test_the_number_of_pooled_hosts_is_bounded():
    names = {f"h{n}.test": ["127.0.0.1"] for n in range(3)}
    client = DeliverySender(resolver=dns(names), allowed_networks=LOOPBACK, max_hosts=2)
    with LoopbackServer() as server:
        for name in names:
            post(client, f"http://{name}:{server.port}/")
        assert client.idle_connections() == 2
        post(client, f"http://h0.test:{server.port}/")  # least recently used: was dropped
        assert server.connections == 4
        post(client, f"http://h2.test:{server.port}/")  # still pooled
        assert server.connections == 4
    client.close()


def test_threads_share_the_pool_and_idle_sockets_per_origin_are_bounded(sender):
    """Three threads at once need three sockets; only MAX_IDLE_PER_HOST stay pooled."""
    with LoopbackServer(respond=lambda r: Reply(hang=0.3)) as server:
        url = f"http://peer.test:{server.port}/inbox"
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(post(sender, url))) for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [202, 202, 202]
        assert server.connections == 3
        assert sender.idle_connections() == transport.MAX_IDLE_PER_HOST == 2
        assert server.wait_closed(1)  # the extra socket was closed, not leaked
        assert [post(sender, url) for _ in range(4)] == [202] * 4
        assert server.connections == 3


def test_idle_connections_are_closed_after_the_idle_timeout():
    client = DeliverySender(resolver=dns(), allowed_networks=LOOPBACK, idle_timeout=0.2)
    with LoopbackServer() as server:
        post(client, f"http://peer.test:{server.port}/")
        assert client.idle_connections() == 1
        # The reaper thread closes it without any further request.
        assert server.wait_closed(1, timeout=3)
        assert client.idle_connections() == 0
        post(client, f"http://peer.test:{server.port}/")
        assert server.connections == 2
    client.close()


# --- Response framing ----------------------------------------------------------------------------


def test_content_length_chunked_and_close_delimited_bodies(sender):
    answers = {
        "/length": reply(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"),
        "/chunked": reply(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
        ),
        "/early": reply(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n"
        ),
        "/eof": reply(b"HTTP/1.1 202 Accepted\r\n\r\nbody until the end", close=True),
    }

    with LoopbackServer(respond=lambda r: answers[r.path]) as server:
        base = f"http://peer.test:{server.port}"
        got = [post(sender, base + path) for path in ("/length", "/chunked", "/early", "/length")]
        assert server.connections == 1  # every body was read exactly: the socket stayed usable
        assert post(sender, base + "/eof") == 202
        assert post(sender, base + "/chunked") == 201
        assert server.connections == 2  # a close-delimited body ends its connection

    assert got == [200, 201, 204, 200]


def test_a_body_over_the_cap_is_too_large(sender):
    answers = {
        "/declared": reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100),
        "/chunked": reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"20\r\n"
            + b"x" * 32
            + b"\r\n"
            + b"20\r\n"
            + b"x" * 32
            + b"\r\n0\r\n\r\n"
        ),
        "/eof": reply(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100, close=True),
    }
    with LoopbackServer(respond=lambda r: answers[r.path]) as server:
        for path in answers:
            with pytest.raises(TooLarge):
                post(sender, f"http://peer.test:{server.port}{path}", max_bytes=50)
        assert sender.idle_connections() == 0


def test_redirects_are_not_followed(sender):
    moved = reply(b"HTTP/1.1 301 Moved\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
    with LoopbackServer(respond=lambda r: moved) as server:
        assert post(sender, f"http://peer.test:{server.port}/inbox") == 301
    assert [r.path for r in server.requests] == ["/inbox"]


def test_a_malformed_response_is_a_connection_failure(sender):
    spdy = reply(b"SPDY/3 200 OK\r\n\r\n")
    with (
        LoopbackServer(respond=lambda r: spdy) as server,
        pytest.raises(ConnectionFailed, match=r"not an HTTP/1\.x response"),
    ):
        post(sender, f"http://peer.test:{server.port}/")
    assert sender.idle_connections() == 0


# --- Closing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 202 Accepted\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_connection_close_and_http_1_0_end_the_socket(sender, answer):
    # The server keeps its end open: only the client's honouring of the header closes it.
    with LoopbackServer(respond=lambda r: reply(answer)) as server:
        url = f"http://peer.test:{server.port}/"
        assert post(sender, url) == 202
        assert sender.idle_connections() == 0
        assert server.wait_closed(1)
        assert post(sender, url) == 202
        assert server.connections == 2
    assert len(server.requests) == 2
    assert sender.stats.retries == 0


def test_a_connection_the_server_closed_while_idle_is_not_reused(sender):
    with LoopbackServer(idle_close=0.1) as server:
        url = f"http://peer.test:{server.port}/"
        assert post(sender, url) == 202
        assert server.wait_closed(1)
        time.sleep(0.05)
        assert post(sender, url) == 202
    assert server.connections == 2
    assert len(server.requests) == 2
    assert sender.stats.retries == 0  # noticed before sending


def test_a_request_lost_on_a_stale_connection_is_sent_once_more(sender, monkeypatch):
    """The peer closes the idle socket just as the request goes out (after the liveness check):
    the request fails before any response byte and is sent again, once, on a new connection."""

    def respond(request: Request) -> Reply:
        if request.connection == 1 and request.index == 1:
            return Reply(drop=True)  # closed without processing it
        return Reply()

    with LoopbackServer(respond=respond) as server:
        url = f"http://peer.test:{server.port}/inbox"
        assert post(sender, url) == 202
        response = sender.post(url, headers={}, body=b"second")
        assert response.status == 202
        assert not response.reused
        assert post(sender, url) == 202  # and the new connection is pooled

    assert sender.stats.retries == 1
    assert server.connections == 2
    assert [(r.connection, r.body) for r in server.requests] == [
        (1, BODY),
        (2, b"second"),
        (2, BODY),
    ]


def test_a_peer_that_closed_just_after_the_liveness_check_gets_the_request_once(
    sender, monkeypatch
):
    """The race itself: the socket looked alive, the server's close arrived just after; the
    write succeeds, the read finds the connection closed, the request goes out once more."""
    with LoopbackServer(idle_close=0.1) as server:
        url = f"http://peer.test:{server.port}/inbox"
        assert post(sender, url) == 202
        assert server.wait_closed(1)
        monkeypatch.setattr(transport._Connection, "looks_closed", lambda self: False)
        assert post(sender, url) == 202
    assert sender.stats.retries == 1
    assert server.connections == 2
    assert len(server.requests) == 2  # one per POST


def test_a_fresh_connection_closed_without_an_answer_is_not_resent(sender):
    with (
        LoopbackServer(respond=lambda r: Reply(drop=True)) as server,
        pytest.raises(ConnectionFailed, match="closed"),
    ):
        post(sender, f"http://peer.test:{server.port}/inbox")
    assert server.received == 1
    assert sender.stats.retries == 0


def test_a_second_failure_after_the_retry_is_the_error(sender):
    def respond(request: Request) -> Reply:
        return Reply() if request.index == 0 and request.connection == 1 else Reply(drop=True)

    with LoopbackServer(respond=respond) as server:
        url = f"http://peer.test:{server.port}/inbox"
        assert post(sender, url) == 202
        with pytest.raises(ConnectionFailed):
            post(sender, url)
    assert server.received == 3  # the first POST, the lost one, its single retry
    assert sender.stats.retries == 1


# --- Timeouts ------------------------------------------------------------------------------------


def test_no_answer_is_a_timeout(sender, monkeypatch):
    monkeypatch.setattr(transport, "READ_TIMEOUT", 0.3)
    with LoopbackServer(respond=lambda r: Reply(hang=5)) as server:
        started = time.monotonic()
        with pytest.raises(Timeout):
            post(sender, f"http://peer.test:{server.port}/")
        assert time.monotonic() - started < 2
    assert sender.idle_connections() == 0
    assert sender.stats.retries == 0


def test_a_slow_drip_hits_the_total_deadline(sender):
    with LoopbackServer(respond=lambda r: Reply(hang=5)) as server:
        started = time.monotonic()
        with pytest.raises(Timeout):
            post(sender, f"http://peer.test:{server.port}/", total_timeout=0.4)
        assert time.monotonic() - started < 2


def test_an_unanswered_connect_is_a_timeout(monkeypatch):
    monkeypatch.setattr(transport, "CONNECT_TIMEOUT", 0.3)
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    filler = []
    try:
        # Fill the accept queue so further SYNs go unanswered.
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            filler.append(s)
        client = DeliverySender(resolver=dns(), allowed_networks=LOOPBACK)
        started = time.monotonic()
        with pytest.raises(Timeout):
            post(client, f"http://peer.test:{port}/")
        assert time.monotonic() - started < 3
    finally:
        for s in filler:
            s.close()
        listener.close()


# --- The guard -----------------------------------------------------------------------------------


def test_private_addresses_are_refused_unless_allowed(settings):
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = ()
    client = DeliverySender(resolver=dns({"inside.test": ["10.0.0.7"]}))
    with LoopbackServer() as server:
        for url in (
            f"http://peer.test:{server.port}/inbox",
            f"http://127.0.0.1:{server.port}/inbox",
            f"http://[::1]:{server.port}/inbox",
            "http://inside.test/inbox",
        ):
            with pytest.raises(ForbiddenAddress):
                post(client, url)
        assert server.connections == 0

        settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = list(LOOPBACK)
        assert post(client, f"http://peer.test:{server.port}/inbox") == 202
    client.close()


def test_one_forbidden_address_among_the_answers_refuses_the_host(settings):
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = list(LOOPBACK)
    client = DeliverySender(resolver=dns({"mixed.test": ["127.0.0.1", "169.254.169.254"]}))
    with LoopbackServer() as server, pytest.raises(ForbiddenAddress):
        post(client, f"http://mixed.test:{server.port}/")
    assert server.connections == 0


def test_the_name_is_resolved_once_and_the_vetted_address_used(monkeypatch, settings):
    """No second lookup by the socket layer: the system resolver is never asked."""
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = list(LOOPBACK)

    def no_dns(*args, **kwargs):
        raise AssertionError("system DNS used")

    resolver = dns()
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    client = DeliverySender(resolver=resolver)
    with LoopbackServer() as server:
        assert post(client, f"http://peer.test:{server.port}/") == 202
    assert resolver.lookups == ["peer.test"]
    client.close()


def test_https_only_unless_the_scheme_setting_allows_http(settings):
    settings.OURVOICE_SCHEME = "https"
    with pytest.raises(BadScheme):
        target_parse("http://peer.test/inbox")
    for url in ("ftp://peer.test/inbox", "file:///etc/passwd", "gopher://peer.test/"):
        with pytest.raises(BadScheme):
            target_parse(url)
    assert target_parse("https://peer.test/inbox").port == 443


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@peer.test/inbox",
        "https:///inbox",
        "https://peer.test:99999/inbox",
        "https://peer.test/in box",
        "https://peer.test/inbox\r\nX-Evil: 1",
        "https://pe_er.test\x00/inbox",
        "https://peer$.test/inbox",
    ],
)
def test_unusable_urls_are_refused(url, settings):
    with pytest.raises(BadUrl):
        target_parse(url)


def test_targets_are_normalised_once_for_signing_and_sending():
    target = target_parse("https://Peer.TEST:443/users/Bob/inbox?x=ü%20y#frag")
    assert target == Target(
        url="https://peer.test/users/Bob/inbox?x=%C3%BC%20y",
        scheme="https",
        host="peer.test",
        port=443,
        authority="peer.test",
        request_target="/users/Bob/inbox?x=%C3%BC%20y",
    )
    assert target_parse("https://bücher.example/inbox").host == "xn--bcher-kva.example"
    assert target_parse("https://[::1]:8443").authority == "[::1]:8443"
    assert target_parse("https://[::1]:8443").request_target == "/"


def test_header_injection_is_refused(sender):
    with LoopbackServer() as server, pytest.raises(ValueError, match="cannot be sent"):
        sender.post(
            f"http://peer.test:{server.port}/",
            headers={"Signature": 'keyId="x"\r\nX-Evil: 1'},
            body=BODY,
        )
    assert server.connections == 0


# --- TLS -----------------------------------------------------------------------------------------


def test_tls_with_certificate_and_hostname_checks():
    server_tls, client_tls = _tls_contexts("peer.test")
    resolver = dns({"wrong.test": ["127.0.0.1"]})
    client = DeliverySender(resolver=resolver, allowed_networks=LOOPBACK, ssl_context=client_tls)
    with LoopbackServer(tls=server_tls) as server:
        url = f"https://peer.test:{server.port}/inbox"
        assert [post(client, url) for _ in range(3)] == [202, 202, 202]
        assert server.connections == 1  # keep-alive over TLS
        assert server.requests[0].headers["host"] == f"peer.test:{server.port}"
        with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
            post(client, f"https://wrong.test:{server.port}/inbox")
        with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
            post(client, f"https://127.0.0.1:{server.port}/inbox")
    assert len(server.requests) == 3
    client.close()


def test_tls_stale_connection_is_sent_again_once():
    server_tls, client_tls = _tls_contexts("peer.test")
    client = DeliverySender(resolver=dns(), allowed_networks=LOOPBACK, ssl_context=client_tls)

    def respond(request: Request) -> Reply:
        return Reply(drop=True) if (request.connection, request.index) == (1, 1) else Reply()

    with LoopbackServer(tls=server_tls, respond=respond) as server:
        url = f"https://peer.test:{server.port}/inbox"
        assert post(client, url) == 202
        assert post(client, url) == 202
    assert client.stats.retries == 1
    assert [r.connection for r in server.requests] == [1, 2]
    client.close()


# --- Helpers -------------------------------------------------------------------------------------


def test_http_date_is_an_imf_fixdate():
    value = transport.http_date()
    assert value.endswith(" GMT")
    parsed = time.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
    assert abs(time.mktime(parsed) - time.mktime(time.gmtime())) < 3


def test_resolved_hosts_are_cached_briefly(monkeypatch):
    lookups = []

    def resolver(host, port):
        lookups.append(host)
        return ["93.184.215.14"]

    monkeypatch.setattr(transport.core_http, "system_resolver", resolver)
    transport.resolver_cache_clear()
    assert transport.cached_resolver("x.example", 443) == ["93.184.215.14"]
    assert transport.cached_resolver("x.example", 443) == ["93.184.215.14"]
    assert lookups == ["x.example"]
    monkeypatch.setattr(transport, "RESOLVER_TTL", -1)
    transport.resolver_cache_clear()
    transport.cached_resolver("x.example", 443)
    transport.cached_resolver("x.example", 443)
    assert lookups == ["x.example"] * 3
    transport.resolver_cache_clear()
