"""The one outbound HTTP client: SSRF guard, pinned connections, timeouts and size caps.

Every request another server can make us send (actor, key and object fetches, WebFinger,
NodeInfo, deliveries, media, link previews) goes through `SafeClient` (federation.md §5):

- only `https` (and `http` when `OURVOICE_SCHEME=http`), no credentials in the URL;
- DNS is resolved here and EVERY resolved address must pass `address_is_allowed`: a global
  unicast address, or one inside `OURVOICE_ALLOWED_PRIVATE_ADDRESSES` (loopback tests);
- the connection is pinned to the vetted addresses: the transport's network backend connects to
  the IPs we checked (never resolving the name again), while TLS still sends SNI and verifies the
  certificate for the hostname, and connection pools stay keyed by hostname (no DNS rebinding);
- redirects are followed here, at most 5, each hop re-checked, never from https to http;
- connect 5 s / read 10 s / write 10 s, and a total deadline of 30 s enforced while the body
  streams (Mastodon CVE-2023-36461, slow-response DoS); bodies are capped (1 MiB by default).

One long-lived `httpx.Client` per thread (building one costs ~31 ms: performance.md §2.3).
Tests inject `transport=` (pytest-httpx or `httpx.MockTransport`) and `resolver=`; the address
check still runs before any request. Code that uses the default client under pytest-httpx must
stub DNS too: `monkeypatch.setattr(ourvoice.core.http, "system_resolver", fake)`.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: `resolver(host, port) -> addresses` (IP strings). Raise FetchError (or OSError) to fail.
Resolver = Callable[[str, int], Sequence[str]]
#: `signer(method, url, headers, body) -> headers to add`, called for every hop (re-signs after a
#: redirect, since a signature covers the host and path).
Signer = Callable[[str, str, Mapping[str, str], bytes | None], Mapping[str, str]]

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0
MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers that belong to one request target and must not follow a redirect.
_HOP_HEADERS = frozenset(
    {"host", "signature", "signature-input", "authorization", "cookie", "date", "digest"}
)


# --- Errors -------------------------------------------------------------------------------------


class FetchError(Exception):
    """Base class for every refused or failed outbound request."""


class BadUrl(FetchError):
    """Not an absolute URL we may fetch (no host, credentials in it...)."""


class BadScheme(BadUrl):
    """Scheme other than https (or http in http mode), or an https → http redirect."""


class ForbiddenAddress(FetchError):
    """The host resolves to a non-public address (SSRF guard)."""


class TooLarge(FetchError):
    """The response body exceeds the size cap."""


class Timeout(FetchError):
    """A phase timed out, or the total deadline passed."""


class TooManyRedirects(FetchError):
    """More redirects than allowed."""


class ConnectionFailed(FetchError):
    """DNS failure, refused connection, TLS or protocol error."""


# --- Address policy -----------------------------------------------------------------------------

_net = ipaddress.ip_network
_BLOCKED_V4 = tuple(
    _net(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # CGNAT shared address space
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)
_BLOCKED_V6 = tuple(
    _net(cidr)
    for cidr in (
        "::/128",  # unspecified (connects to loopback: Mastodon CVE-2026-46348)
        "::1/128",  # loopback
        "::/96",  # deprecated IPv4-compatible
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo
        "2001:2::/48",  # benchmarking
        "2001:10::/28",  # ORCHID
        "2001:20::/28",  # ORCHIDv2
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_MAPPED = _net("::ffff:0:0/96")
_SIX_TO_FOUR = _net("2002::/16")


def _public_v4(addr: ipaddress.IPv4Address) -> bool:
    if any(addr in net for net in _BLOCKED_V4):
        return False
    return addr.is_global and not (addr.is_multicast or addr.is_reserved or addr.is_private)


def _public(addr: IPAddress) -> bool:
    if isinstance(addr, ipaddress.IPv4Address):
        return _public_v4(addr)
    if addr.scope_id:
        return False
    # Addresses that embed an IPv4 address are judged by the embedded one.
    if addr in _MAPPED:
        mapped = addr.ipv4_mapped
        return mapped is not None and _public_v4(mapped)
    if addr in _SIX_TO_FOUR:
        embedded = addr.sixtofour
        return embedded is not None and _public_v4(embedded)
    if any(addr in net for net in _BLOCKED_V6):
        return False
    return addr.is_global and not (
        addr.is_multicast
        or addr.is_reserved
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_unspecified
        or addr.is_site_local
    )


def address_is_allowed(ip: str | IPAddress, allowed_networks: Iterable[IPNetwork] = ()) -> bool:
    """True if we may connect to `ip`: inside an allowed network, or a public unicast address.

    Refuses loopback, private, link-local, CGNAT, benchmarking, documentation, multicast,
    reserved, unspecified (`::`, `0.0.0.0/8`), broadcast, Teredo and NAT64, and judges
    IPv4-mapped and 6to4 addresses by the IPv4 address they embed.
    """
    try:
        addr = ip if not isinstance(ip, str) else ipaddress.ip_address(ip)
    except ValueError:
        return False
    for network in allowed_networks:
        if addr.version == network.version and addr in network:
            return True
    return _public(addr)


def allowed_networks_setting() -> tuple[IPNetwork, ...]:
    """The private networks `OURVOICE_ALLOWED_PRIVATE_ADDRESSES` opens (empty in production)."""
    return tuple(getattr(settings, "OURVOICE_ALLOWED_PRIVATE_ADDRESSES", ()))


# --- DNS ----------------------------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the system resolver; every address, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise ConnectionFailed(f"cannot resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def vet_host(
    host: str,
    port: int,
    *,
    resolver: Resolver | None = None,
    allowed_networks: Iterable[IPNetwork] | None = None,
) -> tuple[str, ...]:
    """Resolve `host` and return its addresses if EVERY one is allowed; else ForbiddenAddress."""
    networks = tuple(allowed_networks_setting() if allowed_networks is None else allowed_networks)
    literal = _literal(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            addresses = (resolver or system_resolver)(host, port)
        except FetchError:
            raise
        except (OSError, UnicodeError) as exc:
            raise ConnectionFailed(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise ConnectionFailed(f"{host} has no addresses")
    refused = [a for a in addresses if not address_is_allowed(a, networks)]
    if refused:
        raise ForbiddenAddress(f"{host} resolves to a forbidden address ({', '.join(refused)})")
    return tuple(str(ipaddress.ip_address(a)) for a in addresses)


# --- Pinned transport ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pins:
    """Vetted addresses for the request in flight, read by the network backend."""

    addresses: Mapping[tuple[str, int], tuple[str, ...]]
    resolver: Resolver | None
    allowed_networks: tuple[IPNetwork, ...]
    deadline: float


_pins: contextvars.ContextVar[_Pins | None] = contextvars.ContextVar("ourvoice_http_pins")


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the vetted IPs of a host instead of resolving its name again.

    httpcore calls `connect_tcp(hostname, port)`; TLS then uses the hostname for SNI and
    certificate checks, so only the TCP destination is pinned.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        pins = _pins.get(None)
        addresses = pins.addresses.get((host.lower(), port)) if pins is not None else None
        if addresses is None:
            # Not vetted by the caller (should not happen): vet now, with the same policy.
            addresses = vet_host(
                host,
                port,
                resolver=pins.resolver if pins is not None else None,
                allowed_networks=pins.allowed_networks if pins is not None else None,
            )
        deadline = pins.deadline if pins is not None else None
        error: Exception | None = None
        for address in addresses:
            budget = timeout
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise httpcore.ConnectTimeout("total deadline passed while connecting")
                budget = left if budget is None else min(budget, left)
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=budget,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise ForbiddenAddress("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport with our network backend (no proxies, no environment)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx does not expose the backend; rebuild its pool with the same settings plus ours.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("unexpected httpx transport internals; check the httpx version")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )


_SSL_CONTEXT: ssl.SSLContext | None = None
_SSL_LOCK = threading.Lock()


def default_ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process (certifi, or SSL_CERT_FILE for test CAs)."""
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = httpx.create_ssl_context()
        return _SSL_CONTEXT


# --- Client -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """A completed response (any status): the caller decides what a status means."""

    status: int
    headers: httpx.Headers
    content: bytes
    final_url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def user_agent() -> str:
    """The `User-Agent` of every outbound request."""
    return f"OURVoice/{settings.VERSION} (+{settings.OURVOICE_BASE_URL}/)"


def allowed_schemes() -> frozenset[str]:
    """`https`, plus `http` when `OURVOICE_SCHEME=http` (loopback deployments)."""
    if getattr(settings, "OURVOICE_SCHEME", "https") == "http":
        return frozenset({"http", "https"})
    return frozenset({"https"})


def _check_url(url: httpx.URL, previous: httpx.URL | None) -> tuple[str, int]:
    scheme = url.scheme
    if scheme not in allowed_schemes():
        raise BadScheme(f"scheme {scheme!r} is not allowed")
    if previous is not None and previous.scheme == "https" and scheme != "https":
        raise BadScheme("redirect from https to http refused")
    if url.userinfo:
        raise BadUrl("credentials in URLs are not allowed")
    host = url.raw_host.decode("ascii").lower()
    if not host:
        raise BadUrl("URL has no host")
    return host, url.port or _DEFAULT_PORTS[scheme]


def _parse_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BadUrl(f"invalid URL: {exc}") from exc
    if parsed.scheme and parsed.scheme not in _DEFAULT_PORTS:
        raise BadScheme(f"scheme {parsed.scheme!r} is not allowed")
    if not parsed.is_absolute_url:
        raise BadUrl("URL is not absolute")
    return parsed


class SafeClient:
    """The guarded client. Use `default_client()` (one per thread) unless injecting for tests."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
        allowed_networks: Iterable[IPNetwork] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self._resolver = resolver
        self._allowed = tuple(allowed_networks) if allowed_networks is not None else None
        if transport is None:
            transport = PinnedTransport(
                ssl_context=ssl_context or default_ssl_context(),
                limits=limits
                or httpx.Limits(
                    max_connections=100, max_keepalive_connections=20, keepalive_expiry=30
                ),
            )
        self._client = httpx.Client(transport=transport, trust_env=False, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, **kwargs: Any) -> FetchResult:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> FetchResult:
        return self.request("POST", url, **kwargs)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int = MAX_BYTES,
        total_timeout: float = TOTAL_TIMEOUT,
        follow_redirects: bool | None = None,
        max_redirects: int = MAX_REDIRECTS,
        signer: Signer | None = None,
    ) -> FetchResult:
        """Send one request, following redirects (GET/HEAD by default) with every guard on."""
        method = method.upper()
        if follow_redirects is None:
            follow_redirects = method in {"GET", "HEAD"}
        deadline = time.monotonic() + total_timeout
        networks = self._allowed if self._allowed is not None else allowed_networks_setting()
        base_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        current = _parse_url(url)
        previous: httpx.URL | None = None
        body = content
        redirects = 0
        while True:
            host, port = _check_url(current, previous)
            addresses = vet_host(host, port, resolver=self._resolver, allowed_networks=networks)
            request_headers = {"User-Agent": user_agent(), **base_headers}
            if signer is not None:
                request_headers.update(signer(method, str(current), request_headers, body))
            result = self._send(
                method,
                current,
                request_headers,
                body,
                pins=_Pins(
                    addresses={(host, port): addresses},
                    resolver=self._resolver,
                    allowed_networks=networks,
                    deadline=deadline,
                ),
                max_bytes=max_bytes,
                deadline=deadline,
                follow=follow_redirects,
            )
            location = result.headers.get("location")
            if not (follow_redirects and result.status in _REDIRECT_STATUSES and location):
                return result
            redirects += 1
            if redirects > max_redirects:
                raise TooManyRedirects(f"more than {max_redirects} redirects from {url}")
            previous, current = current, _parse_url(current.join(location))
            logger.debug("redirect %s %s -> %s", result.status, previous, current)
            if result.status == 303 or (result.status in {301, 302} and method == "POST"):
                method, body = "GET", None
                base_headers = {
                    k: v
                    for k, v in base_headers.items()
                    if k.lower() not in {"content-type", "content-length", "content-digest"}
                }
            base_headers = {k: v for k, v in base_headers.items() if k.lower() not in _HOP_HEADERS}

    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        pins: _Pins,
        max_bytes: int,
        deadline: float,
        follow: bool,
    ) -> FetchResult:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"total deadline passed before requesting {url}")
        timeout = httpx.Timeout(
            connect=min(CONNECT_TIMEOUT, left),
            read=min(READ_TIMEOUT, left),
            write=min(WRITE_TIMEOUT, left),
            pool=min(CONNECT_TIMEOUT, left),
        )
        token = _pins.set(pins)
        try:
            request = self._client.build_request(
                method, url, headers=headers, content=body, timeout=timeout
            )
            response = self._client.send(request, stream=True)
            try:
                if follow and response.status_code in _REDIRECT_STATUSES:
                    chunks: list[bytes] = []  # ignore redirect bodies
                else:
                    chunks = self._read(response, max_bytes=max_bytes, deadline=deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise Timeout(f"timed out: {url}") from exc
        except httpx.TooManyRedirects as exc:  # pragma: no cover - redirects are ours
            raise TooManyRedirects(str(exc)) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            _pins.reset(token)
        return FetchResult(
            status=response.status_code,
            headers=response.headers,
            content=b"".join(chunks),
            final_url=str(url),
        )

    @staticmethod
    def _read(response: httpx.Response, *, max_bytes: int, deadline: float) -> list[bytes]:
        declared = response.headers.get("content-length", "")
        is_head = response.request.method == "HEAD"  # HEAD announces a length but sends nothing
        if not is_head and declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"Content-Length {declared} exceeds {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        # The deadline is checked at chunk boundaries; one stalled read is bounded by the read
        # timeout, itself capped by the time left when the request started.
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"response body exceeds {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise Timeout("total deadline passed while reading the body")
            chunks.append(chunk)
        if time.monotonic() > deadline:
            raise Timeout("total deadline passed while reading the body")
        return chunks


_local = threading.local()


def default_client() -> SafeClient:
    """This thread's long-lived guarded client."""
    client: SafeClient | None = getattr(_local, "client", None)
    if client is None:
        client = SafeClient()
        _local.client = client
    return client


def safe_request(
    method: str,
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver | None = None,
    **kwargs: Any,
) -> FetchResult:
    """`SafeClient.request` on this thread's client (or a one-off client for injected parts)."""
    if transport is None and resolver is None:
        return default_client().request(method, url, **kwargs)
    client = SafeClient(transport=transport, resolver=resolver)
    try:
        return client.request(method, url, **kwargs)
    finally:
        if transport is None:
            client.close()  # an injected transport belongs to the caller


def safe_get(
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver | None = None,
    **kwargs: Any,
) -> FetchResult:
    """Guarded GET; see `SafeClient.request` for the keyword arguments."""
    return safe_request("GET", url, transport=transport, resolver=resolver, **kwargs)


def safe_post(
    url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver | None = None,
    **kwargs: Any,
) -> FetchResult:
    """Guarded POST (redirects not followed unless asked); see `SafeClient.request`."""
    return safe_request("POST", url, transport=transport, resolver=resolver, **kwargs)
