"""Federation services: remote instances (policy, health) and remote resolution.

Instance functions (delivery and admin) come first; remote resolution (`account_resolve`,
`post_resolve`) follows.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q

from federation import fetch, policy
from federation.inbound.errors import Ignore
from federation.inbound.note import note_import
from federation.jsonld import as_list, origin_of
from federation.models import Delivery, Instance
from ourvoice.accounts.models import Account
from ourvoice.core.errors import Invalid
from ourvoice.core.urls import normalize_domain
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import post_get_by_uri

logger = logging.getLogger(__name__)


# --- Instances ----------------------------------------------------------------------------------


def instance_get_or_create(domain: str) -> Instance:
    """The `Instance` row of a remote domain (host[:port], normalised), created on first sight."""
    domain = normalize_domain(domain)
    if not domain:
        raise Invalid("A domain is required.", field="domain")
    instance = Instance.objects.filter(domain=domain).first()
    if instance is not None:
        return instance
    try:
        with transaction.atomic():
            return Instance.objects.create(domain=domain)
    except IntegrityError:  # a concurrent writer created it first
        return Instance.objects.get(domain=domain)


@transaction.atomic
def instance_set_policy(
    *,
    instance: Instance,
    policy: str,
    reject_media: bool | None = None,
    reject_reports: bool | None = None,
    note: str | None = None,
) -> bool:
    """Set a domain's policy (admins): `none`, `silence` or `suspend`; returns True if changed.

    Suspending stops deliveries to the domain at once: its pending deliveries are marked
    skipped (new ones are created skipped), and inbound requests from it are refused by the
    inbox's policy check. Lifting a suspension does not resend what was skipped.
    """
    if policy not in Instance.Policy.values:
        raise Invalid(f"Unknown policy {policy!r}.", field="policy")
    instance = Instance.objects.select_for_update().get(pk=instance.pk)
    fields: list[str] = []
    if instance.policy != policy:
        instance.policy = policy
        fields.append("policy")
    for name, value in (
        ("reject_media", reject_media),
        ("reject_reports", reject_reports),
        ("note", note),
    ):
        if value is not None and getattr(instance, name) != value:
            setattr(instance, name, value)
            fields.append(name)
    if not fields:
        return False
    instance.save(update_fields=fields)
    from federation.policy import policy_cache_clear  # `policy` is this function's argument

    domain = instance.domain
    transaction.on_commit(lambda: policy_cache_clear(domain))
    skipped = 0
    if policy == Instance.Policy.SUSPEND and "policy" in fields:
        # Rows a sender is writing right now are skipped here (SKIP LOCKED, so this never
        # deadlocks with a sender) and at their next attempt by the sender itself.
        pending = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(domain=instance.domain, state=Delivery.State.PENDING)
            .values_list("id", flat=True)
        )
        for start in range(0, len(pending), 1000):
            skipped += Delivery.objects.filter(pk__in=pending[start : start + 1000]).update(
                state=Delivery.State.SKIPPED, last_error="domain suspended"
            )
    logger.info(
        "instance policy set domain=%s policy=%s fields=%s skipped_deliveries=%s",
        instance.domain,
        instance.policy,
        ",".join(fields),
        skipped,
    )
    return True


def instance_set_moderation_tier(*, instance: Instance, tier: str) -> bool:
    """Set the weight tier of a domain's moderation voters ("" = the configured default)."""
    if tier not in Instance.Tier.values:
        raise Invalid(f"Unknown tier {tier!r}.", field="tier")
    changed = Instance.objects.filter(pk=instance.pk).exclude(moderation_tier=tier)
    updated = bool(changed.update(moderation_tier=tier))
    instance.moderation_tier = tier
    return updated


# --- Remote resolution (Mastodon search with resolve=true) ---------------------------------------

#: Seconds a document fetched for a search stays cached (a URL is tried as a post, then as an
#: account: one fetch serves both).
RESOLVE_CACHE_TTL = 30
_NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question"})
_RESOLVE_ERRORS = (fetch.FetchRefused, fetch.FetchTransient, policy.DomainBlocked)


def _is_local_url(url: str) -> bool:
    try:
        return origin_of(url) == origin_of(settings.OURVOICE_BASE_URL)
    except ValueError:
        return False


def _types(document: dict[str, Any]) -> set[str]:
    return {kind for kind in as_list(document.get("type")) if isinstance(kind, str)}


def _document_fetch(url: str) -> dict[str, Any]:
    """`fetch.object_fetch(url)`, remembered for a short while in the shared cache."""
    key = "ov:resolve:" + hashlib.blake2b(url.encode("utf-8"), digest_size=16).hexdigest()
    document = cache.get(key)
    if document is None:
        document = fetch.object_fetch(url)
        cache.set(key, document, RESOLVE_CACHE_TTL)
    return document


def account_resolve(query: str) -> Account | None:
    """The account `query` names, fetched and stored if it is remote and unknown; else None.

    `query` is `@user@domain`, `user@domain`, `acct:user@domain` (WebFinger with Mastodon's
    round-trip check), an actor id or a profile page URL (fetched with AP content
    negotiation). Suspended domains, refused or failed fetches and non-actors give None;
    nothing is requested from a suspended domain.
    """
    query = (query or "").strip()
    if not query:
        return None
    try:
        if query.startswith(("https://", "http://")):
            known = Account.objects.filter(Q(uri=query) | Q(url=query)).first()
            if known is not None or _is_local_url(query):
                return known if known is not None and not known.is_suspended else None
            policy.check_domain_allowed(query)
            document = _document_fetch(query)
            if not _types(document) & fetch.ACTOR_TYPES:
                return None
            return fetch.actor_from_document(document)
        return fetch.webfinger_resolve(query)
    except _RESOLVE_ERRORS as exc:
        logger.info("account resolve failed query=%s error=%s", query[:200], exc)
        return None


def post_resolve(url: str) -> Post | None:
    """The post at `url` (its id, or a page the origin serves as AP JSON), fetched and stored
    through the inbound note import when it is remote and unknown; else None.

    The note's origin and author are checked by the import; a suspended domain (of the URL or
    of the author) gives None without any request to it.
    """
    url = (url or "").strip()
    if not url.startswith(("https://", "http://")):
        return None
    known = post_get_by_uri(uri=url)
    if known is not None or _is_local_url(url):
        return known
    try:
        policy.check_domain_allowed(url)
        document = _document_fetch(url)
        if not _types(document) & _NOTE_TYPES:
            return None
        declared = document.get("id")
        if isinstance(declared, str) and declared != url:
            known = post_get_by_uri(uri=declared)
            if known is not None:
                return known
        with transaction.atomic():
            return note_import(document, fetched_by_id=True)
    except (*_RESOLVE_ERRORS, Ignore) as exc:
        logger.info("post resolve failed url=%s error=%s", url[:200], exc)
        return None


def instance_mark_available(*, domain: str) -> bool:
    """Clear a domain's delivery failures (it answered, or sent us a signed request).

    Mastodon resets its DeliveryFailureTracker when a signed request arrives from a domain;
    the inbox may call this for the same effect. Cheap when there is nothing to clear.
    Returns True if the domain was failing or unavailable.
    """
    cleared = (
        Instance.objects.filter(domain=normalize_domain(domain))
        .exclude(failure_days=[], unavailable_since__isnull=True)
        .update(failure_days=[], unavailable_since=None)
    )
    if cleared:
        logger.info("instance marked available domain=%s", domain)
    return bool(cleared)
