"""Checks and look-ups shared by the incoming-activity handlers (federation.md §4 and §5).

Inbound ActivityStreams is plain JSON read with the tolerant accessors of `federation.jsonld`:
any property may be missing, a string, an object or a list. Nothing here trusts the payload
beyond what the origin rules allow; objects from third parties are fetched from their origin
(`object_get`), and every remote author passes the domain policy (`author_check_allowed`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from federation import fetch, policy
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import as_list, first_id, ids_of, is_public, same_origin
from ourvoice.accounts.models import Account
from ourvoice.core import http
from ourvoice.posts.models import Visibility

logger = logging.getLogger(__name__)

#: Object types mapped to posts (Article/Page/Question are converted, as Mastodon does).
NOTE_TYPES = frozenset({"Note", "Article", "Page", "Question"})
#: Actor types; an Update of one of these refreshes the actor from its origin.
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
#: Activity types a FEP-1b12 Group may wrap in an Announce.
ACTIVITY_TYPES = frozenset(
    {"Create", "Update", "Delete", "Like", "Dislike", "Undo", "Announce", "Follow", "Add", "Remove"}
)

#: Longest id we store (the URL columns' length).
MAX_ID_LENGTH = 2048

#: Fetch failures that will not get better by retrying: the activity is dropped.
_PERMANENT_FETCH_ERRORS: tuple[type[Exception], ...] = (
    http.BadUrl,
    http.ForbiddenAddress,
    http.TooLarge,
    http.TooManyRedirects,
)


# --- Reading AS2 -------------------------------------------------------------------------------


def types_of(value: Any) -> set[str]:
    """The `type` strings of an object (AS2 allows a list); empty for a bare id."""
    if not isinstance(value, Mapping):
        return set()
    return {t for t in as_list(value.get("type")) if isinstance(t, str)}


def string_of(value: Any) -> str:
    """A string property, or "" for anything else (objects, lists, numbers)."""
    return value if isinstance(value, str) else ""


def attributed_to(obj: Mapping[str, Any]) -> str | None:
    """The author's id. PeerTube lists `[Person, Group]`: the first non-Group entry wins."""
    values = as_list(obj.get("attributedTo"))
    for value in values:
        if isinstance(value, Mapping) and "Group" in types_of(value):
            continue
        ident = first_id(value)
        if ident:
            return ident
    return first_id(values)


def datetime_parse(value: Any) -> datetime | None:
    """An aware datetime from an xsd:dateTime string (naive means UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def is_local_uri(uri: str | None) -> bool:
    """True if `uri` is on this instance's origin."""
    return bool(uri) and same_origin(str(uri), settings.OURVOICE_BASE_URL)


def visibility_from_addressing(
    obj: Mapping[str, Any], *, author: Account, fallback: Mapping[str, Any] | None = None
) -> str:
    """Mastodon's mapping of `to`/`cc` to a visibility (federation.md §4, "Addressing").

    Public in `to` → public; Public in `cc` → unlisted; the author's followers collection →
    followers-only; anything else → direct. Public may be spelled as the full URI, `as:Public`
    or `Public`; `to`/`cc` may be a string or a list. Without any addressing on the object, the
    activity's (`fallback`) is used, as Mastodon does.
    """
    to, cc = obj.get("to"), obj.get("cc")
    if to is None and cc is None and fallback is not None:
        to, cc = fallback.get("to"), fallback.get("cc")
    if is_public(to):
        return Visibility.PUBLIC
    if is_public(cc):
        return Visibility.UNLISTED
    # An actor stored before its document was fetched may lack `followers`: accept the
    # conventional path then (Mastodon, Misskey, GoToSocial, Pleroma all use it).
    followers = author.followers_uri or f"{author.uri}/followers"
    if followers in {*ids_of(to), *ids_of(cc)}:
        return Visibility.PRIVATE
    return Visibility.DIRECT


# --- Origin rules ------------------------------------------------------------------------------


def activity_check_origin(*, activity: Mapping[str, Any], actor: Account) -> str:
    """Rules every activity passes before its handler runs; returns the activity id.

    The activity names the (signature-verified) `actor` as its actor, its id is on the actor's
    origin (Mastodon CVE-2024-23832), the actor is remote, and neither the actor nor its domain
    is suspended. Raises Reject or Ignore.
    """
    activity_id = first_id(activity.get("id"))
    if not activity_id or len(activity_id) > MAX_ID_LENGTH:
        raise Reject("activity without a usable id")
    if first_id(activity.get("actor")) != actor.uri:
        raise Reject("the activity's actor is not the sender")
    if not same_origin(activity_id, actor.uri):
        raise Reject("the activity id is not on the actor's origin")
    if actor.local:
        raise Reject("local actors do not post to our inbox")
    author_check_allowed(actor)
    return activity_id


def object_check_owned(obj: Mapping[str, Any], *, actor: Account) -> str:
    """Create/Update/Delete rules: the object's id is on the actor's origin and its
    `attributedTo` is the actor (the NodeBB advisory). Returns the object id."""
    object_id = first_id(obj)
    if not object_id or len(object_id) > MAX_ID_LENGTH:
        raise Reject("an object without a usable id")
    if not same_origin(object_id, actor.uri):
        raise Reject("the object is not on the actor's origin")
    if attributed_to(obj) != actor.uri:
        raise Reject("the object is attributed to someone else")
    return object_id


def author_check_allowed(account: Account) -> None:
    """Ignore content of suspended accounts and of suspended domains (also for authors of
    boosted or fetched objects: Mastodon CVE-2026-23961)."""
    if account.is_suspended:
        raise Ignore(f"account {account.uri} is suspended")
    if not account.local and policy.domain_is_suspended(account.domain):
        raise Ignore(f"domain {account.domain} is suspended")


def media_rejected(domain: str) -> bool:
    """True when admins reject media from `domain` (attachments are then not recorded)."""
    return bool(domain) and policy.rejects_media(domain)


def reports_rejected(domain: str) -> bool:
    """True when admins reject reports (Flag) from `domain`."""
    return bool(domain) and policy.rejects_reports(domain)


# --- Look-ups ----------------------------------------------------------------------------------


def account_by_uri(uri: str | None) -> Account | None:
    """A known account by its actor id (local accounts also by their profile URL)."""
    if not uri:
        return None
    if is_local_uri(uri):
        return local_account_by_uri(uri)
    return Account.objects.filter(uri=uri).first()


def local_account_by_uri(uri: str | None) -> Account | None:
    """The local account an id (or profile URL) names, or None."""
    if not uri or not is_local_uri(uri):
        return None
    return Account.objects.filter(Q(uri=uri) | Q(url=uri), domain="").first()


# --- Fetching (F3a's guarded, signed fetcher) ----------------------------------------------------


def object_get(uri: str) -> dict[str, Any]:
    """Dereference `uri` from its origin (signed GET, id and content type checked by fetch).

    A suspended domain is ignored; a refused or permanently failing fetch rejects the activity.
    Timeouts and connection errors propagate, so the inbox item is retried later.
    """
    try:
        document = fetch.object_fetch(uri)
    except policy.DomainBlocked as exc:
        raise Ignore(f"fetch of {uri} refused by domain policy") from exc
    except fetch.FetchRefused as exc:
        raise Reject(f"fetch of {uri} refused: {exc}") from exc
    except _PERMANENT_FETCH_ERRORS as exc:
        raise Reject(f"fetch of {uri} failed: {exc!r}") from exc
    if not isinstance(document, dict):
        raise Reject(f"{uri} is not an ActivityStreams object")
    return document


def actor_get(uri: str, *, refresh: bool = False) -> Account:
    """The remote account for an actor id: known, or fetched and stored by `fetch.actor_resolve`."""
    if is_local_uri(uri):
        account = local_account_by_uri(uri)
        if account is None:
            raise Ignore(f"unknown local actor {uri}")
        return account
    if not refresh:
        known = Account.objects.filter(uri=uri).first()
        if known is not None:
            return known
    try:
        return fetch.actor_resolve(uri, refresh=refresh)
    except policy.DomainBlocked as exc:
        raise Ignore(f"actor {uri} is on a suspended domain") from exc
    except fetch.FetchRefused as exc:
        raise Reject(f"actor {uri} could not be resolved: {exc}") from exc
    except _PERMANENT_FETCH_ERRORS as exc:
        raise Reject(f"actor {uri} could not be fetched: {exc!r}") from exc


#: Errors a best-effort fetch (reply parents, mentioned actors) swallows.
OPTIONAL_FETCH_ERRORS: tuple[type[Exception], ...] = (Ignore, http.FetchError)


# --- Per-object lock ---------------------------------------------------------------------------


def object_lock(uri: str) -> None:
    """Serialise Create, Update and Delete of one object id until the transaction ends.

    Mastodon holds `create:<uri>` / `delete_status_in_progress:<uri>` locks, so a Delete racing
    its Create cannot leave the post behind its tombstone. On PostgreSQL this is a transaction
    advisory lock; SQLite serialises writers anyway. Call it inside `transaction.atomic()`.
    """
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(uri.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def objects_lock(uris: list[str]) -> None:
    """`object_lock` for many ids at once: one statement, the locks taken in key order, so two
    batches sharing some ids wait for each other instead of deadlocking."""
    if connection.vendor != "postgresql" or not uris:
        return
    keys = sorted(
        {int.from_bytes(hashlib.sha256(u.encode()).digest()[:8], "big", signed=True) for u in uris}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS ordered",
            [keys],
        )
