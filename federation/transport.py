"""A thin keep-alive HTTP/1.1 sender for deliveries: POST a body, read the status, keep the socket.

`federation.delivery` sends every signed POST through one `DeliverySender` per worker process
(`delivery.delivery_client`). httpx cost about two RSA signatures of client CPU per request
(performance.md §2.3); deliveries need far less: one request line, a few headers, a status and a
body to throw away. The same guards as `ourvoice.core.http.SafeClient` apply (federation.md §5):

- only `https`, and `http` when `OURVOICE_SCHEME=http`; no credentials in the URL;
- the host is resolved here (answers cached for `RESOLVER_TTL`) and EVERY address must pass
  `ourvoice.core.http.vet_host` (global unicast, or inside `OURVOICE_ALLOWED_PRIVATE_ADDRESSES`);
  the socket connects to a vetted IP, never resolving the name again (no DNS rebinding);
- TLS through one shared `ssl.SSLContext` (`ourvoice.core.http.default_ssl_context`: certificate
  verification, SNI and the hostname check use the URL's host);
- connect 5 s, write 10 s, read 10 s per read, 30 s for the whole request;
- the response body is read and discarded up to `max_bytes` (Content-Length, chunked or
  close-delimited; 1xx responses skipped); a larger body is `TooLarge`, as with SafeClient;
- redirects are never followed: a 3xx is returned as a status like any other.

Connections: one pool per process, keyed by origin (scheme, host, port), at most
`MAX_IDLE_PER_HOST` idle sockets per origin and `MAX_POOLED_HOSTS` origins (least recently used
dropped first); requests send `Connection: keep-alive`, and a socket idle for `IDLE_TIMEOUT`
seconds is closed (a reaper thread runs while the pool holds sockets). A response with
`Connection: close`, an HTTP/1.0 response and a close-delimited body end the socket. A request
written to a pooled socket that fails before any response byte arrives (the peer closed the idle
connection) is sent again once on a new connection; every other failure is raised as the
`ourvoice.core.http` error the delivery code already classifies (`Timeout`, `ConnectionFailed`,
`ForbiddenAddress`, `BadUrl`, `TooLarge`).

No models, no settings of its own: the guard's settings are read through `ourvoice.core.http`.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import ipaddress
import os
import re
import resource
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from ourvoice.core import http as core_http
from ourvoice.core.http import (
    BadScheme,
    BadUrl,
    ConnectionFailed,
    FetchError,
    IPNetwork,
    Resolver,
    Timeout,
    TooLarge,
)

CONNECT_TIMEOUT = core_http.CONNECT_TIMEOUT
READ_TIMEOUT = core_http.READ_TIMEOUT
WRITE_TIMEOUT = core_http.WRITE_TIMEOUT
TOTAL_TIMEOUT = core_http.TOTAL_TIMEOUT
#: Idle pooled sockets are closed after this many seconds (Mastodon's RequestPool: 30 s).
IDLE_TIMEOUT = 30.0
#: Most origins with pooled sockets per process (Mastodon: 512 sites); fewer when the process's
#: open-file limit is low, so idle sockets never take more than a quarter of it.
MAX_POOLED_HOSTS = 2048
#: Idle sockets kept per origin (a delivery process sends one request at a time per thread).
MAX_IDLE_PER_HOST = 2
#: Largest response head (status line and headers) accepted.
MAX_HEAD_BYTES = 64 * 1024
#: Parsed inbox URLs kept per process.
TARGET_CACHE_SIZE = 16_384
#: How long a resolved host's addresses are reused (they are vetted again on every connect).
RESOLVER_TTL = 60.0

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")
# RFC 3986 characters a request target may carry as they are; the rest is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_PEER_CLOSED = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class _StaleConnection(Exception):
    """A pooled socket failed before any response byte: the peer had closed it."""


# --- Targets -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """An inbox URL checked and normalised once: what is signed is exactly what is sent."""

    url: str  # scheme://host[:port]/path?query, the URL to sign
    scheme: str
    host: str  # lower-case ASCII (IDNA) name or IP literal, without brackets
    port: int
    authority: str  # the Host header: host[:port], IPv6 in brackets, default port omitted
    request_target: str  # path?query as sent on the request line

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def target_parse(url: str, *, schemes: Iterable[str] | None = None) -> Target:
    """Check and normalise an absolute http(s) URL (BadScheme, BadUrl).

    `schemes` defaults to `ourvoice.core.http.allowed_schemes()`. The fragment is dropped and
    characters a request line cannot carry are percent-encoded (as httpx does). Results are
    cached per process (the same inboxes come back with every post).
    """
    if not isinstance(url, str):
        raise BadUrl("invalid URL: not a string")
    allowed = core_http.allowed_schemes() if schemes is None else frozenset(schemes)
    return _target_parse(url, allowed)


@functools.lru_cache(maxsize=TARGET_CACHE_SIZE)
def _target_parse(url: str, schemes: frozenset[str]) -> Target:
    if _UNSENDABLE.search(url):
        raise BadUrl("invalid URL: control characters or spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadUrl(f"invalid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise BadScheme(f"scheme {scheme!r} is not allowed")
    if scheme not in schemes:
        raise BadScheme(f"scheme {scheme!r} is not allowed")
    if parts.username is not None or parts.password is not None:
        raise BadUrl("credentials in URLs are not allowed")
    host = parts.hostname or ""
    if not host:
        raise BadUrl("URL has no host")
    if ":" in host:  # an IPv6 literal
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError as exc:
            raise BadUrl(f"invalid IPv6 address {host!r}") from exc
        shown = f"[{host}]"
    else:
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise BadUrl(f"invalid host name {host!r}") from exc
        if not _HOST_CHARS.fullmatch(host):
            raise BadUrl(f"invalid host name {host!r}")
        shown = host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        port = _DEFAULT_PORTS[scheme]
        authority = shown
    else:
        authority = f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    request_target = f"{path}?{quote(parts.query, safe=_QUERY_SAFE)}" if parts.query else path
    return Target(
        url=f"{scheme}://{authority}{request_target}",
        scheme=scheme,
        host=host,
        port=port,
        authority=authority,
        request_target=request_target,
    )


_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The current time as an HTTP `Date` value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] == now:
        return cached[1]
    value = email.utils.formatdate(now, usegmt=True)
    _date_cache = (now, value)
    return value


# --- DNS -----------------------------------------------------------------------------------------

_resolver_cache: dict[tuple[str, int], tuple[float, list[str]]] = {}
_resolver_lock = threading.Lock()


def cached_resolver(host: str, port: int) -> list[str]:
    """`ourvoice.core.http.system_resolver`, with answers kept for `RESOLVER_TTL` seconds.

    Only the lookup is cached; `vet_host` checks every address on every new connection.
    """
    key = (host, port)
    now = time.monotonic()
    hit = _resolver_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    addresses = list(core_http.system_resolver(host, port))
    with _resolver_lock:
        if len(_resolver_cache) > 10_000:
            _resolver_cache.clear()
        _resolver_cache[key] = (now + RESOLVER_TTL, addresses)
    return addresses


def resolver_cache_clear() -> None:
    with _resolver_lock:
        _resolver_cache.clear()


# --- Connections ---------------------------------------------------------------------------------


class _Connection:
    __slots__ = ("buffer", "idle_since", "origin", "sock", "timeout", "used")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin
        self.buffer = bytearray()
        self.idle_since = 0.0
        self.timeout: float | None = None
        self.used = 0  # completed requests

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def settimeout(self, seconds: float) -> None:
        if seconds != self.timeout:
            self.sock.settimeout(seconds)
            self.timeout = seconds

    def looks_closed(self) -> bool:
        """True if the idle socket is readable: the peer closed it (or sent stray bytes)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))


class Response(NamedTuple):
    """The outcome of one POST: the status code, and whether a pooled socket carried it."""

    status: int
    reused: bool


@dataclass
class SenderStats:
    """Counters for tests and benchmarks."""

    requests: int = 0
    connections: int = 0  # sockets opened
    retries: int = 0  # requests sent again after a stale pooled socket


def _pooled_hosts_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_POOLED_HOSTS
    return max(16, min(MAX_POOLED_HOSTS, soft // (4 * MAX_IDLE_PER_HOST)))


class DeliverySender:
    """Guarded keep-alive POSTs over a pool of sockets; safe to share between threads.

    Tests inject `resolver`, `allowed_networks` and `ssl_context`; without them the sender uses
    the cached system resolver, `OURVOICE_ALLOWED_PRIVATE_ADDRESSES` and the process's TLS
    context, like SafeClient.
    """

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        allowed_networks: Iterable[IPNetwork] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_hosts: int | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._resolver = resolver or cached_resolver
        self._allowed = tuple(allowed_networks) if allowed_networks is not None else None
        self._ssl_context = ssl_context
        self.max_hosts = max_hosts or _pooled_hosts_limit()
        self.idle_timeout = idle_timeout
        self.stats = SenderStats()
        self._pool: OrderedDict[tuple[str, str, int], list[_Connection]] = OrderedDict()
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._pid = os.getpid()

    # -- public -----------------------------------------------------------------------------------

    def post(
        self,
        target: Target | str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        max_bytes: int = core_http.MAX_BYTES,
        total_timeout: float = TOTAL_TIMEOUT,
    ) -> Response:
        """POST `body` with `headers` (Host, Content-Length and Connection are set here).

        Returns the final status (1xx skipped, redirects not followed). Raises the
        `ourvoice.core.http` errors: BadUrl/BadScheme, ForbiddenAddress, Timeout,
        ConnectionFailed, TooLarge; ValueError for a header that cannot be sent.
        """
        if not isinstance(target, Target):
            target = target_parse(target)
        deadline = time.monotonic() + total_timeout
        request = _request_bytes(target, headers, body)
        self.stats.requests += 1
        conn = self._checkout(target.origin)
        if conn is not None:
            try:
                return Response(self._exchange(conn, request, deadline, max_bytes), True)
            except _StaleConnection:
                self.stats.retries += 1  # the peer closed it while idle: once more, on a new one
        conn = self._connect(target, deadline)
        try:
            return Response(self._exchange(conn, request, deadline, max_bytes), False)
        except _StaleConnection as exc:  # pragma: no cover - only pooled sockets are stale
            raise ConnectionFailed(str(exc)) from exc

    def close(self) -> None:
        """Close every pooled socket; the sender stays usable."""
        with self._lock:
            pools = list(self._pool.values())
            self._pool.clear()
        for conns in pools:
            for conn in conns:
                conn.close()

    def idle_connections(self) -> int:
        with self._lock:
            return sum(len(conns) for conns in self._pool.values())

    def purge_idle(self, now: float | None = None) -> int:
        """Close sockets idle for longer than `idle_timeout`; returns how many."""
        now = time.monotonic() if now is None else now
        expired: list[_Connection] = []
        with self._lock:
            for origin in list(self._pool):
                conns = self._pool[origin]
                keep = [c for c in conns if now - c.idle_since < self.idle_timeout]
                if len(keep) != len(conns):
                    expired.extend(c for c in conns if c not in keep)
                    if keep:
                        self._pool[origin] = keep
                    else:
                        del self._pool[origin]
        for conn in expired:
            conn.close()
        return len(expired)

    # -- pool -------------------------------------------------------------------------------------

    def _checkout(self, origin: tuple[str, str, int]) -> _Connection | None:
        if self._pid != os.getpid():  # forked: the parent's sockets are not ours to use
            with self._lock:
                self._pool.clear()
                self._reaper = None
                self._pid = os.getpid()
        now = time.monotonic()
        while True:
            with self._lock:
                conns = self._pool.get(origin)
                if not conns:
                    return None
                conn = conns.pop()
                if not conns:
                    del self._pool[origin]
            if now - conn.idle_since < self.idle_timeout and not conn.looks_closed():
                return conn
            conn.close()

    def _checkin(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        dropped: list[_Connection] = []
        with self._lock:
            if self._pid != os.getpid():
                dropped.append(conn)
            else:
                conns = self._pool.get(conn.origin)
                if conns is None:
                    conns = self._pool[conn.origin] = []
                else:
                    self._pool.move_to_end(conn.origin)
                conns.append(conn)
                if len(conns) > MAX_IDLE_PER_HOST:
                    dropped.append(conns.pop(0))
                while len(self._pool) > self.max_hosts:
                    dropped.extend(self._pool.popitem(last=False)[1])
                if self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="delivery-pool-reaper", daemon=True
                    )
                    self._reaper.start()
        for old in dropped:
            old.close()

    def _reap(self) -> None:
        """Close idle sockets on time even when no request comes; ends when the pool is empty."""
        interval = max(self.idle_timeout / 3, 0.05)
        while True:
            time.sleep(interval)
            self.purge_idle()
            with self._lock:
                if not self._pool or self._reaper is not threading.current_thread():
                    if self._reaper is threading.current_thread():
                        self._reaper = None
                    return

    # -- connecting -------------------------------------------------------------------------------

    def _networks(self) -> tuple[IPNetwork, ...]:
        return self._allowed if self._allowed is not None else core_http.allowed_networks_setting()

    def _connect(self, target: Target, deadline: float) -> _Connection:
        addresses = core_http.vet_host(
            target.host, target.port, resolver=self._resolver, allowed_networks=self._networks()
        )
        error: FetchError | None = None
        for address in addresses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"total deadline passed while connecting to {target.authority}")
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(min(CONNECT_TIMEOUT, left))
                sock.connect((address, target.port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except TimeoutError:
                sock.close()
                error = Timeout(f"connect to {target.authority} ({address}) timed out")
                continue
            except OSError as exc:
                sock.close()
                error = ConnectionFailed(f"connect to {target.authority} ({address}): {exc}")
                continue
            if target.scheme == "https":
                context = self._ssl_context or core_http.default_ssl_context()
                try:
                    sock = context.wrap_socket(sock, server_hostname=target.host)
                except TimeoutError as exc:
                    sock.close()
                    raise Timeout(f"TLS handshake with {target.authority} timed out") from exc
                except (OSError, ssl.SSLError, ValueError) as exc:
                    sock.close()
                    raise ConnectionFailed(f"TLS with {target.authority}: {exc}") from exc
            self.stats.connections += 1
            return _Connection(sock, target.origin)
        assert error is not None
        raise error

    # -- one exchange -----------------------------------------------------------------------------

    def _exchange(self, conn: _Connection, request: bytes, deadline: float, max_bytes: int) -> int:
        """Write the request, read the response; check the socket back in or close it."""
        reused = conn.used > 0
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("total deadline passed before sending")
            conn.settimeout(min(WRITE_TIMEOUT, left))
            try:
                conn.sock.sendall(request)
            except _PEER_CLOSED as exc:
                if reused:
                    raise _StaleConnection(f"{type(exc).__name__}: {exc}") from exc
                raise
            status, keep = _read_response(conn, deadline, max_bytes, reused=reused)
        except (_StaleConnection, FetchError):
            conn.close()
            raise
        except TimeoutError as exc:
            conn.close()
            scheme, host, port = conn.origin
            raise Timeout(f"no answer in time from {scheme}://{host}:{port}") from exc
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        conn.used += 1
        if keep and not conn.buffer:
            self._checkin(conn)
        else:
            conn.close()
        return status


def _request_bytes(target: Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = [f"POST {target.request_target} HTTP/1.1\r\nHost: {target.authority}\r\n"]
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("host", "content-length", "connection", "transfer-encoding"):
            continue
        if "\r" in value or "\n" in value or "\0" in value or ":" in name or "\n" in name:
            raise ValueError(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return "".join(lines).encode("latin-1") + body


# --- Reading a response --------------------------------------------------------------------------


def _recv(conn: _Connection, deadline: float) -> bytes:
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout("total deadline passed while reading the response")
    conn.settimeout(min(READ_TIMEOUT, left))
    return conn.sock.recv(65536)


def _fill(conn: _Connection, deadline: float) -> None:
    data = _recv(conn, deadline)
    if not data:
        raise ConnectionFailed("connection closed before the response was complete")
    conn.buffer += data


def _read_head(conn: _Connection, deadline: float, *, reused: bool) -> bytes:
    buffer = conn.buffer
    searched = 0
    while True:
        end = buffer.find(b"\r\n\r\n", searched)
        if end >= 0:
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            return head
        if len(buffer) > MAX_HEAD_BYTES:
            raise ConnectionFailed("response head too large")
        searched = max(0, len(buffer) - 3)
        first = reused and not buffer
        try:
            data = _recv(conn, deadline)
        except _PEER_CLOSED as exc:
            if first:
                raise _StaleConnection(f"{type(exc).__name__}: {exc}") from exc
            raise
        if not data:
            if first:
                raise _StaleConnection("closed by the peer before any response byte")
            raise ConnectionFailed("connection closed before a complete response head")
        buffer += data


def _read_response(
    conn: _Connection, deadline: float, max_bytes: int, *, reused: bool
) -> tuple[int, bool]:
    """(status, whether the socket may be reused); the body is read and discarded."""
    first = True
    while True:
        head = _read_head(conn, deadline, reused=reused and first)
        first = False
        status_line, _, header_block = head.partition(b"\r\n")
        version, _, rest = status_line.partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or not code.isdigit() or len(code) != 3:
            raise ConnectionFailed(f"not an HTTP/1.x response: {status_line[:80]!r}")
        status = int(code)
        if 100 <= status < 200:
            if status == 101:
                raise ConnectionFailed("unexpected protocol switch")
            continue  # 100 Continue, 103 Early Hints: the real response follows
        break
    length: int | None = None
    coded = chunked = False
    close = version == b"HTTP/1.0"
    for line in header_block.split(b"\r\n") if header_block else ():
        name, colon, value = line.partition(b":")
        if not colon:
            raise ConnectionFailed("malformed response header")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and int(value) != length):
                raise ConnectionFailed("invalid Content-Length")
            length = int(value)
        elif name == b"transfer-encoding":
            coded = True
            chunked = value.strip().lower().rsplit(b",", 1)[-1].strip() == b"chunked"
        elif name == b"connection" and b"close" in [t.strip().lower() for t in value.split(b",")]:
            close = True
    if status in (204, 304):
        return status, not close
    if chunked:  # a Transfer-Encoding overrides any Content-Length (RFC 9112 §6.3)
        _discard_chunked(conn, deadline, max_bytes)
    elif length is not None and not coded:
        if length > max_bytes:
            raise TooLarge(f"Content-Length {length} exceeds {max_bytes} bytes")
        _discard(conn, deadline, length)
    else:  # no length, or a coding other than chunked: the body ends with the connection
        _discard_to_eof(conn, deadline, max_bytes)
        return status, False
    return status, not close


def _discard(conn: _Connection, deadline: float, count: int) -> None:
    buffer = conn.buffer
    while count > 0:
        if not buffer:
            _fill(conn, deadline)
        take = min(count, len(buffer))
        del buffer[:take]
        count -= take


def _read_line(conn: _Connection, deadline: float) -> bytes:
    buffer = conn.buffer
    searched = 0
    while True:
        end = buffer.find(b"\r\n", searched)
        if end >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            return line
        if len(buffer) > MAX_HEAD_BYTES:
            raise ConnectionFailed("chunk header too long")
        searched = max(0, len(buffer) - 1)
        _fill(conn, deadline)


def _discard_chunked(conn: _Connection, deadline: float, max_bytes: int) -> None:
    total = 0
    while True:
        size_field = _read_line(conn, deadline).split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError as exc:
            raise ConnectionFailed("invalid chunk size") from exc
        if size < 0:
            raise ConnectionFailed("invalid chunk size")
        if size == 0:
            while _read_line(conn, deadline):  # trailers, up to the empty line
                pass
            return
        total += size
        if total > max_bytes:
            raise TooLarge(f"response body exceeds {max_bytes} bytes")
        _discard(conn, deadline, size)
        if _read_line(conn, deadline):
            raise ConnectionFailed("chunk not followed by CRLF")


def _discard_to_eof(conn: _Connection, deadline: float, max_bytes: int) -> None:
    total = len(conn.buffer)
    conn.buffer.clear()
    while True:
        if total > max_bytes:
            raise TooLarge(f"response body exceeds {max_bytes} bytes")
        data = _recv(conn, deadline)
        if not data:
            return
        total += len(data)
