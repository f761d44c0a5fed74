"""The guarded outbound client: SSRF address policy, pinning, redirects, deadlines, size caps.

Advisories covered: Mastodon CVE-2026-22245 and CVE-2026-46348 (missing ranges, `::`),
Fedify CVE-2026-50131 (special-use IPv4 and IPv6 translation ranges), Fedify CVE-2025-23221
(redirects to private addresses), Mastodon CVE-2023-36461 (slow-response DoS).
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ourvoice.core import http as core_http
from ourvoice.core.http import (
    BadScheme,
    BadUrl,
    ConnectionFailed,
    FetchError,
    ForbiddenAddress,
    SafeClient,
    Timeout,
    TooLarge,
    TooManyRedirects,
    address_is_allowed,
    safe_get,
    safe_post,
)

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
PUBLIC_IP = "93.184.215.14"


class FakeDNS:
    """Resolver double: a fixed table, recording every lookup."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = {"peer.example": [PUBLIC_IP], **(table or {})}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise ConnectionFailed(f"NXDOMAIN {host}")
        return self.table[host]


class Recorder:
    """MockTransport handler: answers from a route table and records the requests it saw."""

    def __init__(self, routes: dict[str, httpx.Response] | None = None) -> None:
        self.routes = routes or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.routes.get(str(request.url))
        return response if response is not None else httpx.Response(200, content=b"ok")


def _client(handler=None, dns=None, **kw) -> SafeClient:
    return SafeClient(
        transport=httpx.MockTransport(handler or Recorder()), resolver=dns or FakeDNS(), **kw
    )


@pytest.fixture
def no_system_dns(monkeypatch):
    real = socket.getaddrinfo

    def numeric_only(host, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise AssertionError(f"system DNS must not be used (asked for {host})") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)


# --- Address policy -----------------------------------------------------------------------------

REFUSED = [
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "2002:7f00:1::",
    "2002:a00:1::1",
    "64:ff9b::7f00:1",
    "64:ff9b::808:808",
    "64:ff9b:1::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",
    "ff02::1",
    "100.64.0.1",
    "100.127.255.254",
    "198.18.0.1",
    "198.19.255.254",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "192.88.99.1",
    "not an address",
    "",
]


@pytest.mark.parametrize("ip", REFUSED)
def test_special_addresses_are_refused(ip):
    assert not address_is_allowed(ip)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        PUBLIC_IP,
        "2606:4700:4700::1111",
        "2a01:4f8::1",
        "::ffff:8.8.8.8",  # IPv4-mapped: judged by the embedded public address
        "2002:808:808::1",  # 6to4: same
    ],
)
def test_global_addresses_are_allowed(ip):
    assert address_is_allowed(ip)


def test_allowlisted_networks():
    assert address_is_allowed("127.0.0.1", LOOPBACK)
    assert address_is_allowed(ipaddress.ip_address("127.0.0.2"), LOOPBACK)
    assert not address_is_allowed("::1", LOOPBACK)
    assert address_is_allowed("::1", (ipaddress.ip_network("::1/128"),))
    assert address_is_allowed("10.1.2.3", (ipaddress.ip_network("10.0.0.0/8"),))
    assert not address_is_allowed("10.1.2.3", LOOPBACK)
    assert not address_is_allowed("192.168.1.1", LOOPBACK)


# --- URL rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://peer.example:70/_GET",
        "ftp://peer.example/",
        "dict://peer.example:11211/",
        "http://peer.example/",  # https only unless OURVOICE_SCHEME=http
    ],
)
def test_bad_schemes_are_refused(url):
    handler = Recorder()
    with pytest.raises(BadScheme):
        _client(handler).get(url)
    assert handler.requests == []


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@peer.example/", "https://user@peer.example/", "/relative", "https://"],
)
def test_bad_urls_are_refused(url):
    handler = Recorder()
    with pytest.raises(BadUrl):
        _client(handler).get(url)
    assert handler.requests == []


def test_http_is_allowed_in_http_mode(settings):
    settings.OURVOICE_SCHEME = "http"
    assert _client().get("http://peer.example/").status == 200


# --- Resolution is checked before anything is sent ------------------------------------------------


def test_public_host_is_fetched(settings):
    handler = Recorder({"https://peer.example/users/a": httpx.Response(200, content=b"{}")})
    dns = FakeDNS()
    result = _client(handler, dns).get("https://peer.example/users/a")
    assert result.status == 200
    assert result.ok
    assert result.content == b"{}"
    assert result.final_url == "https://peer.example/users/a"
    assert dns.lookups == ["peer.example"]
    [request] = handler.requests
    assert request.headers["user-agent"] == f"OURVoice/{settings.VERSION} (+https://testserver/)"
    assert request.headers["host"] == "peer.example"


@pytest.mark.parametrize(
    "addresses",
    [[PUBLIC_IP, "10.0.0.1"], ["127.0.0.1", PUBLIC_IP], ["2606:4700::1", "::1"], ["::"]],
)
def test_any_private_resolution_is_refused(addresses):
    handler = Recorder()
    with pytest.raises(ForbiddenAddress):
        _client(handler, FakeDNS({"mixed.example": addresses})).get("https://mixed.example/")
    assert handler.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://[::]/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://0.0.0.0:8000/",
    ],
)
def test_private_literals_are_refused_without_dns(url):
    handler, dns = Recorder(), FakeDNS()
    with pytest.raises(ForbiddenAddress):
        _client(handler, dns).get(url)
    assert handler.requests == []
    assert dns.lookups == []


def test_resolution_failure():
    with pytest.raises(ConnectionFailed):
        _client(dns=FakeDNS()).get("https://nowhere.example/")
    with pytest.raises(ConnectionFailed):
        _client(dns=FakeDNS({"empty.example": []})).get("https://empty.example/")


def test_allowlist_from_settings(settings):
    dns = FakeDNS({"peer.test": ["127.0.0.1"]})
    with pytest.raises(ForbiddenAddress):
        _client(dns=dns).get("https://peer.test/")
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = LOOPBACK
    assert _client(dns=dns).get("https://peer.test/").status == 200


# --- Redirects ----------------------------------------------------------------------------------


def _redirect(location: str, status: int = 302) -> httpx.Response:
    return httpx.Response(status, headers={"Location": location})


def test_redirects_are_followed_and_rechecked():
    handler = Recorder(
        {
            "https://peer.example/a": _redirect("/b", 301),
            "https://peer.example/b": _redirect("https://other.example/c", 307),
            "https://other.example/c": httpx.Response(200, content=b"done"),
        }
    )
    dns = FakeDNS({"other.example": ["8.8.4.4"]})
    result = _client(handler, dns).get("https://peer.example/a")
    assert result.content == b"done"
    assert result.final_url == "https://other.example/c"
    assert dns.lookups == ["peer.example", "peer.example", "other.example"]


@pytest.mark.parametrize(
    "location",
    [
        "https://internal.example/admin",
        "https://127.0.0.1/",
        "https://[::]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[64:ff9b::a9fe:a9fe]/",
    ],
)
def test_redirect_to_private_address_is_refused(location):
    handler = Recorder(
        {
            "https://peer.example/a": _redirect("https://peer.example/b"),
            "https://peer.example/b": _redirect(location),
        }
    )
    with pytest.raises(ForbiddenAddress):
        _client(handler, FakeDNS({"internal.example": ["10.0.0.5"]})).get("https://peer.example/a")
    assert [str(r.url) for r in handler.requests] == [
        "https://peer.example/a",
        "https://peer.example/b",
    ]


def test_too_many_redirects():
    handler = Recorder({f"https://peer.example/{i}": _redirect(f"/{i + 1}") for i in range(10)})
    with pytest.raises(TooManyRedirects):
        _client(handler).get("https://peer.example/0")
    assert len(handler.requests) == 6  # the original request and five redirects
    handler.requests.clear()
    assert _client(handler).get("https://peer.example/5", max_redirects=10).status == 200


def test_https_to_http_downgrade_is_refused(settings):
    settings.OURVOICE_SCHEME = "http"
    handler = Recorder({"https://peer.example/a": _redirect("http://peer.example/a")})
    with pytest.raises(BadScheme):
        _client(handler).get("https://peer.example/a")
    assert len(handler.requests) == 1


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://peer.example/"])
def test_redirect_to_other_schemes_is_refused(location):
    handler = Recorder({"https://peer.example/a": _redirect(location)})
    with pytest.raises(BadScheme):
        _client(handler).get("https://peer.example/a")


def test_redirect_with_credentials_is_refused():
    handler = Recorder({"https://peer.example/a": _redirect("https://u:p@peer.example/")})
    with pytest.raises(BadUrl):
        _client(handler).get("https://peer.example/a")


def test_post_does_not_follow_redirects_by_default():
    handler = Recorder({"https://peer.example/inbox": _redirect("https://peer.example/x", 308)})
    result = _client(handler).post("https://peer.example/inbox", content=b"{}")
    assert result.status == 308
    assert len(handler.requests) == 1


def test_redirect_drops_request_specific_headers_and_re_signs():
    handler = Recorder({"https://peer.example/a": _redirect("https://other.example/b")})
    dns = FakeDNS({"other.example": ["8.8.4.4"]})
    calls = []

    def signer(method, url, headers, body):
        calls.append(url)
        return {"Signature": f"signed {url}"}

    _client(handler, dns).get(
        "https://peer.example/a",
        headers={"Authorization": "Bearer x", "Accept": "application/activity+json"},
        signer=signer,
    )
    assert calls == ["https://peer.example/a", "https://other.example/b"]
    first, second = handler.requests
    assert first.headers["authorization"] == "Bearer x"
    assert "authorization" not in second.headers
    assert second.headers["signature"] == "signed https://other.example/b"
    assert second.headers["accept"] == "application/activity+json"


def test_303_after_post_becomes_get():
    handler = Recorder({"https://peer.example/inbox": _redirect("/done", 303)})
    result = _client(handler).post(
        "https://peer.example/inbox", content=b"{}", follow_redirects=True
    )
    assert result.status == 200
    assert [r.method for r in handler.requests] == ["POST", "GET"]
    assert handler.requests[1].content == b""


# --- Size cap and deadlines -------------------------------------------------------------------


def test_body_over_cap_is_refused():
    big = httpx.Response(200, content=b"x" * 2048)
    with pytest.raises(TooLarge):
        _client(Recorder({"https://peer.example/": big})).get(
            "https://peer.example/", max_bytes=1024
        )


def test_streamed_body_over_cap_without_length():
    def stream():
        for _ in range(100):
            yield b"x" * 100_000

    big = httpx.Response(200, content=stream())
    with pytest.raises(TooLarge):
        _client(Recorder({"https://peer.example/": big})).get("https://peer.example/")


def test_head_with_a_large_length_is_fine():
    head = httpx.Response(200, headers={"Content-Length": str(10 * 1024 * 1024)})
    result = _client(Recorder({"https://peer.example/": head})).request(
        "HEAD", "https://peer.example/"
    )
    assert result.status == 200


def test_body_at_cap_is_fine():
    body = httpx.Response(200, content=b"x" * 1024)
    result = _client(Recorder({"https://peer.example/": body})).get(
        "https://peer.example/", max_bytes=1024
    )
    assert len(result.content) == 1024


class SlowStream(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        for _ in range(1000):
            time.sleep(0.02)
            yield b"x"


def test_slow_response_hits_the_total_deadline():
    slow = httpx.Response(200, stream=SlowStream())
    started = time.monotonic()
    with pytest.raises(Timeout):
        _client(Recorder({"https://peer.example/": slow})).get(
            "https://peer.example/", total_timeout=0.3
        )
    assert time.monotonic() - started < 2


def test_transport_errors_are_mapped():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(Timeout):
        _client(timeout).get("https://peer.example/")
    with pytest.raises(ConnectionFailed):
        _client(refused).get("https://peer.example/")
    assert issubclass(Timeout, FetchError)


# --- Module helpers and pytest-httpx ------------------------------------------------------------


def test_safe_get_and_post_with_injected_parts():
    handler = Recorder()
    dns = FakeDNS()
    transport = httpx.MockTransport(handler)
    assert safe_get("https://peer.example/a", transport=transport, resolver=dns).status == 200
    result = safe_post(
        "https://peer.example/inbox",
        content=b"{}",
        headers={"Content-Type": "application/activity+json"},
        transport=transport,
        resolver=dns,
    )
    assert result.status == 200
    assert handler.requests[1].content == b"{}"
    with pytest.raises(ForbiddenAddress):
        safe_get("https://127.0.0.1/", transport=transport, resolver=dns)


def test_pytest_httpx_intercepts_the_default_transport(httpx_mock):
    httpx_mock.add_response(url="https://peer.example/users/a", json={"id": "a"})
    client = SafeClient(resolver=FakeDNS())
    result = client.get("https://peer.example/users/a")
    assert result.status == 200
    assert result.content == b'{"id":"a"}'
    with pytest.raises(ForbiddenAddress):
        client.get("https://[::ffff:7f00:1]/")


def test_default_client_with_stubbed_dns_and_pytest_httpx(httpx_mock, monkeypatch):
    """The pattern for other tests: stub `system_resolver`, mock responses with pytest-httpx."""
    monkeypatch.setattr(core_http, "system_resolver", FakeDNS({"evil.example": ["10.1.1.1"]}))
    httpx_mock.add_response(url="https://peer.example/.well-known/nodeinfo", json={"links": []})
    assert safe_get("https://peer.example/.well-known/nodeinfo").status == 200
    with pytest.raises(ForbiddenAddress):
        safe_get("https://evil.example/")


def test_default_client_is_one_per_thread():
    mine = core_http.default_client()
    assert core_http.default_client() is mine
    other = []
    thread = threading.Thread(target=lambda: other.append(core_http.default_client()))
    thread.start()
    thread.join()
    assert other[0] is not mine


# --- Real sockets on loopback -------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
            return
        body = f"host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def _serve(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_server() -> Iterator[int]:
    with _serve() as port:
        yield port


def test_loopback_is_refused_by_default(loopback_server, settings):
    settings.OURVOICE_SCHEME = "http"
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = ()
    with pytest.raises(ForbiddenAddress):
        safe_get(f"http://127.0.0.1:{loopback_server}/")


def test_loopback_is_allowed_when_listed(loopback_server, settings):
    settings.OURVOICE_SCHEME = "http"
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = LOOPBACK
    result = safe_get(f"http://127.0.0.1:{loopback_server}/")
    assert result.status == 200
    assert result.content == f"host=127.0.0.1:{loopback_server}".encode()


def test_connection_is_pinned_to_the_vetted_address(loopback_server, settings, no_system_dns):
    """The name is resolved once, by our resolver; the socket goes to that IP, Host stays."""
    settings.OURVOICE_SCHEME = "http"
    dns = FakeDNS({"peer.test": ["127.0.0.1"]})
    client = SafeClient(resolver=dns, allowed_networks=LOOPBACK)
    result = client.get(f"http://peer.test:{loopback_server}/")
    assert result.content == f"host=peer.test:{loopback_server}".encode()
    assert dns.lookups == ["peer.test"]
    client.close()


def test_backend_vets_unpinned_connections(loopback_server):
    backend = core_http._PinnedBackend()
    with pytest.raises(ForbiddenAddress):
        backend.connect_tcp("127.0.0.1", loopback_server)


def test_real_slow_response_hits_the_total_deadline(loopback_server, settings):
    settings.OURVOICE_SCHEME = "http"
    client = SafeClient(allowed_networks=LOOPBACK)
    started = time.monotonic()
    with pytest.raises(Timeout):
        client.get(f"http://127.0.0.1:{loopback_server}/slow", total_timeout=0.5)
    assert time.monotonic() - started < 3
    client.close()


def _tls_contexts(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a server certificate for `hostname` (TEST ONLY)."""
    now = datetime.datetime.now(tz=datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OUR Voice test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.NamedTemporaryFile() as chain:
        chain.write(cert_pem + key_pem)
        chain.flush()
        server.load_cert_chain(chain.name)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


def test_tls_to_a_pinned_address_verifies_the_hostname(no_system_dns):
    server_tls, client_tls = _tls_contexts("peer.test")
    with _serve(server_tls) as port:
        dns = FakeDNS({"peer.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})
        client = SafeClient(resolver=dns, allowed_networks=LOOPBACK, ssl_context=client_tls)
        # SNI and certificate check use the name while the socket goes to the pinned IP.
        result = client.get(f"https://peer.test:{port}/")
        assert result.content == f"host=peer.test:{port}".encode()
        # The certificate is really checked: another name on the same IP fails.
        with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://wrong.test:{port}/")
        with pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://127.0.0.1:{port}/")
        client.close()
