"""ModerationVote (and its Undo) from a user of another OUR Voice server (moderation.md §2.2).

The inbox has verified the HTTP signature, the Date window and the digest, and that the signer
is the activity's `actor` (so a vote relayed by a third server is refused there); the inbox
item is stored once per activity id (replays change nothing); `common.activity_check_origin`
has checked that the id is on the actor's origin and that neither the actor nor its domain is
suspended. Here, before anything is recorded:

- a vote is never addressed to Public (votes are private: refused);
- `object` is a post of this server that exists;
- `verdict` is `remove` or `keep`;
- `reasonCode` (≤ 32 characters of `[A-Za-z0-9:._-]`, else `other`), `content` (sanitised to
  plain text, ≤ 500 characters), `objectVersion` (≤ 80) and `target` (a local URL) are
  normalised.

Accepted votes become one `moderation.vote.received` outbox event, withdrawn votes
`moderation.vote.undo_received`; the moderation package consumes them (it decides whether
the vote counts). No moderation row is written here: federation never imports moderation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import first_id, is_public, same_origin
from federation.models import InboxItem
from ourvoice.accounts.models import Account
from ourvoice.core.html import html_to_text, sanitize_html
from ourvoice.core.outbox import outbox_record
from ourvoice.posts.models import Post

OV_NAMESPACE = "https://ourvoice.example/ns/moderation#"
#: Spellings of the activity type: compact (our inline context), prefixed and expanded.
VOTE_TYPES = frozenset({"ModerationVote", "ov:ModerationVote", f"{OV_NAMESPACE}ModerationVote"})
VERDICTS = frozenset({"remove", "keep"})
MAX_REASON = 32
MAX_COMMENT = 500
MAX_OBJECT_VERSION = 80
DEFAULT_REASON = "other"
_REASON_RE = re.compile(r"[A-Za-z0-9:._-]{1,32}")
#: Addressing properties that must never name Public.
_ADDRESSING = ("to", "cc", "bto", "bcc", "audience")


def _reason(value: Any) -> str:
    if isinstance(value, str) and _REASON_RE.fullmatch(value.strip()):
        return value.strip()
    return DEFAULT_REASON


def _comment(activity: Mapping[str, Any]) -> str:
    content = common.string_of(activity.get("content"))
    if not content:
        content_map = activity.get("contentMap")
        if isinstance(content_map, Mapping):
            content = next((v for v in content_map.values() if isinstance(v, str)), "")
    if not content:
        return ""
    return html_to_text(sanitize_html(content)).strip()[:MAX_COMMENT]


def _object_version(value: Any) -> str:
    if isinstance(value, str) and len(value) <= MAX_OBJECT_VERSION:
        return value
    return ""


def _target(value: Any) -> str:
    target = first_id(value)
    if target and len(target) <= common.MAX_ID_LENGTH and common.is_local_uri(target):
        return target
    return ""


def vote_check_private(activity: Mapping[str, Any]) -> None:
    """Refuse a vote addressed to Public (moderation.md §2.2: never Public, never listed)."""
    if is_public(*(activity.get(key) for key in _ADDRESSING)):
        raise Reject("a ModerationVote is never addressed to Public")


def handle(*, activity: dict[str, Any], actor: Account, activity_id: str) -> None:
    """Check a remote vote and record `moderation.vote.received` for moderation."""
    vote_check_private(activity)
    object_uri = first_id(activity.get("object"))
    if not object_uri or not common.is_local_uri(object_uri):
        raise Reject("a ModerationVote's object is a post of this server")
    if not Post.objects.filter(uri=object_uri, local=True).exists():
        raise Ignore(f"no local post {object_uri[:200]}")
    verdict = activity.get("verdict")
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise Reject(f"unknown verdict {str(verdict)[:40]!r}")
    outbox_record(
        kind="moderation.vote.received",
        payload={
            "activity_id": activity_id,
            "actor_id": actor.pk,
            "object": object_uri,
            "verdict": verdict,
            "reason_code": _reason(activity.get("reasonCode")),
            "comment": _comment(activity),
            "object_version": _object_version(activity.get("objectVersion")),
            "target": _target(activity.get("target")),
        },
    )


def vote_was_received(*, actor: Account, vote_uri: str) -> bool:
    """True if `actor` sent us a ModerationVote with this id (an Undo may name it by id only)."""
    return InboxItem.objects.filter(
        activity_id=vote_uri,
        actor_uri=actor.uri,
        activity_type__in=VOTE_TYPES,
        state=InboxItem.State.DONE,
    ).exists()


def undo_record(*, actor: Account, activity_id: str, inner: Mapping[str, Any] | str | None) -> None:
    """Undo{ModerationVote}: record `moderation.vote.undo_received` for moderation.

    The vote is the Undo actor's own: an embedded vote names the same `actor`, and its id is
    on the actor's origin (FEP-fe34). Whether such a vote exists and may still be withdrawn is
    moderation's business (an Undo after the decision changes nothing).
    """
    vote_uri = first_id(inner)
    if not vote_uri or len(vote_uri) > common.MAX_ID_LENGTH:
        raise Reject("an Undo of a ModerationVote names the vote")
    if isinstance(inner, Mapping) and first_id(inner.get("actor")) != actor.uri:
        raise Reject("Undo of another actor's ModerationVote")
    if not same_origin(vote_uri, actor.uri):
        raise Reject("the undone ModerationVote is not on the actor's origin")
    outbox_record(
        kind="moderation.vote.undo_received",
        payload={"activity_id": activity_id, "actor_id": actor.pk, "vote_uri": vote_uri},
    )
