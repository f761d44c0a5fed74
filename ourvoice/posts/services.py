"""Write operations on posts: create, edit (with history), delete, archive, restore, remove."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from ourvoice.accounts.models import Account, Block
from ourvoice.core import urls
from ourvoice.core.errors import Conflict, Invalid, NotAllowed, NotFound
from ourvoice.core.html import (
    extract_hashtags,
    extract_mentions,
    render_plain_text,
    sanitize_html,
)
from ourvoice.core.outbox import outbox_record, outbox_record_many
from ourvoice.posts.feeds import feed_fanout_post, feed_fanout_posts
from ourvoice.posts.models import Hashtag, MediaAttachment, Mention, Post, PostEdit, Visibility
from ourvoice.posts.selectors import posts_visible_q

logger = logging.getLogger(__name__)

MAX_CHARACTERS = 500
MAX_MEDIA = 4
MAX_SPOILER = 500
VISIBILITIES = {v.value for v in Visibility}


def _validate(
    *,
    text: str,
    spoiler_text: str,
    visibility: str,
    media: Sequence[MediaAttachment],
    language: str,
) -> None:
    if visibility not in VISIBILITIES:
        raise Invalid(
            f"Visibility must be one of {', '.join(sorted(VISIBILITIES))}.", field="visibility"
        )
    if not text.strip() and not media:
        raise Invalid("Text can't be blank", field="status")
    if len(text) > MAX_CHARACTERS:
        raise Invalid(f"Text is longer than {MAX_CHARACTERS} characters", field="status")
    if len(spoiler_text) > MAX_SPOILER:
        raise Invalid(
            f"Content warning is longer than {MAX_SPOILER} characters", field="spoiler_text"
        )
    if len(media) > MAX_MEDIA:
        raise Invalid(f"At most {MAX_MEDIA} media attachments are allowed", field="media_ids")
    if language and (len(language) > 16 or not language.replace("-", "").isalnum()):
        raise Invalid("Language must be an ISO 639 code", field="language")


def _mention_domain(domain: str) -> str:
    """The stored form of a mentioned domain: "" for this instance (`@bob@our.host` is local)."""
    value = urls.normalize_domain(domain) if domain else ""
    return "" if value == urls.normalize_domain(settings.OURVOICE_DOMAIN) else value


def _resolve_mentions(text: str) -> list[Account]:
    accounts: list[Account] = []
    for username, domain in extract_mentions(text):
        account = (
            Account.objects.filter(username__iexact=username, domain=_mention_domain(domain))
            .exclude(suspended_at__isnull=False)
            .first()
        )
        if account and account not in accounts:
            accounts.append(account)
    return accounts


def _render(text: str, mentioned: list[Account]) -> str:
    by_key = {(a.username.lower(), a.domain): a.url or a.uri for a in mentioned}

    def mention_url(username: str, domain: str) -> str | None:
        return by_key.get((username.lower(), _mention_domain(domain)))

    return render_plain_text(text, mention_url=mention_url, hashtag_url=urls.hashtag_url)


def _hashtags(names: list[str]) -> list[Hashtag]:
    tags = []
    for name in names[:50]:
        tag, _ = Hashtag.objects.get_or_create(name=name[:255])
        tags.append(tag)
    return tags


def _own_media(
    author: Account, media_ids: Sequence[int | str], post: Post | None
) -> list[MediaAttachment]:
    ids = []
    for value in media_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError) as exc:
            raise Invalid("Media ids must be numbers", field="media_ids") from exc
    if not ids:
        return []
    found = {
        m.pk: m
        for m in MediaAttachment.objects.select_for_update().filter(pk__in=ids, account=author)
    }
    media = []
    for pk in ids:
        item = found.get(pk)
        if item is None or (item.post_id is not None and (post is None or item.post_id != post.pk)):
            raise Invalid("Media attachment not found or already used", field="media_ids")
        media.append(item)
    return media


@transaction.atomic
def post_create(
    *,
    author: Account,
    text: str,
    visibility: str = Visibility.PUBLIC,
    spoiler_text: str = "",
    sensitive: bool = False,
    language: str = "",
    in_reply_to: Post | None = None,
    media_ids: Sequence[int | str] = (),
    application_name: str = "",
    application_website: str = "",
    published_at: datetime | None = None,
) -> Post:
    """Publish a local post (a reply when `in_reply_to` is given).

    Mentions of known accounts become links and `Mention` rows (direct posts reach exactly
    them); hashtags become `Hashtag` rows. Records `post.created`.
    Precondition: the caller has checked that `author` may post (logged in, not suspended).
    """
    if not author.local:
        raise NotAllowed("Remote accounts cannot post here.")
    if author.is_suspended:
        raise NotAllowed("Your account is suspended.")
    text = (text or "").replace("\r\n", "\n")
    spoiler_text = (spoiler_text or "").strip()
    media = _own_media(author, media_ids, None)
    _validate(
        text=text, spoiler_text=spoiler_text, visibility=visibility, media=media, language=language
    )
    if in_reply_to is not None:
        # The block check comes first: posts_visible_q also hides the posts of accounts that
        # blocked the author, which would turn this clear refusal into a NotFound.
        if Block.objects.filter(account_id=in_reply_to.author_id, target=author).exists():
            raise NotAllowed("You cannot reply to this account")
        if not Post.objects.filter(posts_visible_q(author), pk=in_reply_to.pk).exists():
            raise NotFound("The post you are replying to does not exist")
    mentioned = _resolve_mentions(text)
    post = Post(
        author=author,
        source=text,
        spoiler_text=spoiler_text,
        sensitive=bool(sensitive) or bool(spoiler_text),
        language=language,
        visibility=visibility,
        local=True,
        application_name=application_name[:255],
        application_website=application_website[:2048],
        published_at=published_at or timezone.now(),
    )
    post.uri = urls.post_uri(author.username, post.id)
    post.url = urls.post_url(author.username, post.id)
    post.content = _render(text, mentioned)
    if in_reply_to is not None:
        post.in_reply_to = in_reply_to
        post.in_reply_to_uri = in_reply_to.uri
        post.in_reply_to_account_id = in_reply_to.author_id
        post.thread_root_id = in_reply_to.thread_root_id or in_reply_to.pk
    post.save(force_insert=True)
    Mention.objects.bulk_create([Mention(post=post, account=a) for a in mentioned])
    post.hashtags.set(_hashtags(extract_hashtags(text)))
    for position, item in enumerate(media):
        item.post = post
        item.position = position
        item.save(update_fields=["post", "position"])
    if in_reply_to is not None:
        Post.objects.filter(pk=in_reply_to.pk).update(replies_count=F("replies_count") + 1)
    Account.objects.filter(pk=author.pk).update(
        statuses_count=F("statuses_count") + 1, last_status_at=post.published_at
    )
    feed_fanout_post(post=post)
    outbox_record(kind="post.created", payload={"post_id": post.id, "author_id": author.id})
    logger.info(
        "post created post_id=%s author_id=%s visibility=%s", post.id, author.id, visibility
    )
    return post


@transaction.atomic
def post_update(
    *,
    post: Post,
    editor: Account,
    text: str,
    spoiler_text: str | None = None,
    sensitive: bool | None = None,
    language: str | None = None,
    media_ids: Sequence[int | str] | None = None,
) -> Post:
    """Edit a local post; the previous version is kept in `PostEdit`. Records `post.updated`."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.author_id != editor.pk:
        raise NotAllowed("Only the author can edit this post.")
    if post.state != Post.State.ACTIVE:
        raise Conflict("This post can no longer be edited.")
    text = (text or "").replace("\r\n", "\n")
    new_spoiler = post.spoiler_text if spoiler_text is None else spoiler_text.strip()
    new_language = post.language if language is None else language
    current_media = list(post.media.all())
    media = current_media if media_ids is None else _own_media(editor, media_ids, post)
    _validate(
        text=text,
        spoiler_text=new_spoiler,
        visibility=post.visibility,
        media=media,
        language=new_language,
    )
    if not post.edits.exists():
        # The first history entry is the original version, as Mastodon shows it.
        PostEdit.objects.create(
            post=post,
            content=post.content,
            source=post.source,
            spoiler_text=post.spoiler_text,
            sensitive=post.sensitive,
            media_ids=[m.pk for m in current_media],
            created_at=post.published_at,
        )
    mentioned = _resolve_mentions(text)
    now = timezone.now()
    post.source = text
    post.content = _render(text, mentioned)
    post.spoiler_text = new_spoiler
    post.sensitive = (post.sensitive if sensitive is None else bool(sensitive)) or bool(new_spoiler)
    post.language = new_language
    post.edited_at = now
    post.save(
        update_fields=["source", "content", "spoiler_text", "sensitive", "language", "edited_at"]
    )
    existing = set(Mention.objects.filter(post=post).values_list("account_id", flat=True))
    Mention.objects.bulk_create(
        [Mention(post=post, account=a) for a in mentioned if a.pk not in existing]
    )
    post.hashtags.set(_hashtags(extract_hashtags(text)))
    if media_ids is not None:
        MediaAttachment.objects.filter(post=post).exclude(pk__in=[m.pk for m in media]).update(
            post=None
        )
        for position, item in enumerate(media):
            item.post = post
            item.position = position
            item.save(update_fields=["post", "position"])
    PostEdit.objects.create(
        post=post,
        content=post.content,
        source=post.source,
        spoiler_text=post.spoiler_text,
        sensitive=post.sensitive,
        media_ids=[m.pk for m in media],
        created_at=now,
    )
    outbox_record(kind="post.updated", payload={"post_id": post.id, "author_id": editor.id})
    return post


def _leave_active(
    post: Post,
    new_state: str,
    kind: str,
    *,
    allowed_from: tuple[str, ...],
    event_extra: dict[str, Any] | None = None,
) -> bool:
    """Compare-and-set the state; adjust counters when the post stops counting. True if changed."""
    now = timezone.now()
    changed = Post.objects.filter(pk=post.pk, state__in=allowed_from).update(
        state=new_state, state_changed_at=now
    )
    if not changed:
        return False
    counted = post.state in (Post.State.ACTIVE, Post.State.ARCHIVED)
    post.state = new_state
    post.state_changed_at = now
    if counted and new_state in (Post.State.DELETED, Post.State.REMOVED):
        if post.in_reply_to_id:
            Post.objects.filter(pk=post.in_reply_to_id).update(
                replies_count=Greatest(F("replies_count") - 1, 0)
            )
        Account.objects.filter(pk=post.author_id).update(
            statuses_count=Greatest(F("statuses_count") - 1, 0)
        )
    payload = {"post_id": post.id, "author_id": post.author_id, **(event_extra or {})}
    outbox_record(kind=kind, payload=payload)
    return True


@transaction.atomic
def post_delete(*, post: Post, actor: Account) -> Post:
    """Delete a post by its author. The row stays as a tombstone (its URL answers 410).

    Records `post.deleted`. Deleting twice is a Conflict.
    """
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.author_id != actor.pk:
        raise NotAllowed("Only the author can delete this post.")
    if not _leave_active(
        post,
        Post.State.DELETED,
        "post.deleted",
        allowed_from=(Post.State.ACTIVE, Post.State.ARCHIVED),
    ):
        raise Conflict("This post is already deleted.")
    return post


@transaction.atomic
def post_archive(*, post: Post) -> Post:
    """Hide a post from every timeline and from other people while keeping it for its author
    and admins (an admin action). Records `post.archived`."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.state == Post.State.ARCHIVED:
        return post
    if not _leave_active(
        post, Post.State.ARCHIVED, "post.archived", allowed_from=(Post.State.ACTIVE,)
    ):
        raise Conflict("Only an active post can be archived.")
    return post


@transaction.atomic
def post_restore(*, post: Post) -> Post:
    """Bring an archived (or moderation-removed) post back. Records `post.restored`."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.state == Post.State.ACTIVE:
        return post
    if post.state == Post.State.DELETED:
        raise Conflict("A post deleted by its author cannot be restored.")
    previous = post.state
    Post.objects.filter(pk=post.pk).update(state=Post.State.ACTIVE, state_changed_at=timezone.now())
    post.state = Post.State.ACTIVE
    if previous == Post.State.REMOVED:
        if post.in_reply_to_id:
            Post.objects.filter(pk=post.in_reply_to_id).update(replies_count=F("replies_count") + 1)
        Account.objects.filter(pk=post.author_id).update(statuses_count=F("statuses_count") + 1)
    outbox_record(kind="post.restored", payload={"post_id": post.id, "author_id": post.author_id})
    return post


@transaction.atomic
def post_remove(*, post: Post, activity_id: str = "", extra: dict[str, Any] | None = None) -> bool:
    """Remove a post by moderation decision: one compare-and-set from active or archived.

    Returns True only for the call that changed the state (so exactly one `post.removed`
    event exists per removal, however many callers race). `activity_id` (the Delete's
    deterministic id) and `extra` (fields merged into the Delete, e.g. `summary` and the
    `decision` link) travel in the event payload to whoever announces the removal.
    """
    post = Post.objects.select_for_update().get(pk=post.pk)
    event_extra: dict[str, Any] = {}
    if activity_id:
        event_extra["activity_id"] = activity_id
    if extra:
        event_extra["extra"] = extra
    changed = _leave_active(
        post,
        Post.State.REMOVED,
        "post.removed",
        allowed_from=(Post.State.ACTIVE, Post.State.ARCHIVED),
        event_extra=event_extra,
    )
    if changed and post.collapsed_at is not None:
        Post.objects.filter(pk=post.pk).update(collapsed_at=None)
        post.collapsed_at = None
    return changed


@transaction.atomic
def post_set_collapsed(*, post: Post, collapsed: bool) -> bool:
    """Collapse a post behind a content warning while moderation reviews it, or undo that.

    Returns True when the flag changed. Records no event: collapsing is local presentation
    and never federates.
    """
    now = timezone.now() if collapsed else None
    qs = Post.objects.filter(pk=post.pk, collapsed_at__isnull=collapsed)
    changed = bool(qs.update(collapsed_at=now))
    if changed:
        post.collapsed_at = now
    return changed


# --- Remote posts (created, edited and deleted by incoming federation) -----------------------

#: Caps on what one remote post may carry (federation.md §5, "Size, time and depth limits").
MAX_REMOTE_CONTENT = 100_000
MAX_REMOTE_SPOILER = 5_000
MAX_REMOTE_MEDIA = 16
MAX_REMOTE_HASHTAGS = 50
MAX_MEDIA_DESCRIPTION = 1_500
_LANGUAGE_RE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8}){0,3}$")
_HASHTAG_NAME_RE = re.compile(r"^\w{1,100}$")


@dataclass(frozen=True)
class RemoteMedia:
    """An attachment of a remote post: metadata only, the file stays on its server."""

    url: str
    type: str = MediaAttachment.Type.UNKNOWN
    mime_type: str = ""
    description: str = ""
    blurhash: str = ""
    width: int | None = None
    height: int | None = None
    focus_x: float = 0.0
    focus_y: float = 0.0


def _remote_language(language: str) -> str:
    return language[:16] if language and _LANGUAGE_RE.match(language) else ""


def _remote_hashtags(names: Sequence[str]) -> list[Hashtag]:
    return _hashtags(_hashtag_names(names))


def _remote_media_unsaved(
    author: Account, post: Post, media: Sequence[RemoteMedia], *, start: int = 0
) -> list[MediaAttachment]:
    return [
        MediaAttachment(
            account=author,
            post=post,
            type=item.type if item.type in MediaAttachment.Type.values else "unknown",
            mime_type=item.mime_type[:128],
            url=item.url,
            remote_url=item.url,
            description=item.description[:MAX_MEDIA_DESCRIPTION],
            blurhash=item.blurhash[:128],
            width=item.width,
            height=item.height,
            focus_x=item.focus_x,
            focus_y=item.focus_y,
            position=start + position,
        )
        for position, item in enumerate(media[:MAX_REMOTE_MEDIA])
    ]


def _remote_media_rows(
    author: Account, post: Post, media: Sequence[RemoteMedia], *, start: int = 0
) -> list[MediaAttachment]:
    return MediaAttachment.objects.bulk_create(
        _remote_media_unsaved(author, post, media, start=start)
    )


@dataclass(frozen=True)
class RemotePostDraft:
    """A remote post to store (the arguments of `post_create_remote`, for the batch form)."""

    author: Account
    uri: str
    content: str
    visibility: str
    url: str = ""
    spoiler_text: str = ""
    sensitive: bool = False
    language: str = ""
    published_at: datetime | None = None
    edited_at: datetime | None = None
    in_reply_to: Post | None = None
    in_reply_to_uri: str = ""
    mentions: Sequence[Account] = ()
    hashtags: Sequence[str] = ()
    media: Sequence[RemoteMedia] = ()


def _remote_draft_check(draft: RemotePostDraft) -> None:
    if draft.author.local:
        raise NotAllowed("Local accounts post through post_create.")
    if draft.author.is_suspended:
        raise NotAllowed("This account is suspended.")
    if draft.visibility not in VISIBILITIES:
        raise Invalid("Unknown visibility.", field="visibility")


def _remote_post_new(draft: RemotePostDraft, now: datetime) -> Post:
    """The unsaved Post for a draft (content sanitised, dates and lengths bounded)."""
    published = min(draft.published_at or now, now)
    spoiler = (draft.spoiler_text or "").strip()[:MAX_REMOTE_SPOILER]
    in_reply_to = draft.in_reply_to
    post = Post(
        author=draft.author,
        uri=draft.uri,
        url=draft.url or "",
        local=False,
        content=sanitize_html((draft.content or "")[:MAX_REMOTE_CONTENT]),
        spoiler_text=spoiler,
        sensitive=bool(draft.sensitive) or bool(spoiler),
        language=_remote_language(draft.language),
        visibility=draft.visibility,
        published_at=published,
        edited_at=draft.edited_at if draft.edited_at and draft.edited_at > published else None,
        in_reply_to_uri=draft.in_reply_to_uri or (in_reply_to.uri if in_reply_to else ""),
    )
    if in_reply_to is not None:
        post.in_reply_to = in_reply_to
        post.in_reply_to_account_id = in_reply_to.author_id
        post.thread_root_id = in_reply_to.thread_root_id or in_reply_to.pk
    return post


def _orphans_attach(posts: Sequence[Post]) -> None:
    """Replies that arrived before their parent (one of `posts`) now hang under it."""
    by_uri = {p.uri: p for p in posts}
    orphans = list(
        Post.objects.filter(in_reply_to_uri__in=list(by_uri), in_reply_to__isnull=True)
        .exclude(pk__in=[p.pk for p in posts if p.in_reply_to_uri == p.uri])
        .values_list("pk", "in_reply_to_uri")
    )
    parents = sorted({by_uri[uri].pk for pk, uri in orphans if pk != by_uri[uri].pk})
    for parent in (p for p in posts if p.pk in parents):
        Post.objects.filter(in_reply_to_uri=parent.uri, in_reply_to__isnull=True).exclude(
            pk=parent.pk
        ).update(
            in_reply_to=parent,
            in_reply_to_account_id=parent.author_id,
            thread_root_id=parent.thread_root_id or parent.pk,
        )
        counted = Post.objects.filter(
            in_reply_to=parent, state__in=[Post.State.ACTIVE, Post.State.ARCHIVED]
        ).count()
        Post.objects.filter(pk=parent.pk).update(replies_count=counted)


@transaction.atomic
def post_create_remote(
    *,
    author: Account,
    uri: str,
    content: str,
    visibility: str,
    url: str = "",
    spoiler_text: str = "",
    sensitive: bool = False,
    language: str = "",
    published_at: datetime | None = None,
    edited_at: datetime | None = None,
    in_reply_to: Post | None = None,
    in_reply_to_uri: str = "",
    mentions: Sequence[Account] = (),
    hashtags: Sequence[str] = (),
    media: Sequence[RemoteMedia] = (),
) -> Post:
    """Store a post received from another server (idempotent on `uri`: a stored post is
    returned unchanged).

    `content` is sanitised here (Mastodon's allowlist), whatever the caller did. Mentions
    become `Mention` rows, so mentioned local accounts are notified; hashtags are stored
    lowercased without '#'; media are stored as metadata with their remote URL. Replies that
    arrived before this post are attached to it. Fans out into local followers' home feeds and
    records `post.created` (federation's consumers publish only local posts, so nothing goes
    back out). `posts_create_remote` does the same for many posts at once.
    Precondition: the caller checked the origin rules and the domain policy of `author`.
    """
    draft = RemotePostDraft(
        author=author,
        uri=uri,
        content=content,
        visibility=visibility,
        url=url,
        spoiler_text=spoiler_text,
        sensitive=sensitive,
        language=language,
        published_at=published_at,
        edited_at=edited_at,
        in_reply_to=in_reply_to,
        in_reply_to_uri=in_reply_to_uri,
        mentions=mentions,
        hashtags=hashtags,
        media=media,
    )
    _remote_draft_check(draft)
    post = _remote_post_new(draft, timezone.now())
    published = post.published_at
    try:
        with transaction.atomic():
            post.save(force_insert=True)
    except IntegrityError:  # already stored (a replay, or the same object arriving twice at once)
        return Post.objects.get(uri=uri)
    mentioned = list({a.pk: a for a in mentions}.values())
    if mentioned:
        Mention.objects.bulk_create([Mention(post=post, account=a) for a in mentioned])
    tags = _remote_hashtags(hashtags)
    if tags:
        post.hashtags.add(*tags)
    if media:
        _remote_media_rows(author, post, media)
    if in_reply_to is not None:
        Post.objects.filter(pk=in_reply_to.pk).update(replies_count=F("replies_count") + 1)
    _orphans_attach([post])
    Account.objects.filter(pk=author.pk).update(
        statuses_count=F("statuses_count") + 1,
        last_status_at=Greatest(Coalesce(F("last_status_at"), Value(published)), Value(published)),
    )
    feed_fanout_post(post=post)
    outbox_record(kind="post.created", payload={"post_id": post.id, "author_id": author.id})
    logger.info("remote post created post_id=%s author_id=%s uri=%s", post.id, author.id, uri)
    return post


def _hashtag_names(names: Sequence[str]) -> list[str]:
    cleaned: dict[str, None] = {}
    for name in names:
        value = (name or "").strip().lstrip("#").lower()
        if _HASHTAG_NAME_RE.match(value):
            cleaned[value] = None
    return list(cleaned)[:MAX_REMOTE_HASHTAGS]


def _hashtags_bulk(names: set[str]) -> dict[str, Hashtag]:
    """Hashtag rows for these (clean) names, creating the missing ones: three queries at most.

    Missing names are inserted in sorted order with ON CONFLICT DO NOTHING, so two batches
    creating the same new tags wait for each other in one order and never deadlock.
    """
    if not names:
        return {}
    found = {t.name: t for t in Hashtag.objects.filter(name__in=names)}
    missing = sorted(names - found.keys())
    if missing:
        Hashtag.objects.bulk_create([Hashtag(name=n) for n in missing], ignore_conflicts=True)
        found.update({t.name: t for t in Hashtag.objects.filter(name__in=missing)})
    return found


@transaction.atomic
def posts_create_remote(*, drafts: Sequence[RemotePostDraft]) -> list[Post]:
    """Store many remote posts at once: `post_create_remote`'s rules and effects, set-based.

    Posts, mentions, hashtags, media, feed entries and `post.created` events are written with
    a fixed number of statements for the whole batch (one more per distinct parent and per
    parent of early replies). A draft whose `uri` is already stored is skipped; the posts
    created are returned in the drafts' order. Author counters are updated last, with the
    authors' rows locked in id order, so the row locks are held only until the caller commits
    and two concurrent batches never deadlock on them. Anything invalid raises before a row is
    written (the caller may then retry the drafts one by one).
    Precondition: as `post_create_remote`; the caller holds the object locks of the uris.
    """
    for draft in drafts:
        _remote_draft_check(draft)
    uris = [d.uri for d in drafts]
    if len(set(uris)) != len(uris):
        raise Invalid("The same post appears twice in a batch.", field="uri")
    if not drafts:
        return []
    existing = set(Post.objects.filter(uri__in=uris).values_list("uri", flat=True))
    drafts = [d for d in drafts if d.uri not in existing]
    if not drafts:
        return []
    now = timezone.now()
    posts = [_remote_post_new(d, now) for d in drafts]
    Post.objects.bulk_create(posts)
    Mention.objects.bulk_create(
        [
            Mention(post=post, account=account)
            for post, draft in zip(posts, drafts, strict=True)
            for account in {a.pk: a for a in draft.mentions}.values()
        ]
    )
    names = [_hashtag_names(d.hashtags) for d in drafts]
    tags = _hashtags_bulk({n for post_names in names for n in post_names})
    if tags:
        through = Post.hashtags.through
        through.objects.bulk_create(
            [
                through(post_id=post.pk, hashtag_id=tags[name].pk)
                for post, post_names in zip(posts, names, strict=True)
                for name in post_names
            ]
        )
    media_rows = [
        row
        for post, draft in zip(posts, drafts, strict=True)
        for row in _remote_media_unsaved(draft.author, post, draft.media)
    ]
    if media_rows:
        MediaAttachment.objects.bulk_create(media_rows)
    replies: dict[int, int] = defaultdict(int)
    for post in posts:
        if post.in_reply_to_id is not None:
            replies[post.in_reply_to_id] += 1
    for parent_id in sorted(replies):
        Post.objects.filter(pk=parent_id).update(
            replies_count=F("replies_count") + replies[parent_id]
        )
    _orphans_attach(posts)
    feed_fanout_posts(posts=posts)
    outbox_record_many(
        kind="post.created",
        payloads=[{"post_id": p.id, "author_id": p.author_id} for p in posts],
    )
    _authors_count_posts(posts)
    logger.info("remote posts created count=%s", len(posts))
    return posts


def _authors_count_posts(posts: Sequence[Post]) -> None:
    """statuses_count += posts per author, last_status_at = the latest: the rows locked in id
    order, then one UPDATE for every author (one per author off PostgreSQL)."""
    counts: dict[int, int] = defaultdict(int)
    latest: dict[int, datetime] = {}
    for post in posts:
        counts[post.author_id] += 1
        if post.author_id not in latest or post.published_at > latest[post.author_id]:
            latest[post.author_id] = post.published_at
    ids = sorted(counts)
    list(Account.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
    if connection.vendor != "postgresql":
        for pk in ids:
            at = Value(latest[pk])
            Account.objects.filter(pk=pk).update(
                statuses_count=F("statuses_count") + counts[pk],
                last_status_at=Greatest(Coalesce(F("last_status_at"), at), at),
            )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _AUTHORS_COUNT.format(table=connection.ops.quote_name(Account._meta.db_table)),
            [ids, [counts[i] for i in ids], [latest[i] for i in ids]],
        )


_AUTHORS_COUNT = """
UPDATE {table} AS a
SET statuses_count = a.statuses_count + v.n,
    last_status_at = GREATEST(COALESCE(a.last_status_at, v.at), v.at)
FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[]) AS v(id, n, at)
WHERE a.id = v.id
"""


@transaction.atomic
def post_update_remote(
    *,
    post: Post,
    content: str,
    edited_at: datetime,
    spoiler_text: str = "",
    sensitive: bool = False,
    language: str = "",
    mentions: Sequence[Account] = (),
    hashtags: Sequence[str] | None = None,
    media: Sequence[RemoteMedia] | None = None,
) -> Post:
    """Apply an edit received from the post's server, keeping the history (`PostEdit`).

    Only an edit newer than what is stored applies (`edited_at` after the post's last edit or
    publication); an older or repeated one raises Conflict, as does an edit of a post that is no
    longer active. Media are replaced when `media` is given (rows with the same remote URL are
    kept and updated). Records `post.updated`.
    Precondition: the caller checked that the edit comes from the post's author.
    """
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.local:
        raise NotAllowed("Local posts are edited through post_update.")
    if post.state != Post.State.ACTIVE:
        raise Conflict("This post can no longer be edited.")
    if edited_at <= (post.edited_at or post.published_at):
        raise Conflict("This edit is not newer than the stored version.")
    current_media = list(post.media.all())
    if not post.edits.exists():
        PostEdit.objects.create(
            post=post,
            content=post.content,
            spoiler_text=post.spoiler_text,
            sensitive=post.sensitive,
            media_ids=[m.pk for m in current_media],
            created_at=post.published_at,
        )
    spoiler = (spoiler_text or "").strip()[:MAX_REMOTE_SPOILER]
    post.content = sanitize_html((content or "")[:MAX_REMOTE_CONTENT])
    post.spoiler_text = spoiler
    post.sensitive = bool(sensitive) or bool(spoiler)
    post.language = _remote_language(language)
    post.edited_at = min(edited_at, timezone.now())
    post.save(update_fields=["content", "spoiler_text", "sensitive", "language", "edited_at"])
    existing = set(Mention.objects.filter(post=post).values_list("account_id", flat=True))
    Mention.objects.bulk_create(
        [
            Mention(post=post, account=a)
            for a in {m.pk: m for m in mentions}.values()
            if a.pk not in existing
        ]
    )
    if hashtags is not None:
        post.hashtags.set(_remote_hashtags(hashtags))
    media_now = current_media
    if media is not None:
        by_url = {m.remote_url: m for m in current_media if m.remote_url}
        kept: list[MediaAttachment] = []
        new: list[RemoteMedia] = []
        for item in media[:MAX_REMOTE_MEDIA]:
            row = by_url.pop(item.url, None)
            if row is None:
                new.append(item)
                continue
            row.description = item.description[:MAX_MEDIA_DESCRIPTION]
            row.focus_x, row.focus_y = item.focus_x, item.focus_y
            row.position = len(kept)
            row.save(update_fields=["description", "focus_x", "focus_y", "position"])
            kept.append(row)
        MediaAttachment.objects.filter(pk__in=[m.pk for m in by_url.values()]).update(post=None)
        media_now = kept + _remote_media_rows(post.author, post, new, start=len(kept))
    PostEdit.objects.create(
        post=post,
        content=post.content,
        spoiler_text=post.spoiler_text,
        sensitive=post.sensitive,
        media_ids=[m.pk for m in media_now],
        created_at=post.edited_at,
    )
    outbox_record(kind="post.updated", payload={"post_id": post.id, "author_id": post.author_id})
    return post


@transaction.atomic
def post_delete_remote(*, post: Post) -> bool:
    """Mark a remote post deleted by its author (the row stays; counters follow).

    Records `post.deleted`. Returns False when it was already deleted.
    Precondition: the caller checked that the Delete comes from the post's author.
    """
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.local:
        raise NotAllowed("Local posts are deleted through post_delete.")
    return _leave_active(
        post,
        Post.State.DELETED,
        "post.deleted",
        allowed_from=(Post.State.ACTIVE, Post.State.ARCHIVED, Post.State.REMOVED),
    )


MAX_MEDIA_DESCRIPTION = 1500


@transaction.atomic
def media_describe(*, account: Account, media_id: int | str, description: str) -> bool:
    """Set the alt text of one of the account's media attachments (Mastodon
    `media_attributes[]` on an edit). Returns False when the media is not the account's."""
    try:
        pk = int(media_id)
    except (TypeError, ValueError):
        return False
    updated = MediaAttachment.objects.filter(pk=pk, account=account).update(
        description=str(description)[:MAX_MEDIA_DESCRIPTION]
    )
    return bool(updated)
