"""ActivityStreams Note (and Article, Page, Question) → remote post (federation.md §4).

`note_import` turns a remote object into a `Post` through `posts.services.post_create_remote`;
`note_update` applies an edit through `post_update_remote`. Parsing is tolerant (strings,
objects and lists where AS2 allows them) and bounded: at most 50 tags, 5 mentioned actors
fetched per post, 16 attachments and a reply chain fetched 5 levels up.

Conversions as Mastodon does them: an Article or Page (Lemmy, WordPress, WriteFreely) gets its
`name` and link in front of its content; a Question (poll) keeps its content and lists the
options as text (polls are not modelled yet). Misskey and Mastodon 4.5 quotes (`quote`,
`quoteUri`, `quoteUrl`, `_misskey_quote`) become an "RE: <link>" line unless the content
already links the quoted post.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Q

from federation.inbound import common
from federation.inbound.errors import Ignore, Reject
from federation.jsonld import as_list, first_id, origin_of, same_origin
from federation.models import RemoteTombstone
from ourvoice.accounts.models import Account
from ourvoice.core.errors import ApplicationError, Conflict
from ourvoice.core.html import html_to_text, sanitize_html
from ourvoice.posts.models import MediaAttachment, Post
from ourvoice.posts.selectors import post_get_by_uri
from ourvoice.posts.services import (
    RemoteMedia,
    RemotePostDraft,
    post_create_remote,
    post_update_remote,
    posts_create_remote,
)

logger = logging.getLogger(__name__)

#: How far up a reply chain unknown parents are fetched (AP B.5; federation.md §5).
MAX_REPLY_DEPTH = 5
#: Unknown mentioned actors fetched per post (the rest are left as plain links).
MAX_MENTION_FETCHES = 5
MAX_TAGS = 50
MAX_ATTACHMENTS = 16
MAX_POLL_OPTIONS = 20
_BLURHASH_RE = re.compile(r"^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{6,128}$")
_LANGUAGE_RE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8}){0,3}$")
_MEDIA_TYPES = {
    "image": MediaAttachment.Type.IMAGE,
    "video": MediaAttachment.Type.VIDEO,
    "audio": MediaAttachment.Type.AUDIO,
}
_AS_MEDIA_TYPES = {
    "Image": MediaAttachment.Type.IMAGE,
    "Video": MediaAttachment.Type.VIDEO,
    "Audio": MediaAttachment.Type.AUDIO,
    "Document": MediaAttachment.Type.UNKNOWN,
}


# --- Fields --------------------------------------------------------------------------------------


def _http_url(value: Any) -> str:
    """`value` if it is an http(s) URL we could link to, else ""."""
    if not isinstance(value, str) or len(value) > 2048:
        return ""
    try:
        origin_of(value)
    except ValueError:
        return ""
    return value


def _link_of(value: Any, *, prefer: str = "") -> tuple[str, str]:
    """(href, mediaType) of a `url` property: a string, a Link object or a list of them.

    With several links, the first whose mediaType starts with `prefer` wins.
    """
    candidates: list[tuple[str, str]] = []
    for item in as_list(value):
        if isinstance(item, str):
            candidates.append((_http_url(item), ""))
        elif isinstance(item, Mapping):
            href = item.get("href", item.get("url"))
            candidates.append((_http_url(href), common.string_of(item.get("mediaType"))))
    candidates = [c for c in candidates if c[0]]
    if prefer:
        for candidate in candidates:
            if candidate[1].startswith(prefer):
                return candidate
    return candidates[0] if candidates else ("", "")


def _language_of(content: str, content_map: Any) -> tuple[str, str]:
    """(content, language) from `content` and `contentMap` (Mastodon reads the language there)."""
    if not isinstance(content_map, Mapping):
        return content, ""
    entries = [(k, v) for k, v in content_map.items() if isinstance(k, str) and isinstance(v, str)]
    if not entries:
        return content, ""
    language = next((k for k, v in entries if v == content), "") or entries[0][0]
    if not content:
        content = dict(entries)[language]
    return content, (language if _LANGUAGE_RE.match(language) else "")


def _content_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(HTML, language) of an object, with the Article/Page/Question/quote conversions."""
    content, language = _language_of(common.string_of(obj.get("content")), obj.get("contentMap"))
    types = common.types_of(obj)
    if types & {"Article", "Page"}:
        name = common.string_of(obj.get("name"))
        link = _link_of(obj.get("url"), prefer="text/html")[0] or first_id(obj) or ""
        parts = []
        if name:
            parts.append(f"<p><strong>{html.escape(name)}</strong></p>")
        if link:
            parts.append(f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>')
        content = "".join(parts) + content
    if "Question" in types:
        options = [
            common.string_of(option.get("name"))
            for option in as_list(obj.get("oneOf")) + as_list(obj.get("anyOf"))
            if isinstance(option, Mapping)
        ]
        items = "".join(f"<li>{html.escape(o)}</li>" for o in options[:MAX_POLL_OPTIONS] if o)
        if items:
            content += f"<ul>{items}</ul>"
    quote = next(
        (
            url
            for key in ("quote", "quoteUri", "quoteUrl", "_misskey_quote")
            if (url := _http_url(first_id(obj.get(key))))
        ),
        "",
    )
    if quote and quote not in content:
        escaped = html.escape(quote)
        content += f'<p>RE: <a href="{escaped}">{escaped}</a></p>'
    return content, language


def _spoiler_of(obj: Mapping[str, Any]) -> str:
    """`summary` as plain text (the content warning); Article/Page summaries are abstracts."""
    if common.types_of(obj) & {"Article", "Page"}:
        return ""
    summary = common.string_of(obj.get("summary"))
    return html_to_text(sanitize_html(summary)) if summary else ""


def _tags_of(obj: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [
        tag
        for tag in as_list(obj.get("tag"))[:MAX_TAGS]
        if isinstance(tag, Mapping) and kind in common.types_of(tag)
    ]


def _hashtags_of(obj: Mapping[str, Any]) -> list[str]:
    return [
        name.lstrip("#").lower()
        for tag in _tags_of(obj, "Hashtag")
        if (name := common.string_of(tag.get("name")).strip())
    ]


def _mention_hrefs(obj: Mapping[str, Any]) -> list[str]:
    return list(
        dict.fromkeys(
            href
            for tag in _tags_of(obj, "Mention")
            if (href := _http_url(first_id(tag.get("href")) or first_id(tag)))
        )
    )


def _mentions_of(obj: Mapping[str, Any]) -> list[Account]:
    """Mentioned accounts: local ones by id or profile URL, known remote ones by id, and up to
    MAX_MENTION_FETCHES unknown remote actors resolved from their origin."""
    hrefs = _mention_hrefs(obj)
    if not hrefs:
        return []
    local = [h for h in hrefs if common.is_local_uri(h)]
    known = Account.objects.filter(
        Q(uri__in=hrefs) | Q(domain="", url__in=local), suspended_at__isnull=True
    )
    found: dict[str, Account] = {}
    for account in known:
        found.setdefault(account.uri, account)
        if account.local and account.url:
            found.setdefault(account.url, account)
    budget = MAX_MENTION_FETCHES
    for href in hrefs:
        if href in found or common.is_local_uri(href) or budget <= 0:
            continue
        budget -= 1
        try:
            with transaction.atomic():
                account = common.actor_get(href)
        except common.OPTIONAL_FETCH_ERRORS as exc:
            logger.info("mention not resolved href=%s error=%r", href, exc)
            continue
        if not account.is_suspended:
            found[href] = account
    return list({found[h].pk: found[h] for h in hrefs if h in found}.values())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _dimension(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and 0 < number <= 100_000 else None


def _media_of(obj: Mapping[str, Any], *, author: Account) -> list[RemoteMedia] | None:
    """Attachments as metadata (nothing is downloaded); None when admins reject the domain's
    media. Links (Lemmy), profile fields and anything without an http(s) URL are skipped."""
    if common.media_rejected(author.domain):
        return None
    media: list[RemoteMedia] = []
    for item in as_list(obj.get("attachment"))[:MAX_ATTACHMENTS]:
        if not isinstance(item, Mapping):
            continue
        types = common.types_of(item)
        if not types & set(_AS_MEDIA_TYPES):
            continue
        url, link_type = _link_of(item.get("url"))
        if not url:
            continue
        mime = (common.string_of(item.get("mediaType")) or link_type)[:128].lower()
        kind = _MEDIA_TYPES.get(mime.partition("/")[0]) or next(
            (_AS_MEDIA_TYPES[t] for t in ("Image", "Video", "Audio") if t in types),
            MediaAttachment.Type.UNKNOWN,
        )
        focus = as_list(item.get("focalPoint"))
        fx, fy = (_number(focus[0]), _number(focus[1])) if len(focus) == 2 else (None, None)
        blurhash = common.string_of(item.get("blurhash"))
        description = common.string_of(item.get("name")) or common.string_of(item.get("summary"))
        media.append(
            RemoteMedia(
                url=url,
                type=kind,
                mime_type=mime,
                description=html_to_text(sanitize_html(description)) if description else "",
                blurhash=blurhash if _BLURHASH_RE.match(blurhash) else "",
                width=_dimension(item.get("width")),
                height=_dimension(item.get("height")),
                focus_x=max(-1.0, min(1.0, fx)) if fx is not None else 0.0,
                focus_y=max(-1.0, min(1.0, fy)) if fy is not None else 0.0,
            )
        )
    return media


def _author_of(obj: Mapping[str, Any], *, sender: Account | None = None) -> tuple[str, Account]:
    """(object id, author) once the object passes the ownership rules, else Reject/Ignore.

    The object's id must be on its author's origin (a server speaks only for its own
    accounts: Mastodon CVE-2024-23832, the NodeBB advisory), the author must be remote, and
    its account and domain must not be suspended (CVE-2026-23961 for fetched content).
    """
    object_id = first_id(obj)
    author_uri = common.attributed_to(obj)
    if not object_id or not author_uri or len(object_id) > common.MAX_ID_LENGTH:
        raise Reject("object without a usable id or attributedTo")
    if not same_origin(object_id, author_uri):
        raise Reject("the object is not on its author's origin")
    if common.is_local_uri(author_uri):
        raise Reject("a remote object cannot be authored by a local account")
    author = sender if sender is not None and sender.uri == author_uri else None
    if author is None:
        author = common.actor_get(author_uri)
    common.author_check_allowed(author)
    return object_id, author


# --- Import and update ---------------------------------------------------------------------------


def note_import(
    obj: dict[str, Any],
    *,
    fetched_by_id: bool = False,
    activity: Mapping[str, Any] | None = None,
    sender: Account | None = None,
    depth: int = 0,
) -> Post:
    """Store a remote Note, Article, Page or Question as a post; idempotent on its id.

    `fetched_by_id` says where `obj` comes from: True when `fetch.object_fetch` dereferenced
    it (its origin vouched for it), False when it came embedded in an activity whose sender the
    caller has checked to be its author. In both cases the id must be on the author's origin.
    `activity` supplies the addressing when the object has none; `sender`, the activity's
    verified actor, saves a look-up when it is the author. An object already stored is
    returned unchanged; a tombstoned one (deleted before it arrived) raises Ignore. Unknown
    parents are fetched up to MAX_REPLY_DEPTH levels (best effort: a reply whose parent cannot
    be fetched is stored with `in_reply_to_uri` only).
    Run inside `transaction.atomic()`.
    """
    if not common.types_of(obj) & common.NOTE_TYPES:
        raise Ignore(f"unsupported object type {sorted(common.types_of(obj))}")
    object_id, author = _author_of(obj, sender=sender)
    common.object_lock(object_id)
    existing = post_get_by_uri(uri=object_id)
    if existing is not None:
        return existing
    if RemoteTombstone.objects.filter(uri=object_id).exists():
        raise Ignore(f"{object_id} was deleted")
    parent_uri = _http_url(first_id(obj.get("inReplyTo")))
    parent = _parent_get(parent_uri, depth=depth) if parent_uri else None
    content, language = _content_of(obj)
    published = common.datetime_parse(obj.get("published"))
    try:
        post = post_create_remote(
            author=author,
            uri=object_id,
            url=_link_of(obj.get("url"), prefer="text/html")[0],
            content=content,
            visibility=common.visibility_from_addressing(obj, author=author, fallback=activity),
            spoiler_text=_spoiler_of(obj),
            sensitive=obj.get("sensitive") is True,
            language=language,
            published_at=published,
            edited_at=common.datetime_parse(obj.get("updated")),
            in_reply_to=parent,
            in_reply_to_uri=parent_uri,
            mentions=_mentions_of(obj),
            hashtags=_hashtags_of(obj),
            media=_media_of(obj, author=author) or (),
        )
    except ApplicationError as exc:
        raise Ignore(f"post refused: {exc.message}") from exc
    logger.info(
        "note imported uri=%s post_id=%s fetched_by_id=%s depth=%s",
        object_id,
        post.id,
        fetched_by_id,
        depth,
    )
    return post


def notes_import_batch(
    entries: list[tuple[int, dict[str, Any], Mapping[str, Any], Account]],
) -> set[int]:
    """Import the embedded objects of many `Create` activities at once (the inbox's fast path).

    `entries` are (key, object, activity, sender) where the caller has checked the activity's
    origin rules and that the object is owned by the sender (`common.activity_check_origin`,
    `common.object_check_owned`): the sender is the author. Same rules and results as
    `note_import` for each, with a fixed number of queries for the batch: the objects' locks
    in one statement, then stored posts, reply parents, tombstones and mentioned accounts in one
    query each, and `posts.services.posts_create_remote`.

    Returns the keys that are done (imported, or already stored). The others are left for
    `note_import`, one by one: what needs a fetch (a reply parent or a mentioned actor we do
    not know), a tombstoned object (its Ignore is recorded there), and a second copy of an
    object in the batch. Run inside `transaction.atomic()`; a failure raises (the caller
    then applies every entry one by one).
    """
    firsts: dict[str, tuple[int, dict[str, Any], Mapping[str, Any], Account]] = {}
    for entry in entries:
        object_id = first_id(entry[1])
        if object_id and object_id not in firsts:
            firsts[object_id] = entry
    if not firsts:
        return set()
    parent_uris = {
        object_id: _http_url(first_id(entry[1].get("inReplyTo")))
        for object_id, entry in firsts.items()
    }
    hrefs = {object_id: _mention_hrefs(entry[1]) for object_id, entry in firsts.items()}
    common.objects_lock(list(firsts))
    posts = {
        post.uri: post
        for post in Post.objects.filter(
            uri__in=[*firsts, *{u for u in parent_uris.values() if u}]
        ).only("id", "uri", "author_id", "thread_root_id")
    }
    tombstoned = set(
        RemoteTombstone.objects.filter(uri__in=list(firsts)).values_list("uri", flat=True)
    )
    all_hrefs = {h for hs in hrefs.values() for h in hs}
    accounts: dict[str, Account] = {}
    if all_hrefs:
        local = [h for h in all_hrefs if common.is_local_uri(h)]
        for account in Account.objects.filter(Q(uri__in=all_hrefs) | Q(domain="", url__in=local)):
            accounts.setdefault(account.uri, account)
            if account.local and account.url:
                accounts.setdefault(account.url, account)
    done: set[int] = set()
    drafts: list[RemotePostDraft] = []
    keys: list[int] = []
    for object_id, (key, obj, activity, author) in firsts.items():
        if object_id in posts:
            done.add(key)  # already stored: a no-op, as in note_import
            continue
        if object_id in tombstoned:
            continue
        parent_uri = parent_uris[object_id]
        parent = posts.get(parent_uri) if parent_uri else None
        if parent_uri and parent is None:
            continue  # to be fetched
        mentioned: dict[int, Account] = {}
        for href in hrefs[object_id]:
            account = accounts.get(href)
            if account is None and not common.is_local_uri(href):
                break  # an unknown remote actor: to be fetched
            if account is not None and not account.is_suspended:
                mentioned.setdefault(account.pk, account)
        else:
            content, language = _content_of(obj)
            drafts.append(
                RemotePostDraft(
                    author=author,
                    uri=object_id,
                    url=_link_of(obj.get("url"), prefer="text/html")[0],
                    content=content,
                    visibility=common.visibility_from_addressing(
                        obj, author=author, fallback=activity
                    ),
                    spoiler_text=_spoiler_of(obj),
                    sensitive=obj.get("sensitive") is True,
                    language=language,
                    published_at=common.datetime_parse(obj.get("published")),
                    edited_at=common.datetime_parse(obj.get("updated")),
                    in_reply_to=parent,
                    in_reply_to_uri=parent_uri,
                    mentions=list(mentioned.values()),
                    hashtags=_hashtags_of(obj),
                    media=_media_of(obj, author=author) or (),
                )
            )
            keys.append(key)
    if drafts:
        posts_create_remote(drafts=drafts)
    logger.info(
        "notes imported in a batch created=%s stored_before=%s left=%s",
        len(drafts),
        len(done),
        len(entries) - len(drafts) - len(done),
    )
    return done | set(keys)


def _parent_get(uri: str, *, depth: int) -> Post | None:
    """The parent post: known, or fetched and imported while the chain is short enough."""
    parent = post_get_by_uri(uri=uri)
    if parent is not None or depth >= MAX_REPLY_DEPTH or common.is_local_uri(uri):
        return parent
    try:
        with transaction.atomic():
            return note_import(common.object_get(uri), fetched_by_id=True, depth=depth + 1)
    except common.OPTIONAL_FETCH_ERRORS as exc:
        logger.info("reply parent not fetched uri=%s depth=%s error=%r", uri, depth, exc)
        return None


def note_update(obj: dict[str, Any], *, post: Post) -> Post:
    """Apply an `Update{Note}` to a stored remote post.

    Mastodon applies an edit only when `updated` is present, and only a newer one: a missing,
    older or repeated `updated` raises Ignore. Visibility and the reply target never change.
    Precondition: the caller checked that the sender is the post's author.
    """
    edited_at = common.datetime_parse(obj.get("updated"))
    if edited_at is None:
        raise Ignore("an Update without `updated` is not an edit")
    common.object_lock(post.uri)
    content, language = _content_of(obj)
    try:
        return post_update_remote(
            post=post,
            content=content,
            edited_at=edited_at,
            spoiler_text=_spoiler_of(obj),
            sensitive=obj.get("sensitive") is True,
            language=language,
            mentions=_mentions_of(obj),
            hashtags=_hashtags_of(obj),
            media=_media_of(obj, author=post.author),
        )
    except Conflict as exc:
        raise Ignore(f"edit not applied: {exc.message}") from exc
    except ApplicationError as exc:
        raise Ignore(f"edit refused: {exc.message}") from exc
