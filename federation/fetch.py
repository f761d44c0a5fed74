"""Dereferencing remote ActivityPub documents: signed GETs, validation, actors, keys, WebFinger.

Every fetch goes through `ourvoice.core.http` (SSRF guard with pinned addresses, redirects
re-checked, at most 5 of them, size and time caps) and is signed by our instance actor, so peers
in authorized-fetch mode (GoToSocial, bovine) answer (decisions.md, Core rule 5). The rules
(federation.md §3, §5):

- domain policy first: nothing is ever requested from a suspended domain (`FetchBlocked`);
- only `application/activity+json` or `application/ld+json; profile="…activitystreams"` bodies
  are accepted (Mastodon CVE-2024-23832 / GHSA-jhrq-qvrm-qr36: JSON uploaded as media on the
  victim's host), at most 1 MiB, and never a document with `@graph`/`@reverse`/`@included`;
- the document's `id` must equal the requested URL; if it does not but shares its origin, the
  declared `id` is fetched once and must then match (as Mastodon does); the final URL after
  redirects must be on the id's host;
- each request gets `REQUEST_TIMEOUT` seconds, a multi-step resolution `TOTAL_DEADLINE`.

Remote actors are stored with `accounts.services.remote_account_upsert` and refetched when older
than `ACTOR_STALE_AFTER`. Keys (`key_resolve`) are cached per keyId in the Account row and in a
process-level cache; a failing key is refetched at most once per `KEY_REFETCH_INTERVAL` per
keyId (Mastodon wraps the refresh in a Stoplight the same way), which handles key rotation.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation import policy
from federation.jsonld import UnsafeDocument, as_list, origin_of, reject_reshaping_keywords
from federation.policy import DomainBlocked
from federation.signatures import AP_ACCEPT, KeyUnavailable, sign_request
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_suspend, remote_account_upsert, system_actor_get
from ourvoice.core import http as core_http
from ourvoice.core.errors import Invalid, NotAllowed
from ourvoice.core.http import FetchResult
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)

#: Seconds one request may take, from connect to the last body byte.
REQUEST_TIMEOUT = 10.0
#: Seconds a multi-step resolution (WebFinger round trips, key → owner) may take in all.
TOTAL_DEADLINE = 30.0
#: Response bodies larger than this are refused.
MAX_DOCUMENT_BYTES = 1024 * 1024
#: A stored remote actor older than this is fetched again when resolved.
ACTOR_STALE_AFTER = timedelta(hours=24)
#: At most one fetch per keyId in this many seconds (the refetch after a failed verification).
KEY_REFETCH_INTERVAL = 300
#: How long a verified key stays in the process-level cache, in seconds.
KEY_CACHE_TTL = 600.0
KEY_CACHE_SIZE = 10_000

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
KEY_TYPES = frozenset({"Key", "CryptographicKey"})
AS_PROFILE = "https://www.w3.org/ns/activitystreams"
JRD_ACCEPT = "application/jrd+json, application/json;q=0.9"


# --- Errors -------------------------------------------------------------------------------------


class FetchRefused(Exception):
    """The document was refused for good: SSRF guard, bad URL, too large, wrong content type,
    id mismatch, a 4xx answer, not the expected kind of document. Retrying will not help."""

    transient = False


class FetchTransient(core_http.FetchError):
    """A temporary failure worth retrying later: timeout, connection error, a 5xx/408/429
    answer, the resolution deadline. Deliberately NOT a FetchRefused (callers that drop an
    activity on FetchRefused let this one propagate, so the inbox item is retried); it is an
    `ourvoice.core.http.FetchError`, like the transport errors it wraps."""

    transient = True


class FetchGone(FetchRefused):
    """The remote server answered 410 Gone (the object or actor was deleted)."""


class FetchBlocked(FetchRefused, DomainBlocked):
    """The domain is suspended: nothing was requested (also a `policy.DomainBlocked`)."""


# --- Helpers ------------------------------------------------------------------------------------


def _check_allowed(url: str) -> str:
    try:
        return policy.check_domain_allowed(url)
    except FetchBlocked:
        raise
    except DomainBlocked as exc:
        raise FetchBlocked(exc.domain) from exc


def _is_local(url: str) -> bool:
    try:
        return origin_of(url) == origin_of(settings.OURVOICE_BASE_URL)
    except ValueError:
        return False


def _without_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _host(url: str) -> str:
    return origin_of(url).split("://", 1)[1]


_instance_key: tuple[str, str] | None = None
_instance_key_lock = threading.Lock()


def _instance_signing_key() -> tuple[str, str]:
    """(key id, private PEM) of our instance actor, read once per process."""
    global _instance_key
    with _instance_key_lock:
        if _instance_key is None:
            actor = system_actor_get(role=Account.Role.INSTANCE)
            _instance_key = (actor.key_id, actor.private_key_pem)
        return _instance_key


def is_activity_content_type(value: str) -> bool:
    """True for `application/activity+json` or `application/ld+json` with the AS2 profile."""
    media, _, rest = (value or "").partition(";")
    media = media.strip().lower()
    if media == "application/activity+json":
        return True
    if media != "application/ld+json":
        return False
    for param in rest.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "profile" and AS_PROFILE in raw.strip().strip('"').split():
            return True
    return False


# --- Requests -----------------------------------------------------------------------------------


def signed_get(
    url: str, *, accept: str = AP_ACCEPT, timeout: float = REQUEST_TIMEOUT
) -> FetchResult:
    """GET `url` signed by the instance actor (every redirect hop is signed again).

    Checks the domain policy before anything is sent (FetchBlocked). Transport failures raise
    FetchTransient (timeouts, connection errors) or FetchRefused (SSRF guard, bad URL, too
    large, too many redirects). Any HTTP status is returned as is.
    """
    _check_allowed(url)
    key_id, private_pem = _instance_signing_key()

    def signer(method: str, hop_url: str, headers: Any, body: bytes | None) -> dict[str, str]:
        return sign_request(
            method=method,
            url=hop_url,
            headers={"Accept": accept},
            body=None,
            key_id=key_id,
            private_key_pem=private_pem,
        )

    try:
        return core_http.safe_get(
            url,
            headers={"Accept": accept},
            signer=signer,
            total_timeout=timeout,
            max_bytes=MAX_DOCUMENT_BYTES,
        )
    except (core_http.Timeout, core_http.ConnectionFailed) as exc:
        raise FetchTransient(f"{type(exc).__name__}: {exc}") from exc
    except (core_http.FetchError, ValueError) as exc:
        raise FetchRefused(f"{type(exc).__name__}: {exc}") from exc


def _raise_for_status(result: FetchResult, url: str) -> None:
    if result.ok:
        return
    if result.status == 410:
        raise FetchGone(f"{url} is gone (410)")
    if result.status in {408, 429} or result.status >= 500:
        raise FetchTransient(f"{url} answered {result.status}")
    raise FetchRefused(f"{url} answered {result.status}")


def _fetch_document(url: str, *, refetch_allowed: bool) -> dict[str, Any]:
    result = signed_get(url)
    _raise_for_status(result, url)
    if not is_activity_content_type(result.content_type):
        raise FetchRefused(f"{url} is not an ActivityPub document ({result.content_type[:80]!r})")
    try:
        document = orjson.loads(result.content)
    except orjson.JSONDecodeError as exc:
        raise FetchRefused(f"{url} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise FetchRefused(f"{url} is not a JSON object")
    try:
        reject_reshaping_keywords(document)
    except UnsafeDocument as exc:
        raise FetchRefused(f"{url}: {exc}") from exc
    declared = document.get("id")
    if not isinstance(declared, str) or not declared:
        raise FetchRefused(f"{url} has no id")
    if declared != url:
        try:
            same = origin_of(declared) == origin_of(url)
        except ValueError:
            same = False
        if refetch_allowed and same:
            logger.debug("fetched id differs, fetching the declared id url=%s id=%s", url, declared)
            return _fetch_document(declared, refetch_allowed=False)
        raise FetchRefused(f"{url} declares another id ({declared[:200]})")
    try:
        if _host(result.final_url) != _host(declared):
            raise FetchRefused(f"{url} was served from another host ({result.final_url})")
    except ValueError as exc:
        raise FetchRefused(f"{url}: bad final URL") from exc
    return document


def object_fetch(uri: str) -> dict[str, Any]:
    """Fetch and validate the ActivityPub document `uri` names (its fragment is dropped).

    Domain policy is checked before any request. The result's `id` equals the fetched URL
    (possibly the declared id of the first answer, when that shares the URL's origin). Raises
    FetchBlocked, FetchGone or FetchRefused (for good), or FetchTransient (retry later).
    """
    if not isinstance(uri, str):
        raise FetchRefused("not a URL")
    try:
        origin_of(uri)
    except ValueError as exc:
        raise FetchRefused(f"not an http(s) URL: {uri[:200]!r}") from exc
    return _fetch_document(_without_fragment(uri), refetch_allowed=True)


# --- Actors -------------------------------------------------------------------------------------


def _first_url(value: Any, *, prefer_html: bool = False) -> str:
    """An http(s) URL from a string, Link/Image object or list (text/html first if asked)."""
    candidates: list[tuple[int, str]] = []
    for item in as_list(value):
        href: Any = item
        media = ""
        if isinstance(item, dict):
            href = item.get("href", item.get("url"))
            media = str(item.get("mediaType", ""))
            if isinstance(href, (dict, list)):
                href = _first_url(href)
        if isinstance(href, str) and href.startswith(("https://", "http://")):
            rank = 0 if (not prefer_html or media.startswith("text/html")) else 1
            candidates.append((rank, href))
    candidates.sort(key=lambda pair: pair[0])
    return candidates[0][1] if candidates else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _type_of(document: dict[str, Any]) -> str:
    for kind in as_list(document.get("type")):
        if isinstance(kind, str):
            return kind
    return ""


def _published(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment if moment <= timezone.now() + timedelta(days=1) else None


def _public_key(document: dict[str, Any], actor_id: str, key_id: str | None) -> tuple[str, str]:
    """(key id, PEM) of the actor's key owned by `actor_id` (the one named `key_id` if given)."""
    found: list[tuple[str, str]] = []
    for key in as_list(document.get("publicKey")):
        if not isinstance(key, dict):
            continue
        kid, owner, pem = key.get("id"), key.get("owner"), key.get("publicKeyPem")
        if not (isinstance(kid, str) and isinstance(pem, str) and pem.strip()):
            continue
        if owner != actor_id:  # the key must name this actor as its owner
            continue
        try:
            if origin_of(kid) != origin_of(actor_id):
                continue
        except ValueError:
            continue
        found.append((kid, pem))
    if key_id is not None:
        for pair in found:
            if pair[0] == key_id:
                return pair
    # Without a match keep the actor's own first key: a request naming a bogus key id of a
    # real actor must not wipe that actor's stored key.
    return found[0] if found else ("", "")


def _attachment_fields(value: Any) -> list[dict[str, str]]:
    return [
        {"name": _text(item.get("name")), "value": _text(item.get("value"))}
        for item in as_list(value)
        if isinstance(item, dict) and item.get("type") == "PropertyValue"
    ]


def actor_from_document(document: dict[str, Any], *, key_id: str | None = None) -> Account:
    """Store (create or update) the remote actor a FETCHED, validated document describes.

    Precondition: `document` came from `object_fetch` (its `id` is the URL it was served
    from). Checks the type, the domain policy and the key ownership; the account's domain is
    the normalised host[:port] of its id. When `key_id` is given that key is the one stored.
    Raises FetchRefused (not an actor, unusable fields) or FetchBlocked.
    """
    actor_id = document.get("id")
    if not isinstance(actor_id, str) or _is_local(actor_id):
        raise FetchRefused("not a remote actor id")
    kind = _type_of(document)
    if kind not in ACTOR_TYPES:
        raise FetchRefused(f"{actor_id} is a {kind or 'untyped object'}, not an actor")
    domain = _check_allowed(actor_id)
    inbox = _first_url(document.get("inbox"))
    if not inbox:
        raise FetchRefused(f"{actor_id} has no inbox")
    endpoints = document.get("endpoints")
    shared_inbox = _first_url(endpoints.get("sharedInbox")) if isinstance(endpoints, dict) else ""
    found_key_id, pem = _public_key(document, actor_id, key_id)
    media_rejected = policy.rejects_media(domain)
    try:
        return remote_account_upsert(
            uri=actor_id,
            username=_text(document.get("preferredUsername")),
            domain=domain,
            kind=kind,
            display_name=_text(document.get("name")),
            note=_text(document.get("summary")),
            fields=_attachment_fields(document.get("attachment")),
            url=_first_url(document.get("url"), prefer_html=True),
            avatar_url="" if media_rejected else _first_url(document.get("icon")),
            header_url="" if media_rejected else _first_url(document.get("image")),
            inbox_uri=inbox,
            shared_inbox_uri=shared_inbox,
            outbox_uri=_first_url(document.get("outbox")),
            followers_uri=_first_url(document.get("followers")),
            following_uri=_first_url(document.get("following")),
            featured_uri=_first_url(document.get("featured")),
            key_id=found_key_id,
            public_key_pem=pem,
            locked=document.get("manuallyApprovesFollowers") is True,
            bot=kind in {"Service", "Application"},
            discoverable=document.get("discoverable") is True,
            indexable=document.get("indexable") is True,
            created_at=_published(document.get("published")),
            silenced=policy.domain_is_silenced(domain),
        )
    except (Invalid, NotAllowed) as exc:
        raise FetchRefused(f"{actor_id}: {exc}") from exc


def _fresh(account: Account) -> bool:
    seen = account.fetched_at or account.updated_at
    return seen is not None and timezone.now() - seen < ACTOR_STALE_AFTER


def actor_resolve(uri: str, *, refresh: bool = False) -> Account:
    """The Account of actor `uri`: the stored one while fresh, else fetched and stored.

    Refetches when the stored copy is older than `ACTOR_STALE_AFTER` or `refresh` is set
    (an `Update` of the actor: never trust the payload, fetch it). Local ids resolve to local
    accounts without any request. A 410 marks a stored actor suspended (deleted at its origin)
    and raises FetchGone. When a refetch of a stale (not `refresh`) actor fails, the stored copy
    is returned. Raises FetchBlocked for suspended domains, FetchTransient for failures worth
    retrying, FetchRefused otherwise.
    """
    if not isinstance(uri, str):
        raise FetchRefused("not a URL")
    if _is_local(uri):
        local = Account.objects.filter(uri=uri, domain="").first()
        if local is None:
            raise FetchRefused(f"no local actor {uri}")
        return local
    _check_allowed(uri)
    existing = Account.objects.filter(uri=uri).first()
    if existing is not None and not refresh and _fresh(existing):
        return existing
    try:
        document = object_fetch(uri)
    except FetchGone:
        if existing is not None and not existing.is_suspended:
            logger.info("remote actor gone account_id=%s uri=%s", existing.id, uri)
            account_suspend(account=existing)
        raise
    except FetchBlocked:
        raise
    except (FetchRefused, FetchTransient) as exc:
        if existing is not None and not refresh:
            logger.warning("actor refetch failed, using the stored copy uri=%s error=%s", uri, exc)
            return existing
        raise
    return actor_from_document(document)


# --- WebFinger ----------------------------------------------------------------------------------

_LRDD = re.compile(r"<Link\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _parse_acct(acct: str) -> tuple[str, str]:
    value = (acct or "").strip().removeprefix("acct:").removeprefix("@")
    username, at, domain = value.partition("@")
    if not username or not at or not domain or "@" in domain or "/" in domain:
        raise FetchRefused(f"not an account address: {acct[:200]!r}")
    if any(ch.isspace() for ch in value) or len(value) > 512:
        raise FetchRefused("not an account address")
    try:
        return username, policy.domain_of(domain)
    except ValueError as exc:
        raise FetchRefused(f"not a valid domain: {domain[:200]!r}") from exc


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchTransient("resolution deadline passed")
    return min(REQUEST_TIMEOUT, left)


def _unsigned_get(url: str, accept: str, deadline: float) -> FetchResult:
    _check_allowed(url)
    timeout = _remaining(deadline)
    try:
        return core_http.safe_get(
            url, headers={"Accept": accept}, total_timeout=timeout, max_bytes=256 * 1024
        )
    except (core_http.Timeout, core_http.ConnectionFailed) as exc:
        raise FetchTransient(f"{type(exc).__name__}: {exc}") from exc
    except (core_http.FetchError, ValueError) as exc:
        raise FetchRefused(f"{type(exc).__name__}: {exc}") from exc


def _lrdd_template(domain: str, deadline: float) -> str | None:
    """The WebFinger URL template host-meta announces (Mastodon's fallback on a 404)."""
    url = f"{settings.OURVOICE_SCHEME}://{domain}/.well-known/host-meta"
    result = _unsigned_get(url, "application/xrd+xml, application/xml", deadline)
    if not result.ok:
        return None
    text = result.content.decode("utf-8", "replace")
    for tag in _LRDD.findall(text):
        attrs = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _ATTR.finditer(tag)}
        if attrs.get("rel") == "lrdd" and "{uri}" in attrs.get("template", ""):
            return attrs["template"]
    return None


def _webfinger(username: str, domain: str, deadline: float) -> str:
    """The `self` actor id WebFinger gives for acct:username@domain."""
    resource = f"acct:{username}@{domain}"
    url = f"{settings.OURVOICE_SCHEME}://{domain}/.well-known/webfinger?" + urlencode(
        {"resource": resource}
    )
    result = _unsigned_get(url, JRD_ACCEPT, deadline)
    if result.status == 404:
        template = _lrdd_template(domain, deadline)
        if template:
            result = _unsigned_get(
                template.replace("{uri}", quote(resource, safe="")), JRD_ACCEPT, deadline
            )
    _raise_for_status(result, url)
    try:
        document = orjson.loads(result.content)
    except orjson.JSONDecodeError as exc:
        raise FetchRefused(f"WebFinger for {resource} is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("subject"), str):
        raise FetchRefused(f"WebFinger for {resource} has no subject")
    for link in as_list(document.get("links")):
        if (
            isinstance(link, dict)
            and link.get("rel") == "self"
            and is_activity_content_type(_text(link.get("type")))
            and isinstance(link.get("href"), str)
        ):
            return str(link["href"])
    raise FetchRefused(f"WebFinger for {resource} has no ActivityPub self link")


def webfinger_resolve(acct: str) -> Account:
    """The Account for `user@domain` (also `@user@domain`, `acct:user@domain`).

    Local addresses resolve from the database. Remote ones: WebFinger over OURVOICE_SCHEME
    (http for loopback deployments), fetch the `self` actor, then Mastodon's round trip: the
    actor's canonical `acct:preferredUsername@host` must WebFinger back to the same actor id,
    so a server cannot claim another server's accounts. Bounded by `TOTAL_DEADLINE`.
    Raises FetchBlocked, FetchRefused or FetchTransient.
    """
    username, domain = _parse_acct(acct)
    if domain == normalize_domain(settings.OURVOICE_DOMAIN):
        local = Account.objects.filter(domain="", username__iexact=username).first()
        if local is None:
            raise FetchRefused(f"no local account {username}")
        return local
    _check_allowed(domain)
    deadline = time.monotonic() + TOTAL_DEADLINE
    actor_id = _webfinger(username, domain, deadline)
    _remaining(deadline)
    account = actor_resolve(actor_id)
    if account.local:
        raise FetchRefused(f"{acct} points at a local account")
    canonical = (account.username, account.domain)
    if (username.lower(), domain) != (canonical[0].lower(), canonical[1]):
        confirmed = _webfinger(canonical[0], canonical[1], deadline)
        if confirmed != account.uri:
            raise FetchRefused(f"WebFinger round trip for {acct} does not confirm {account.uri}")
    return account


# --- Keys ---------------------------------------------------------------------------------------

_key_cache: OrderedDict[str, tuple[float, str, Account]] = OrderedDict()
_key_cache_lock = threading.Lock()


def key_cache_clear() -> None:
    """Empty this process's key caches: remote keys and our instance actor's signing key
    (tests; after an admin edits a key by hand)."""
    global _instance_key
    with _key_cache_lock:
        _key_cache.clear()
    with _instance_key_lock:
        _instance_key = None


def _key_cache_get(key_id: str) -> tuple[str, Account] | None:
    with _key_cache_lock:
        entry = _key_cache.get(key_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del _key_cache[key_id]
            return None
        _key_cache.move_to_end(key_id)
        return entry[1], entry[2]


def key_cached(key_id: str) -> tuple[str, Account] | None:
    """(public key PEM, owner) of a key this process resolved recently, else None; no I/O."""
    return _key_cache_get(key_id)


def _key_cache_put(key_id: str, pem: str, account: Account) -> None:
    with _key_cache_lock:
        _key_cache[key_id] = (time.monotonic() + KEY_CACHE_TTL, pem, account)
        _key_cache.move_to_end(key_id)
        while len(_key_cache) > KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)


def _stored_key(key_id: str) -> Account | None:
    """The stored account with this key id (usually found through its actor id, indexed)."""
    base = _without_fragment(key_id)
    account = Account.objects.filter(uri=base, key_id=key_id).first()
    if account is None:
        account = Account.objects.filter(key_id=key_id).first()
    return account if account is not None and account.public_key_pem else None


def _key_cache_key(kind: str, key_id: str) -> str:
    return f"ov:{kind}:" + hashlib.blake2b(key_id.encode("utf-8"), digest_size=16).hexdigest()


def _fetch_permitted(key_id: str) -> bool:
    return bool(cache.add(_key_cache_key("keyfetch", key_id), 1, KEY_REFETCH_INTERVAL))


def _remember(key_id: str, account: Account) -> tuple[str, Account]:
    pem = account.public_key_pem
    # Only cache what is committed: a rejected request rolls its account upsert back.
    transaction.on_commit(lambda: _key_cache_put(key_id, pem, account))
    return pem, account


def _key_owner_document(key_id: str) -> dict[str, Any]:
    """Fetch the key id; return the owning actor's document (fetching the owner of a bare key
    document too). The actor's claim of the key is checked when it is stored."""
    document = object_fetch(key_id)
    if _type_of(document) in ACTOR_TYPES:
        return document
    if _type_of(document) not in KEY_TYPES and "publicKeyPem" not in document:
        raise FetchRefused(f"{key_id} is neither an actor nor a key")
    owner = document.get("owner")
    if not isinstance(owner, str):
        raise FetchRefused(f"key {key_id} names no owner")
    try:
        if origin_of(owner) != origin_of(key_id):
            raise FetchRefused(f"key {key_id} is owned by another origin")
    except ValueError as exc:
        raise FetchRefused(f"key {key_id} has a bad owner") from exc
    owner_document = object_fetch(owner)
    if _type_of(owner_document) not in ACTOR_TYPES:
        raise FetchRefused(f"the owner of key {key_id} is not an actor")
    return owner_document


def key_resolve(key_id: str, refresh: bool) -> tuple[str, Account]:
    """`signatures.KeyResolver` for HTTP signatures: (public key PEM, owning Account).

    A known key comes from the process cache or the Account row (callers check the domain
    policy of the request first, as `federation.verify` does); before anything is fetched the
    key's domain policy is checked (raises `policy.DomainBlocked`). An unknown key, or `refresh`
    (the signature did not verify with the stored key: rotation), fetches the key id and its
    owner at most once per `KEY_REFETCH_INTERVAL`; the owner actor must list the key with
    itself as owner (bidirectional check). Raises `signatures.KeyUnavailable` otherwise.
    Local key ids resolve from the database only.

    The fetched owner document is kept in the shared cache for that interval: a refused request
    rolls back the account it stored, and the next request with the same key (maybe the real
    actor's, after a forger used its key id) is served from that document instead of being
    refused for lack of a fetch permit.
    """
    try:
        origin_of(key_id)
    except ValueError as exc:
        raise KeyUnavailable("keyId is not an http(s) URL") from exc
    if not refresh:
        cached = _key_cache_get(key_id)
        if cached is not None:
            return cached
    stored = _stored_key(key_id)
    if stored is not None and (not refresh or stored.local):
        return _remember(key_id, stored)
    if _is_local(key_id):
        raise KeyUnavailable(f"no local key {key_id}")
    policy.check_domain_allowed(key_id)  # DomainBlocked before anything is fetched
    document_key = _key_cache_key("keydoc", key_id)
    document = cache.get(document_key)
    if document is None:
        if not _fetch_permitted(key_id):
            if stored is not None:
                return stored.public_key_pem, stored
            raise KeyUnavailable(f"key {key_id} was fetched recently and is not usable")
        try:
            document = _key_owner_document(key_id)
        except FetchBlocked:
            raise
        except (FetchRefused, FetchTransient) as exc:
            logger.info("key fetch failed key_id=%s error=%s", key_id, exc)
            if stored is not None:
                return stored.public_key_pem, stored
            raise KeyUnavailable(f"key {key_id} cannot be fetched: {exc}") from exc
        cache.set(document_key, document, KEY_REFETCH_INTERVAL)
    try:
        account = actor_from_document(document, key_id=key_id)
    except FetchBlocked:
        raise
    except FetchRefused as exc:
        raise KeyUnavailable(f"the owner of key {key_id} is not usable: {exc}") from exc
    if account.key_id != key_id or not account.public_key_pem:
        raise KeyUnavailable(f"actor {account.uri} does not claim key {key_id}")
    return _remember(key_id, account)
