"""The inbox: POST /inbox (shared), /users/<username>/inbox and /actor/inbox.

A plain Django view on the hottest federation path (decisions.md, Core rule 3; performance.md
§3): no DRF, orjson, keys cached in process, one INSERT, no per-request task publish. In order:

- 405 for anything but POST; 413 over 1 MiB (the declared length, then the bytes read);
- 404 for a personal inbox of an unknown local account;
- 400 for a body that is not a JSON object with string `id`, `type` and `actor`, or that uses
  `@graph`/`@reverse`/`@included`/`@nest` (GHSA-9rfg-v8g9-9367);
- 403 for a suspended domain, and 401 for a missing, malformed, stale or invalid signature, a
  digest mismatch, or a signer that is not the activity's actor or not on its id's origin (all
  in `federation.verify`; the domain and the origins are checked before any key is fetched);
- 429 with Retry-After when the (verified) domain floods us (only with OURVOICE_RATE_LIMITS);
- then one durable write (`processing.inbox_item_store`; a replayed id stores nothing more) and
  202. Processing happens later on the `inbox` queue.

A refused request persists nothing: key resolution runs in a transaction rolled back on failure.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from federation import policy, processing, services, tasks_inbox, verify
from federation.jsonld import UnsafeDocument, first_id, reject_reshaping_keywords
from federation.policy import DomainBlocked
from ourvoice.accounts.models import Account

#: Largest accepted body (Mastodon's MAX_JSON_SIZE).
MAX_BODY_BYTES = 1024 * 1024
#: Longest id we store (the column is 2048 characters).
MAX_ID_LENGTH = 2048
#: Seconds a known local inbox owner stays cached in the process.
LOCAL_INBOX_TTL = 60
#: The inbox routes (`federation/urls_inbox.py`; `username` as its `<str:username>`), which
#: `ourvoice.wsgi` serves without the middleware stack or URL resolution.
INBOX_PATH = re.compile(r"/(?:inbox|actor/inbox|users/(?P<username>[^/]+)/inbox)")

_JSON = "application/json"


def _error(status: int, message: str, **headers: str) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps({"error": message}), status=status, content_type=_JSON, headers=headers
    )
    return response


_owners = policy.ProcessCache(LOCAL_INBOX_TTL)


def _local_inbox_exists(username: str) -> bool:
    key = username.lower()
    if _owners.get(key):
        return True
    exists = (
        Account.objects.filter(domain="", username__iexact=username, suspended_at__isnull=True)
        .exclude(role=Account.Role.INSTANCE)
        .exists()
    )
    if exists:
        _owners.set(key, True)
    return exists


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (declared or actually sent)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _is_http_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_ID_LENGTH
        and value.startswith(("https://", "http://"))
    )


def _parse(body: bytes) -> dict[str, Any] | str:
    """The activity, or the reason it is malformed."""
    if b"\\u0000" in body:
        return "Body contains a NUL character"  # PostgreSQL's jsonb cannot store it
    try:
        activity = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "Body is not valid JSON"
    if not isinstance(activity, dict):
        return "An activity is a JSON object"
    if not isinstance(activity.get("type"), (str, list)) or not activity.get("type"):
        return "Activity has no type"
    if not _is_http_id(activity.get("id")):
        return "Activity has no id"
    if not _is_http_id(first_id(activity.get("actor"))):
        return "Activity has no actor"
    try:
        reject_reshaping_keywords(activity)
    except UnsafeDocument as exc:
        return f"Activity refused: {exc}"
    return activity


def _type_of(activity: dict[str, Any]) -> str:
    value = activity.get("type")
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str)), "")
    return value if isinstance(value, str) else ""


@csrf_exempt
def inbox(request: HttpRequest, username: str | None = None) -> HttpResponse:
    """Accept one signed activity for processing (202), or refuse it with nothing stored."""
    if request.method != "POST":
        return _error(405, "Method not allowed", Allow="POST")
    request.get_host()  # DisallowedHost (400) as CommonMiddleware would, which may be skipped
    body = _read_body(request)
    if body is None:
        return _error(413, "Payload too large")
    if username is not None and not _local_inbox_exists(username):
        return _error(404, "Record not found")
    activity = _parse(body)
    if isinstance(activity, str):
        return _error(400, activity)
    try:
        verified = verify.verify_signed_activity(request, body, activity=activity)
    except DomainBlocked:
        return _error(403, "Forbidden")
    except verify.SignatureRejected:
        return _error(401, "Request not signed by the activity's actor")
    domain = verified.owner.domain
    retry_after = policy.inbox_rate_check(domain)
    if retry_after:
        return _error(429, "Too many requests", **{"Retry-After": str(retry_after)})
    known = policy.instance_for(domain)  # cached: no query on the hot path
    if known is not None and (known.unavailable_since is not None or known.failure_days):
        # A signed request proves the domain is up (Mastodon resets its failure tracker too).
        services.instance_mark_available(domain=domain)
        policy.policy_cache_clear(domain)
    try:
        stored = processing.inbox_item_store(
            activity_id=activity["id"],
            activity_type=_type_of(activity),
            actor_uri=verified.owner.uri,
            key_id=verified.key_id,
            body=body,
        )
    except DataError:
        return _error(400, "Activity cannot be stored")
    if stored:
        tasks_inbox.inbox_kick()
    return HttpResponse(status=202)
