"""Mastodon entities (one renderer per entity), shared by every endpoint.

Renderers take rows plus a context loaded in bulk for a whole page, so rendering N statuses
costs a constant number of queries. Shapes follow mastodon-api.md §4: every required key is
present, ids are strings, datetimes carry milliseconds, arrays are never null.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.templatetags.static import static

from moderation.models import Report
from moderation.selectors import reports_get_many
from ourvoice.accounts.models import Account
from ourvoice.core.urls import absolute_url, hashtag_url
from ourvoice.interactions.models import Pin, Repost
from ourvoice.interactions.selectors import TimelineEntry, ViewerFlags, interaction_flags_for
from ourvoice.posts.models import Hashtag, MediaAttachment, Mention, Post


def iso(value: datetime | None) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS.sssZ` in UTC (mastodon-api.md §0.4)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_date(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.isoformat()


def _asset(path: str) -> str:
    url = static(path)
    return url if url.startswith("http") else absolute_url(url)


@cache
def default_avatar() -> str:
    return _asset("ourvoice/avatar.png")


@cache
def default_header() -> str:
    return _asset("ourvoice/header.png")


# --- Account ------------------------------------------------------------------------------------


def render_account(account: Account) -> dict[str, Any]:
    avatar = account.avatar_url or default_avatar()
    header = account.header_url or default_header()
    created = account.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "id": str(account.id),
        "username": account.username,
        "acct": account.acct,
        "display_name": account.display_name,
        "locked": account.locked,
        "bot": account.bot or account.kind in (Account.Kind.SERVICE, Account.Kind.APPLICATION),
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "group": account.kind == Account.Kind.GROUP,
        "noindex": not account.indexable,
        "created_at": iso(created),
        "note": account.note,
        "url": account.url or account.uri,
        "uri": account.uri,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "last_status_at": iso_date(account.last_status_at),
        "hide_collections": False,
        "emojis": [],
        "fields": [
            {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": None}
            for f in (account.fields or [])
        ],
        "moved": None,
        "suspended": account.is_suspended,
        "limited": account.is_silenced,
        "memorial": False,
        "roles": [],
    }


def render_credential_account(
    account: Account,
    *,
    follow_requests_count: int = 0,
    privacy: str = "public",
    sensitive: bool = False,
    language: str = "",
) -> dict[str, Any]:
    """verify_credentials / update_credentials: Account + `source` + `role`."""
    data = render_account(account)
    is_admin = bool(account.user and account.user.is_staff)
    data["source"] = {
        "privacy": privacy,
        "sensitive": sensitive,
        "language": language or None,
        "note": account.note_source,
        "fields": [
            {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": None}
            for f in (account.fields or [])
        ],
        "follow_requests_count": follow_requests_count,
        "discoverable": account.discoverable,
        "indexable": account.indexable,
        "hide_collections": False,
    }
    data["role"] = {
        "id": "3" if is_admin else "-99",
        "name": "Admin" if is_admin else "",
        "permissions": "1" if is_admin else "0",
        "color": "",
        "highlighted": is_admin,
    }
    return data


# --- Media --------------------------------------------------------------------------------------


def render_media(media: MediaAttachment) -> dict[str, Any]:
    url = media.url or (absolute_url(media.file.url) if media.file else "") or media.remote_url
    meta: dict[str, Any] = {"focus": {"x": media.focus_x, "y": media.focus_y}}
    if media.width and media.height:
        size = {
            "width": media.width,
            "height": media.height,
            "size": f"{media.width}x{media.height}",
            "aspect": round(media.width / media.height, 6),
        }
        meta["original"] = size
        meta["small"] = dict(size)
    else:
        meta["original"] = {}
        meta["small"] = {}
    return {
        "id": str(media.id),
        "type": media.type,
        "url": url or None,
        "preview_url": media.preview_url or url or None,
        "remote_url": media.remote_url or None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": media.description or None,
        "blurhash": media.blurhash or None,
    }


# --- Status -------------------------------------------------------------------------------------


@dataclass
class StatusContext:
    """Everything a page of statuses needs, loaded with a fixed number of queries."""

    viewer: Account | None
    flags: ViewerFlags
    mentions: dict[int, list[Account]] = field(default_factory=dict)
    tags: dict[int, list[Hashtag]] = field(default_factory=dict)
    media: dict[int, list[MediaAttachment]] = field(default_factory=dict)
    pinned: frozenset[int] = frozenset()

    @classmethod
    def build(cls, *, viewer: Account | None, posts: Iterable[Post]) -> StatusContext:
        post_list = list({p.pk: p for p in posts}.values())
        ids = [p.pk for p in post_list]
        ctx = cls(viewer=viewer, flags=interaction_flags_for(viewer=viewer, post_ids=ids))
        if not ids:
            return ctx
        mentions: dict[int, list[Account]] = defaultdict(list)
        for row in Mention.objects.filter(post_id__in=ids).select_related("account"):
            mentions[row.post_id].append(row.account)
        ctx.mentions = mentions
        tags: dict[int, list[Hashtag]] = defaultdict(list)
        through = Post.hashtags.through
        for row in through.objects.filter(post_id__in=ids).select_related("hashtag"):
            tags[row.post_id].append(row.hashtag)
        ctx.tags = tags
        media: dict[int, list[MediaAttachment]] = defaultdict(list)
        for item in MediaAttachment.objects.filter(post_id__in=ids).order_by("position", "id"):
            media[item.post_id].append(item)
        ctx.media = media
        ctx.pinned = _pinned_ids(viewer, ids)
        return ctx


def _pinned_ids(viewer: Account | None, ids: Sequence[int]) -> frozenset[int]:
    if viewer is None:
        return frozenset()
    return frozenset(
        Pin.objects.filter(account=viewer, post_id__in=ids).values_list("post_id", flat=True)
    )


#: Content warning shown on a post while a community-moderation case on it is pending or held.
COLLAPSED_WARNING = "Under community moderation review"


def _spoiler(post: Post) -> str:
    if post.collapsed_at is None:
        return post.spoiler_text
    return f"{COLLAPSED_WARNING}: {post.spoiler_text}" if post.spoiler_text else COLLAPSED_WARNING


def render_post(post: Post, ctx: StatusContext) -> dict[str, Any]:
    viewer = ctx.viewer
    data: dict[str, Any] = {
        "id": str(post.id),
        "uri": post.uri,
        "url": post.url or None,
        "created_at": iso(post.published_at),
        "edited_at": iso(post.edited_at),
        "account": render_account(post.author),
        "content": post.content,
        "visibility": post.visibility,
        "sensitive": post.sensitive or post.collapsed_at is not None,
        "spoiler_text": _spoiler(post),
        "language": post.language or None,
        "media_attachments": [render_media(m) for m in ctx.media.get(post.pk, [])],
        "mentions": [
            {"id": str(a.id), "username": a.username, "acct": a.acct, "url": a.url or a.uri}
            for a in ctx.mentions.get(post.pk, [])
        ],
        "tags": [{"name": t.name, "url": hashtag_url(t.name)} for t in ctx.tags.get(post.pk, [])],
        "emojis": [],
        "reblogs_count": post.reposts_count,
        "favourites_count": post.likes_count,
        "replies_count": post.replies_count,
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": (
            str(post.in_reply_to_account_id)
            if post.in_reply_to_id and post.in_reply_to_account_id
            else None
        ),
        "reblog": None,
        "poll": None,
        "card": None,
        "application": (
            {"name": post.application_name, "website": post.application_website or None}
            if post.local and post.application_name
            else None
        ),
    }
    if viewer is not None:
        data["favourited"] = post.pk in ctx.flags.liked
        data["reblogged"] = post.pk in ctx.flags.reposted
        data["bookmarked"] = post.pk in ctx.flags.bookmarked
        data["muted"] = False
        if post.author_id == viewer.pk:
            data["pinned"] = post.pk in ctx.pinned
        data["filtered"] = []
    return data


def render_repost(repost: Repost, ctx: StatusContext) -> dict[str, Any]:
    """The reblog wrapper: its own id and uri, the booster as account, the original nested."""
    original = render_post(repost.post, ctx)
    data: dict[str, Any] = {
        "id": str(repost.id),
        "uri": repost.uri or f"{repost.post.uri}#reblog-{repost.id}",
        "url": None,
        "created_at": iso(repost.created_at),
        "edited_at": None,
        "account": render_account(repost.account),
        "content": "",
        "visibility": repost.visibility,
        "sensitive": False,
        "spoiler_text": "",
        "language": None,
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "reblogs_count": 0,
        "favourites_count": 0,
        "replies_count": 0,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "reblog": original,
        "poll": None,
        "card": None,
        "application": None,
    }
    for key in ("favourited", "reblogged", "bookmarked", "muted", "filtered"):
        if key in original:
            data[key] = original[key]
    if ctx.viewer is not None and repost.account_id == ctx.viewer.pk:
        data["pinned"] = False
    return data


def render_entries(entries: Sequence[TimelineEntry], *, viewer: Account | None) -> list[dict]:
    """A page of timeline entries (posts and boosts) as statuses."""
    ctx = StatusContext.build(viewer=viewer, posts=[e.post for e in entries])
    return [render_repost(e.repost, ctx) if e.repost else render_post(e.post, ctx) for e in entries]


def render_posts(posts: Sequence[Post], *, viewer: Account | None) -> list[dict]:
    ctx = StatusContext.build(viewer=viewer, posts=posts)
    return [render_post(p, ctx) for p in posts]


def render_status(post: Post, *, viewer: Account | None) -> dict[str, Any]:
    return render_posts([post], viewer=viewer)[0]


# --- Relationship -------------------------------------------------------------------------------


def render_relationship(account_id: int, rel: Any) -> dict[str, Any]:
    """Relationship entity from a `relationships_for` result row (every boolean present)."""
    return {
        "id": str(account_id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": None,
        "followed_by": rel.followed_by,
        "blocking": rel.blocking,
        "blocked_by": rel.blocked_by,
        "muting": rel.muting,
        "muting_notifications": rel.muting_notifications,
        "requested": rel.requested,
        "requested_by": rel.requested_by,
        "domain_blocking": rel.domain_blocking,
        "endorsed": False,
        "note": "",
    }


# --- Notification -------------------------------------------------------------------------------


def render_report(report: Report) -> dict[str, Any]:
    """Mastodon's Report entity (as the reporter, or an admin in a notification, sees it)."""
    return {
        "id": str(report.id),
        "action_taken": report.is_resolved,
        "action_taken_at": iso(report.resolved_at),
        "category": report.category,
        "comment": report.comment,
        "forwarded": report.forwarded,
        "created_at": iso(report.created_at),
        "status_ids": [str(i) for i in report.status_ids],
        # Mastodon stores no rule ids unless some were given, and then renders null.
        "rule_ids": [str(i) for i in report.rule_ids] if report.rule_ids else None,
        "target_account": render_account(report.target_account),
    }


def render_notifications(items: Sequence[Any], *, viewer: Account) -> list[dict[str, Any]]:
    posts = [n.post for n in items if n.post_id]
    ctx = StatusContext.build(viewer=viewer, posts=posts)
    report_ids = [n.report_id for n in items if n.report_id]
    reports = {r.pk: r for r in reports_get_many(report_ids=report_ids)} if report_ids else {}
    return [
        {
            "id": str(n.id),
            "type": n.type,
            "group_key": f"ungrouped-{n.id}",
            "created_at": iso(n.created_at),
            "account": render_account(n.from_account),
            "status": render_post(n.post, ctx) if n.post_id else None,
            "report": render_report(reports[n.report_id]) if n.report_id in reports else None,
        }
        for n in items
    ]


def instance_version() -> str:
    return f"4.2.0 (compatible; OUR Voice {settings.VERSION})"
