"""JSON-LD without the network, plus tolerant accessors for ActivityStreams JSON.

Inbound AS2 is handled as plain JSON with the accessors below; JSON-LD expansion is off the hot
path. Where pyld is used it gets `pinned_document_loader`, which serves bundled copies of the
contexts fediverse software uses and refuses everything else: a remote `@context` is an
attacker-chosen URL (SSRF, slow or huge bodies, chains of contexts) and a privacy leak
(federation.md §5, "JSON-LD").

Bundled (`federation/contexts/`): ActivityStreams 2.0, security/v1 and did/v1 as published (the
copies pyld 3 vendors); data-integrity/v1, multikey/v1 and identity/v1 as published by W3C/W3ID.
The ActivityStreams copy also defines the de facto `as:` extension terms Mastodon declares inline
(`sensitive`, `manuallyApprovesFollowers`, `Hashtag`, `movedTo`, `quoteUrl`), so documents that
forget to declare them expand the same way.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from pyld import jsonld

CONTEXTS_DIR = Path(__file__).resolve().parent / "contexts"

ACTIVITYSTREAMS = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_SPELLINGS = frozenset({PUBLIC, "as:Public", "Public"})

#: Canonical context URL → bundled file.
BUNDLED_CONTEXTS: Mapping[str, str] = {
    ACTIVITYSTREAMS: "activitystreams.json",
    "https://w3id.org/security/v1": "security-v1.json",
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.json",
    "https://w3id.org/security/multikey/v1": "multikey-v1.json",
    "https://www.w3.org/ns/did/v1": "did-v1.json",
    "https://w3id.org/identity/v1": "identity-v1.json",
}

#: Keywords that restructure a document without breaking an LD signature
#: (GHSA-9rfg-v8g9-9367, Mastodon CVE-2026-46349).
RESHAPING_KEYWORDS = frozenset({"@graph", "@reverse", "@included", "@nest"})
MAX_DEPTH = 32


class ContextNotAllowed(jsonld.JsonLdError):
    """A context URL outside the bundled set (never fetched)."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"JSON-LD context not allowed: {url!r}",
            "jsonld.LoadDocumentError",
            {"url": url},
            code="loading document failed",
        )
        self.url = url


class UnsafeDocument(ValueError):
    """A document using reshaping keywords, or nested too deeply."""


# --- Pinned loader ------------------------------------------------------------------------------


def canonical_context_url(url: str) -> str | None:
    """The bundled context a URL names (http/https, trailing `#`, `/` or `.jsonld`), or None."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    if candidate.startswith("http://"):
        candidate = "https://" + candidate.removeprefix("http://")
    candidate = candidate.rstrip("#")
    candidate = candidate.removesuffix(".jsonld").rstrip("/")
    return candidate if candidate in BUNDLED_CONTEXTS else None


@cache
def _context_bytes(canonical: str) -> bytes:
    return (CONTEXTS_DIR / BUNDLED_CONTEXTS[canonical]).read_bytes()


def bundled_context(url: str) -> dict[str, Any]:
    """A fresh copy of a bundled context document (pyld may modify what it is given)."""
    canonical = canonical_context_url(url)
    if canonical is None:
        raise ContextNotAllowed(url)
    document: dict[str, Any] = orjson.loads(_context_bytes(canonical))
    return document


def pinned_document_loader(url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader serving only the bundled contexts; never touches the network."""
    del options
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": bundled_context(url),
        # Lets pyld cache the processed context across calls (only bundled URLs get here).
        "tag": "static",
    }


def expand(document: Mapping[str, Any] | list[Any], *, check_shape: bool = True) -> list[Any]:
    """Expand a JSON-LD document offline (bundled contexts only).

    Refuses reshaping keywords first (`reject_reshaping_keywords`) unless `check_shape` is off.
    Raises ContextNotAllowed for an unknown context and pyld's JsonLdError for invalid input.
    """
    if not isinstance(document, (Mapping, list)):
        raise TypeError("expand() takes a parsed JSON object or array, never a URL")
    if check_shape:
        reject_reshaping_keywords(document)
    try:
        expanded: list[Any] = jsonld.expand(document, {"documentLoader": pinned_document_loader})
    except jsonld.JsonLdError as exc:
        # pyld 3 chains the loader's error as __cause__; pyld 2 keeps it in details["cause"].
        cause: Any = exc
        seen = 0
        while cause is not None and seen < 16:
            if isinstance(cause, ContextNotAllowed):
                raise ContextNotAllowed(cause.url) from exc
            details = getattr(cause, "details", None)
            nested = details.get("cause") if isinstance(details, dict) else None
            cause = cause.__cause__ or nested
            seen += 1
        raise
    return expanded


def reject_reshaping_keywords(document: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise UnsafeDocument if `@graph`, `@reverse`, `@included` or `@nest` appear anywhere.

    Checks keys at every depth, and inside inline `@context` objects also values, since a
    context can alias a keyword (`{"g": "@graph"}`) or define a reverse or graph-container term.
    Documents nested deeper than `max_depth` are refused too.
    """
    stack: list[tuple[Any, int, bool]] = [(document, 0, False)]
    while stack:
        value, depth, in_context = stack.pop()
        if depth > max_depth:
            raise UnsafeDocument(f"document nested deeper than {max_depth} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in RESHAPING_KEYWORDS:
                    raise UnsafeDocument(f"{key} is not accepted")
                stack.append((item, depth + 1, in_context or key == "@context"))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, in_context) for item in value)
        elif in_context and isinstance(value, str) and value in RESHAPING_KEYWORDS:
            raise UnsafeDocument(f"{value} is not accepted in a context")


# --- Tolerant AS2 accessors ---------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """AS2 properties may be absent, a single value or an array: always give a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, tuple):
        return list(value)
    return [value]


def first_id(value: Any) -> str | None:
    """The id a property refers to: a string, an object's `id` (or `@id`), or a list's first."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        ident = value.get("id", value.get("@id"))
        return ident if isinstance(ident, str) and ident else None
    if isinstance(value, (list, tuple)):
        for item in value:
            ident = first_id(item)
            if ident is not None:
                return ident
    return None


def ids_of(value: Any) -> list[str]:
    """Every id a property refers to, in order, skipping entries without one."""
    out: list[str] = []
    for item in as_list(value):
        ident = first_id(item) if not isinstance(item, list) else None
        if ident is not None:
            out.append(ident)
    return out


def is_public(*addressees: Any) -> bool:
    """True if any addressee is the Public collection (full URI, `as:Public` or `Public`)."""
    return any(ident in PUBLIC_SPELLINGS for value in addressees for ident in ids_of(value))


# --- Origins ------------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_FORBIDDEN_IN_URL = re.compile(r"[\x00-\x20\x7f\\]")
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")


def _ascii_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if not host:
        raise ValueError("empty host")
    if host.startswith("[") or ":" in host:
        return f"[{ipaddress.IPv6Address(host.strip('[]')).compressed}]"
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid international host name {host!r}") from exc
    if not _HOST_CHARS.fullmatch(host) or ".." in host:
        raise ValueError(f"invalid host {host!r}")
    return host


def origin_of(url: str) -> str:
    """Normalised `scheme://host[:port]` of an http(s) URL (Mastodon CVE-2023-42451).

    The host is converted to ASCII (IDNA), lowercased and stripped of a trailing dot; the
    scheme's default port is dropped. Raises ValueError for anything that is not a plain
    http(s) URL: other schemes, credentials, backslashes, whitespace or control characters.
    A pure function of `url`, memoised: the inbox asks it for the same keyIds and actors on
    every request.
    """
    if not isinstance(url, str):
        raise ValueError("not a URL")
    return _origin_of(url)


@lru_cache(maxsize=4096)
def _origin_of(url: str) -> str:
    if _FORBIDDEN_IN_URL.search(url):
        raise ValueError("not a URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    netloc = parts.netloc
    if "@" in netloc:
        raise ValueError("credentials in URL")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError("unterminated IPv6 literal")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
    else:
        colon = netloc.find(":")
        host, rest = (netloc, "") if colon < 0 else (netloc[:colon], netloc[colon:])
    port_part = rest.removeprefix(":") if rest.startswith(":") else None
    if rest and port_part is None:
        raise ValueError("garbage after host")
    port: int | None = None
    if port_part:
        if not port_part.isdigit() or not 0 < int(port_part) < 65536:
            raise ValueError(f"invalid port {port_part!r}")
        port = int(port_part)
    ascii_host = _ascii_host(host)
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{ascii_host}"
    return f"{scheme}://{ascii_host}:{port}"


def same_origin(a: str, b: str) -> bool:
    """True if both are http(s) URLs with the same normalised origin; False if either is not."""
    try:
        return origin_of(a) == origin_of(b)
    except ValueError:
        return False


def host_of(url: str) -> str:
    """Normalised `host[:port]` of an http(s) URL (the scheme's default port dropped)."""
    return origin_of(url).split("://", 1)[1]
