"""Flag: a report from another server about local accounts or posts (federation.md §4).

Recorded as a `report.received` outbox event for the moderation package (which opens or
updates a case: one domain-level voter, decisions.md); no moderation row is written here.
Mastodon sends it from its instance actor with `object = [reported actor, statuses...]`;
GoToSocial omits `to`; Misskey sends only the account. Only objects that are ours and that we
hold are kept; a report naming none of them, or from a domain whose reports admins reject,
is ignored.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q

from federation.inbound import common
from federation.inbound.errors import Ignore
from federation.jsonld import ids_of
from ourvoice.accounts.models import Account
from ourvoice.core.html import html_to_text, sanitize_html
from ourvoice.core.outbox import outbox_record
from ourvoice.posts.models import Post

MAX_CONTENT = 5_000
MAX_OBJECTS = 100
_POST_PAGE = re.compile(r"/@[^/]+/([0-9]{1,19})$")


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Record the report for moderation."""
    if common.reports_rejected(actor.domain):
        raise Ignore(f"reports from {actor.domain} are rejected")
    candidates = [
        u for u in dict.fromkeys(ids_of(activity.get("object"))) if common.is_local_uri(u)
    ]
    candidates = candidates[:MAX_OBJECTS]
    known = set(
        Account.objects.filter(
            Q(uri__in=candidates) | Q(url__in=candidates), domain=""
        ).values_list("uri", "url")
    )
    known_uris = {value for pair in known for value in pair}
    # A post may be named by its id or by its page URL (`/@user/<id>`, read by primary key:
    # `url` has no index); either way its id is reported.
    page_ids = [int(m.group(1)) for u in candidates if (m := _POST_PAGE.search(u))]
    page_ids = [pk for pk in page_ids if pk < 2**63]
    post_uris: dict[str, str] = {}
    for uri, url in Post.objects.filter(
        Q(uri__in=candidates) | Q(pk__in=page_ids), local=True
    ).values_list("uri", "url"):
        post_uris[uri] = uri
        if url:
            post_uris.setdefault(url, uri)
    object_uris = list(
        dict.fromkeys(post_uris.get(u, u) for u in candidates if u in known_uris or u in post_uris)
    )
    if not object_uris:
        raise Ignore("the report names nothing of ours")
    content = common.string_of(activity.get("content"))
    text = html_to_text(sanitize_html(content))[:MAX_CONTENT] if content else ""
    outbox_record(
        kind="report.received",
        payload={
            "actor": actor.uri,
            "actor_id": actor.pk,
            "object_uris": object_uris,
            "content": text,
            "activity_id": activity_id,
        },
    )
