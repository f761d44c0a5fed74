"""Domain policy: what admins decided about a remote domain, looked up cheaply and applied early.

Admins set an `Instance` row per remote domain in Django admin (`federation.admin`): suspend
(reject everything, never fetch from it, deliver nothing), silence (its accounts are hidden from
public timelines), reject media, reject reports. This module answers "may we talk to this
domain?" for the inbox, the fetcher and the inbound handlers, BEFORE any request is sent
(federation.md §5: apply the block list before any fetch; Mastodon CVE-2026-23961: also to the
authors of boosted or fetched objects).

A rule for a domain also covers its subdomains, as Mastodon's `DomainBlock.rule_for` does: the
most specific row among `a.b.example`, `b.example` and `example` wins, and a row for a bare host
covers every port of it (`127.0.0.1` covers `127.0.0.1:8001`).

Lookups are cached in the Django cache (Redis in production, cleared between tests) for
`POLICY_TTL` seconds and, outside transactions, in a per-process dict for `PROCESS_TTL`
seconds, so a change made in admin applies everywhere within their sum;
`policy_cache_clear(domain)` drops a domain's shared entry (and this process's copy) at once.

The per-domain inbox rate limit lives here too (`inbox_rate_check`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import logging
import math
import re
import threading
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from federation.jsonld import host_of
from federation.models import Instance
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)

#: Seconds an Instance lookup stays in the shared cache.
POLICY_TTL = 10
#: Seconds it stays in a process's own cache too (so a change applies everywhere within
#: POLICY_TTL + PROCESS_TTL seconds, or at once where `policy_cache_clear` ran).
PROCESS_TTL = 5
#: Inbox requests accepted per remote domain per window (only with OURVOICE_RATE_LIMITS).
INBOX_RATE_LIMIT = 300
#: Length of the rate-limit window, in seconds.
INBOX_RATE_WINDOW = 10

_DOMAIN = re.compile(r"(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")
_NO_ROW = 0  # cached marker for "no Instance row applies" (None means a cache miss)


class DomainBlocked(Exception):
    """The domain is suspended (or not a valid remote domain): refuse, fetch nothing (403)."""

    def __init__(self, domain: str, reason: str = "suspended") -> None:
        super().__init__(f"domain {domain!r} is {reason}")
        self.domain = domain


def domain_of(url_or_domain: str) -> str:
    """Normalised `host[:port]` of a URL or a bare domain (IDNA, lowercase, no trailing dot,
    default port dropped; Mastodon CVE-2023-42451). Raises ValueError for junk. A pure
    function of its argument, memoised (the inbox asks it for the same keyIds every time)."""
    if not isinstance(url_or_domain, str):
        raise ValueError("not a domain")
    return _domain_of(url_or_domain)


@functools.lru_cache(maxsize=4096)
def _domain_of(url_or_domain: str) -> str:
    value = (url_or_domain or "").strip()
    if not value:
        raise ValueError("empty domain")
    if "://" in value:
        return host_of(value)
    if "/" in value or "@" in value or any(ch.isspace() for ch in value):
        raise ValueError(f"not a domain: {value!r}")
    domain = normalize_domain(value)
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a domain: {value!r}")
    return domain


def _candidates(domain: str) -> list[str]:
    """`domain` and the parents whose rules cover it, most specific first."""
    host, port = domain, ""
    if domain.startswith("["):
        end = domain.find("]")
        host, port = domain[: end + 1], domain[end + 1 :].removeprefix(":")
    elif domain.count(":") == 1:
        host, _, port = domain.partition(":")
    out = [domain]
    if port:
        out.append(host)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        labels = host.split(".")
        out.extend(".".join(labels[i:]) for i in range(1, len(labels)))
    return list(dict.fromkeys(out))


def _cache_key(domain: str) -> str:
    digest = hashlib.blake2b(domain.encode("utf-8"), digest_size=12).hexdigest()
    return f"ov:policy:{digest}"


class ProcessCache:
    """A small per-process cache with a TTL, for the hottest lookups (the inbox's).

    Django's Redis cache client costs about 0.3 ms of CPU per call (it builds a new Redis
    client object each time), more than the inbox's signature check; this dict costs
    microseconds. It is consulted only outside transactions: code running in a transaction
    (workers' batches, and every test, which runs in a rolled-back transaction) reads through
    to the shared cache, which is the one tests clear and `policy_cache_clear` invalidates.
    """

    def __init__(self, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._data: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def usable() -> bool:
        return not connection.in_atomic_block

    def get(self, key: str) -> object | None:
        if not self.usable():
            return None
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, key: str, value: object) -> None:
        if not self.usable():
            return
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[key] = (time.monotonic() + self.ttl, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: Policies seen by this process (in front of the shared cache).
_local = ProcessCache(PROCESS_TTL)
#: Per-thread memo of one unit of work (`policy_memo`), usable inside transactions.
_memo = threading.local()


@contextlib.contextmanager
def policy_memo() -> Iterator[None]:
    """Remember every policy looked up until the block ends, transactions or not.

    For a worker's batch (a few seconds at most, shorter than POLICY_TTL): each domain is read
    once from the shared cache instead of once per activity and rule (a Redis round trip costs
    about 0.3 ms of CPU). `policy_cache_clear` empties it. Nested blocks share the outer memo.
    """
    if getattr(_memo, "data", None) is not None:
        yield
        return
    _memo.data = {}
    try:
        yield
    finally:
        _memo.data = None


def instance_for(domain: str) -> Instance | None:
    """The `Instance` row whose policy applies to `domain` (itself or a parent), or None.

    Cached (in this process for `PROCESS_TTL` seconds, in the shared cache for `POLICY_TTL`);
    treat the result as read-only. `domain` may be a URL.
    """
    try:
        normalised = domain_of(domain)
    except ValueError:
        return None
    key = _cache_key(normalised)
    memo: dict[str, object] | None = getattr(_memo, "data", None)
    cached = memo.get(key) if memo is not None else None
    if cached is None:
        cached = _local.get(key)
    if cached is None:
        cached = cache.get(key)
        if cached is None:
            candidates = _candidates(normalised)
            rows = {row.domain: row for row in Instance.objects.filter(domain__in=candidates)}
            found = next((rows[name] for name in candidates if name in rows), None)
            cached = found if found is not None else _NO_ROW
            cache.set(key, cached, POLICY_TTL)
        _local.set(key, cached)
    if memo is not None:
        memo[key] = cached
    return cached if isinstance(cached, Instance) else None


def policy_cache_clear(domain: str | None = None) -> None:
    """Forget the cached policy of `domain` (call after changing its Instance row); without a
    domain, forget this process's copies of every domain."""
    memo: dict[str, object] | None = getattr(_memo, "data", None)
    if memo is not None:
        memo.clear()
    if domain is None:
        _local.clear()
        return
    try:
        key = _cache_key(domain_of(domain))
    except ValueError:
        return
    _local.delete(key)
    cache.delete(key)


def _is_local(domain: str) -> bool:
    return domain == _normalized(settings.OURVOICE_DOMAIN)


@functools.lru_cache(maxsize=8)
def _normalized(domain: str) -> str:
    return normalize_domain(domain)


def domain_is_suspended(domain: str) -> bool:
    """True if `domain` (a domain or URL) is suspended: reject its traffic, fetch nothing."""
    instance = instance_for(domain)
    return instance is not None and instance.policy == Instance.Policy.SUSPEND


def domain_is_silenced(domain: str) -> bool:
    """True if `domain`'s accounts are hidden from public timelines."""
    instance = instance_for(domain)
    return instance is not None and instance.policy == Instance.Policy.SILENCE


def rejects_media(domain: str) -> bool:
    """True if media from `domain` must not be stored or shown (suspended implies it)."""
    instance = instance_for(domain)
    return instance is not None and (instance.reject_media or instance.is_suspended)


def rejects_reports(domain: str) -> bool:
    """True if Flags from `domain` are dropped (suspended implies it)."""
    instance = instance_for(domain)
    return instance is not None and (instance.reject_reports or instance.is_suspended)


def check_domain_allowed(url_or_domain: str) -> str:
    """Return the normalised domain of `url_or_domain`, or raise DomainBlocked.

    Refuses suspended domains and anything that is not a valid http(s) URL or domain. Call it
    before every fetch from, and on every activity of, a remote domain. This server's own
    domain is always allowed.
    """
    try:
        domain = domain_of(url_or_domain)
    except ValueError as exc:
        raise DomainBlocked(str(url_or_domain)[:100], "not a valid domain") from exc
    if not _is_local(domain) and domain_is_suspended(domain):
        raise DomainBlocked(domain)
    return domain


# --- Inbox flood control ------------------------------------------------------------------------


def inbox_rate_check(domain: str) -> int:
    """Count one inbox request from `domain`; return 0, or the seconds to wait when over the limit.

    A fixed window of `INBOX_RATE_WINDOW` seconds allowing `INBOX_RATE_LIMIT` requests per
    domain, counted in the shared cache. Does nothing (returns 0) unless
    `settings.OURVOICE_RATE_LIMITS` is on.
    """
    if not settings.OURVOICE_RATE_LIMITS:
        return 0
    now = time.time()
    window = int(now // INBOX_RATE_WINDOW)
    key = f"ov:inbox-rate:{_cache_key(domain)}:{window}"
    cache.add(key, 0, INBOX_RATE_WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, INBOX_RATE_WINDOW * 2)
        count = 1
    if count <= INBOX_RATE_LIMIT:
        return 0
    retry_after = max(1, math.ceil((window + 1) * INBOX_RATE_WINDOW - now))
    if count == INBOX_RATE_LIMIT + 1:
        logger.warning("inbox rate limit hit domain=%s", domain)
    return retry_after
