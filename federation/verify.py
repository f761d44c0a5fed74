"""HTTP-signature verification of incoming Django requests (inbox POSTs, authorized-fetch GETs).

An adapter from a Django request to `federation.signatures.verify_request`, with the checks that
need our data around it (federation.md §3, §5):

- the keyId is read first and its domain checked against the domain policy BEFORE any key is
  resolved: a suspended domain gets `DomainBlocked` (403) and nothing is fetched; a request
  whose signature header does not parse strictly, signs too little, is outside the time window
  or has a wrong digest is refused before any key lookup (`signatures.verify_request` calls the
  key resolver last);
- for an activity, the keyId, the activity's `actor` and the activity's `id` must share one
  origin (checked before resolving, so a mismatch fetches nothing), and after verification the
  key's owner must BE the actor (Fedify CVE-2025-54888);
- the path and query are taken as sent on the wire (gunicorn's `RAW_URI`), since a signature
  covers the percent-encoding the sender used; RFC 9421 `@target-uri` uses OURVOICE_SCHEME;
- key resolution may store a newly fetched actor; it runs in a transaction that is rolled back
  when verification fails, so a refused request persists nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from federation import fetch, policy, signatures
from federation.jsonld import first_id, origin_of
from federation.policy import DomainBlocked
from federation.signatures import SignatureError, VerifiedSignature
from ourvoice.accounts.models import Account

__all__ = [
    "DomainBlocked",
    "SignatureRejected",
    "verify_signed_activity",
    "verify_signed_get",
    "verify_signed_post",
    "wire_headers",
    "wire_target",
]


class _NeedsDatabase(Exception):
    """The key is not in this process's cache (or must be refreshed): verify in a transaction."""


class SignatureRejected(Exception):
    """The request is not (validly) signed by the right actor: answer 401."""

    status = 401


def wire_target(request: HttpRequest) -> tuple[str, str]:
    """(path, query) of the request exactly as the client sent them (percent-encoding kept).

    gunicorn puts the raw request target in `RAW_URI` (uWSGI: `REQUEST_URI`); without either
    (Django's test client, runserver) Django's re-encoded full path is the best we have.
    """
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if raw.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(raw)
            return parts.path or "/", parts.query
        path, _, query = raw.partition("?")
        return path or "/", query
    path, _, query = request.get_full_path().partition("?")
    return path, query


_CAVAGE_KEY_ID = re.compile(r'(?:^|[,\s])keyId[ \t]*=[ \t]*"([^"]*)"')
_RFC9421_KEY_ID = re.compile(r';[ \t]*keyid[ \t]*=[ \t]*"([^"]*)"')


_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def wire_headers(request: HttpRequest) -> dict[str, str]:
    """The request's headers with lowercased names, as `request.headers` would give them
    (HTTP_* and the two unprefixed ones from META), in one pass: verification matches names
    case-insensitively and does not need Django's case-insensitive mapping."""
    headers = {}
    for name, value in request.META.items():
        if name.startswith("HTTP_"):
            headers[name[5:].replace("_", "-").lower()] = value
        elif name in _UNPREFIXED:
            headers[name.replace("_", "-").lower()] = value
    return headers


def _claimed_key_id(headers: dict[str, str]) -> str:
    """The keyId the signature header names, found cheaply (the strict parse comes later, in
    `signatures.verify_request`, which must then find this same keyId)."""
    if "signature-input" in headers:
        match = _RFC9421_KEY_ID.search(headers["signature-input"])
    else:
        match = _CAVAGE_KEY_ID.search(headers.get("signature", ""))
    if match is None or not match.group(1):
        raise SignatureRejected("no signature with a keyId")
    return match.group(1)


def _verify(
    request: HttpRequest, body: bytes | None, *, actor_id: str | None, activity_id: str | None
) -> VerifiedSignature[Account]:
    headers = wire_headers(request)
    claimed = _claimed_key_id(headers)
    try:
        key_origin = origin_of(claimed)
    except ValueError as exc:
        raise SignatureRejected("keyId is not an http(s) URL") from exc
    if actor_id is not None:
        try:
            actor_origin = origin_of(actor_id)
        except ValueError as exc:
            raise SignatureRejected("actor is not an http(s) URL") from exc
        if key_origin != actor_origin:
            raise SignatureRejected("keyId and actor are on different hosts")
        if activity_id is not None and not _same_origin(activity_id, actor_origin):
            raise SignatureRejected("activity id and actor are on different hosts")
    policy.check_domain_allowed(claimed)  # DomainBlocked (403) before anything is fetched

    def resolver(key_id: str, refresh: bool) -> tuple[str, Account]:
        # verify_request calls this only once the header parsed strictly, signs enough, is
        # inside the time window and matches the body's digest.
        if key_id != claimed:
            raise SignatureRejected("ambiguous keyId")
        return fetch.key_resolve(key_id, refresh)

    def cached_resolver(key_id: str, refresh: bool) -> tuple[str, Account]:
        # The hot path: a key this process already verified with, no database at all.
        cached = None if refresh or key_id != claimed else fetch.key_cached(key_id)
        if cached is None:
            raise _NeedsDatabase
        return cached

    path, query = wire_target(request)

    def run(key_resolver: signatures.KeyResolver[Account]) -> VerifiedSignature[Account]:
        verified = signatures.verify_request(
            method=request.method or "GET",
            path=path,
            query=query,
            headers=headers,
            body=body,
            key_resolver=key_resolver,
            scheme=settings.OURVOICE_SCHEME,
        )
        if actor_id is not None and verified.owner.uri != actor_id:
            # Roll back whatever resolving the key stored: nothing persists on a 401.
            raise SignatureRejected("the key's owner is not the activity's actor")
        return verified

    try:
        try:
            # A cached key needs no transaction (no BEGIN/COMMIT round trips); anything else
            # (an unknown key, a refresh after a mismatch) runs again in a transaction that a
            # refusal rolls back.
            verified = run(cached_resolver)
        except _NeedsDatabase:
            with transaction.atomic():
                verified = run(resolver)
    except DomainBlocked:
        raise
    except SignatureError as exc:
        raise SignatureRejected(f"{type(exc).__name__}: {exc}") from exc
    except (fetch.FetchRefused, fetch.FetchTransient) as exc:
        raise SignatureRejected(f"key fetch failed: {exc}") from exc
    return verified


def _same_origin(url: str, origin: str) -> bool:
    try:
        return origin_of(url) == origin
    except ValueError:
        return False


def verify_signed_activity(
    request: HttpRequest, body: bytes, *, activity: dict[str, Any]
) -> VerifiedSignature[Account]:
    """Verify an inbox POST carrying `activity`; the signer must be its actor, same origin.

    Raises SignatureRejected (401) or DomainBlocked (403). The caller has checked that
    `activity` has string `id` and `actor` fields.
    """
    actor_id = first_id(activity.get("actor"))
    activity_id = activity.get("id")
    if actor_id is None or not isinstance(activity_id, str):
        raise SignatureRejected("activity without actor or id")
    return _verify(request, body, actor_id=actor_id, activity_id=activity_id)


def verify_signed_post(
    request: HttpRequest, body: bytes, *, activity: dict[str, Any] | None = None
) -> Account:
    """The Account that signed this POST, which must be the actor of the activity in `body`.

    `activity` is the parsed body when the caller already has it. Raises SignatureRejected
    (401: unsigned, malformed, stale, wrong digest, bad signature, signer is not the actor or
    not on the activity id's origin) or DomainBlocked (403: suspended domain, nothing fetched).
    """
    if activity is None:
        try:
            activity = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SignatureRejected("body is not JSON") from exc
        if not isinstance(activity, dict):
            raise SignatureRejected("body is not a JSON object")
    return verify_signed_activity(request, body, activity=activity).owner


def verify_signed_get(request: HttpRequest) -> Account:
    """The Account that signed this GET (authorized fetch). Raises SignatureRejected (401)
    or DomainBlocked (403, the signer's domain is suspended; nothing fetched)."""
    return _verify(request, None, actor_id=None, activity_id=None).owner
