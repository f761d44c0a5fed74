"""Which remote servers speak OUR Voice's moderation protocol, and where their votes go.

An OUR Voice server advertises its moderation actor twice (federation.md, "Our extensions"):
NodeInfo `metadata.ourvoice.moderation.actor` and the instance actor's `moderationService`.
`moderation_service(domain)` finds that actor, resolves its inbox and caches the answer on the
domain's `Instance` row (`moderation_inbox`, `nodeinfo_fetched_at`, `software`,
`software_version`) for `PEER_INFO_TTL`; an empty `moderation_inbox` with a fresh
`nodeinfo_fetched_at` means "not OUR Voice". Every request goes through `federation.fetch`
(domain policy first, signed GET by our instance actor, the SSRF guard of
`ourvoice.core.http`); nothing is ever requested from a suspended domain.

The moderation package uses `instance_is_ourvoice(domain)` to choose a case's scope
(forwarded vs remote); the outgoing vote consumers (`federation.outbound.moderation`) use
`moderation_service(domain)`. Both live in federation and never import moderation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from federation import fetch, policy
from federation.jsonld import as_list, first_id, same_origin
from federation.models import Instance
from federation.services import instance_get_or_create
from ourvoice.accounts.models import Account
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)

#: How long a discovery answer (positive or negative) is trusted before it is fetched again.
PEER_INFO_TTL = timedelta(hours=24)
#: NodeInfo schema namespaces we read, best first.
_NODEINFO_RELS = (
    "http://nodeinfo.diaspora.software/ns/schema/2.1",
    "http://nodeinfo.diaspora.software/ns/schema/2.0",
)
_JSON_ACCEPT = "application/json"
_SOFTWARE = "ourvoice"
#: `moderationService` as it may appear in an instance actor (compact, prefixed, expanded).
_SERVICE_KEYS = (
    "moderationService",
    "ov:moderationService",
    "https://ourvoice.example/ns/moderation#moderationService",
)
_FIELD_LENGTH = 64


@dataclass(frozen=True)
class ModerationService:
    """A peer's moderation actor: its id (for `to`) and its inbox (where votes are POSTed)."""

    actor_uri: str
    inbox: str


def _origin(domain: str) -> str:
    return f"{settings.OURVOICE_SCHEME}://{domain}"


def _is_local(domain: str) -> bool:
    return domain == normalize_domain(settings.OURVOICE_DOMAIN)


def _fresh(instance: Instance) -> bool:
    fetched = instance.nodeinfo_fetched_at
    return fetched is not None and timezone.now() - fetched < PEER_INFO_TTL


def _json_get(url: str) -> dict[str, Any] | None:
    """A JSON object fetched with the guarded signed GET; None when the peer has none.

    Timeouts, connection failures and 5xx/429 raise `fetch.FetchTransient` (try again later).
    """
    result = fetch.signed_get(url, accept=_JSON_ACCEPT)
    if result.status in {408, 429} or result.status >= 500:
        raise fetch.FetchTransient(f"{url} answered {result.status}")
    if not result.ok:
        return None
    try:
        document = orjson.loads(result.content)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _nodeinfo(domain: str) -> dict[str, Any] | None:
    """The peer's NodeInfo document (2.1 preferred), read from its own origin only."""
    origin = _origin(domain)
    index = _json_get(f"{origin}/.well-known/nodeinfo")
    if index is None:
        return None
    links = {
        link.get("rel"): link.get("href")
        for link in as_list(index.get("links"))
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    }
    for rel in _NODEINFO_RELS:
        href = links.get(rel)
        if href and same_origin(href, origin):
            return _json_get(href)
    return None


def _nodeinfo_service(document: dict[str, Any] | None) -> str | None:
    metadata = document.get("metadata") if document else None
    ourvoice = metadata.get("ourvoice") if isinstance(metadata, dict) else None
    moderation = ourvoice.get("moderation") if isinstance(ourvoice, dict) else None
    return first_id(moderation.get("actor")) if isinstance(moderation, dict) else None


def _software(document: dict[str, Any] | None) -> tuple[str, str]:
    software = document.get("software") if document else None
    if not isinstance(software, dict):
        return "", ""
    name, version = software.get("name"), software.get("version")
    return (
        name.strip().lower()[:_FIELD_LENGTH] if isinstance(name, str) else "",
        version.strip()[:_FIELD_LENGTH] if isinstance(version, str) else "",
    )


def _instance_actor_service(domain: str) -> str | None:
    """`moderationService` of the peer's instance actor (`<origin>/actor`), if it has one."""
    try:
        document = fetch.object_fetch(f"{_origin(domain)}/actor")
    except (fetch.FetchRefused, policy.DomainBlocked) as exc:
        logger.info("moderation peer: no instance actor domain=%s error=%s", domain, exc)
        return None
    for key in _SERVICE_KEYS:
        service = first_id(document.get(key))
        if service:
            return service
    return None


def _discover(domain: str) -> tuple[str, str, str, str]:
    """(service actor id, its inbox, software, version) from the peer; ids "" when none.

    NodeInfo first (it also names the software); the instance actor's `moderationService` is
    read when NodeInfo names no moderation actor but does not rule OUR Voice out. The service
    actor must be on the peer's own origin, and its inbox too.
    """
    origin = _origin(domain)
    try:
        nodeinfo = _nodeinfo(domain)
    except (fetch.FetchRefused, policy.DomainBlocked) as exc:
        logger.info("moderation peer: no NodeInfo domain=%s error=%s", domain, exc)
        nodeinfo = None
    software, version = _software(nodeinfo)
    service = _nodeinfo_service(nodeinfo)
    if service is None and (nodeinfo is None or software == _SOFTWARE):
        service = _instance_actor_service(domain)
    if not service:
        return "", "", software, version
    if not same_origin(service, origin):
        logger.warning(
            "moderation peer: service actor on another origin domain=%s actor=%s",
            domain,
            service[:200],
        )
        return "", "", software, version
    try:
        account = fetch.actor_resolve(service)
    except (fetch.FetchRefused, policy.DomainBlocked) as exc:
        logger.info("moderation peer: service actor unusable domain=%s error=%s", domain, exc)
        return "", "", software, version
    inbox = account.inbox_uri or account.shared_inbox_uri
    if not inbox or not same_origin(inbox, origin) or account.is_suspended:
        return "", "", software, version
    return account.uri, inbox, software or _SOFTWARE, version


def _cached(instance: Instance) -> ModerationService | None:
    if not instance.moderation_inbox:
        return None
    actor_uri = (
        Account.objects.filter(domain=instance.domain, inbox_uri=instance.moderation_inbox)
        .values_list("uri", flat=True)
        .first()
    )
    return ModerationService(actor_uri, instance.moderation_inbox) if actor_uri else None


def moderation_service(domain: str, *, refresh: bool = False) -> ModerationService | None:
    """The moderation actor of an OUR Voice peer, or None when `domain` is not OUR Voice.

    Uses the answer cached on the `Instance` row while it is younger than `PEER_INFO_TTL`
    (unless `refresh`), else discovers it (NodeInfo, instance actor, service actor) and
    caches it. Suspended domains and this server give None without any request. A transient
    failure (timeout, 5xx) raises `fetch.FetchTransient` and caches nothing, so callers that
    can retry (outbox consumers) do; `instance_is_ourvoice` falls back to the stale answer.
    """
    try:
        domain = policy.domain_of(domain)
    except ValueError:
        return None
    if _is_local(domain) or policy.domain_is_suspended(domain):
        return None
    instance = instance_get_or_create(domain)
    if not refresh and _fresh(instance):
        found = _cached(instance)
        if found is not None or not instance.moderation_inbox:
            return found
    actor_uri, inbox, software, version = _discover(domain)
    Instance.objects.filter(pk=instance.pk).update(
        moderation_inbox=inbox,
        software=software,
        software_version=version,
        nodeinfo_fetched_at=timezone.now(),
    )
    logger.info(
        "moderation peer discovered domain=%s software=%s ourvoice=%s inbox=%s",
        domain,
        software or "-",
        bool(inbox),
        inbox or "-",
    )
    return ModerationService(actor_uri, inbox) if inbox else None


def moderation_service_inbox(domain: str) -> str:
    """The inbox of `domain`'s moderation actor, or "" when `domain` is not OUR Voice."""
    service = moderation_service(domain)
    return service.inbox if service else ""


def instance_is_ourvoice(domain: str) -> bool:
    """True if `domain` is an OUR Voice server with a moderation actor (this server included).

    May fetch (see `moderation_service`, bounded by `fetch`'s time limits). When the peer
    cannot be reached right now, the last known answer is used (False if never known).
    """
    try:
        normalized = policy.domain_of(domain)
    except ValueError:
        return False
    if _is_local(normalized):
        return True
    try:
        return moderation_service(normalized) is not None
    except (fetch.FetchTransient, fetch.FetchRefused) as exc:
        logger.info("moderation peer unreachable domain=%s error=%s", normalized, exc)
        known = Instance.objects.filter(domain=normalized).values_list(
            "moderation_inbox", flat=True
        )
        return bool(known.first())
