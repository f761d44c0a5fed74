"""Model rows → ActivityPub JSON (dicts), shaped as Mastodon emits them.

Pure functions: no HTTP, no writes, no serialisation. Related rows are read through the ORM
(mentions, hashtags, media), so callers that render many posts should prefetch
`mention_rows__account`, `hashtags` and `media`. Callers serialise the result once with orjson.

Addressing follows Mastodon's `ActivityPub::TagManager` (federation.md §4): public → `to`
Public, `cc` followers; unlisted → `to` followers, `cc` Public; private → `to` followers;
direct → `to` the mentioned actors only. Mentioned actors are added to `cc` for the first three
and every addressee of a direct post carries a `Mention` tag (else Mastodon shows "limited").
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from federation.jsonld import PUBLIC
from ourvoice.accounts.models import Account, Block, Follow
from ourvoice.core import urls
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import MediaAttachment, Post, Visibility

ACTIVITYSTREAMS = "https://www.w3.org/ns/activitystreams"
SECURITY_V1 = "https://w3id.org/security/v1"
#: Namespace of OUR Voice's moderation extension (moderation.md §2.1 context).
OV_NAMESPACE = "https://ourvoice.example/ns/moderation#"
#: FEP-2c59 `webfinger` property.
WEBFINGER_TERM = "https://purl.archive.org/socialweb/webfinger#webfinger"

#: Inline term map (federation.md §2): Mastodon's `toot:` and schema.org terms plus the `ov`
#: moderation prefix. Kept inline so no processor ever fetches an extra remote context.
TERMS: dict[str, Any] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "sensitive": "as:sensitive",
    "Hashtag": "as:Hashtag",
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "featuredTags": {"@id": "toot:featuredTags", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "memorial": "toot:memorial",
    "suspended": "toot:suspended",
    "attributionDomains": {"@id": "toot:attributionDomains", "@type": "@id"},
    "Emoji": "toot:Emoji",
    "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
    "blurhash": "toot:blurhash",
    "votersCount": "toot:votersCount",
    "schema": "http://schema.org#",
    "PropertyValue": "schema:PropertyValue",
    "value": "schema:value",
    "webfinger": {"@id": WEBFINGER_TERM, "@type": "http://www.w3.org/2001/XMLSchema#string"},
    "ov": OV_NAMESPACE,
    "ModerationVote": "ov:ModerationVote",
    "ModerationDecision": "ov:ModerationDecision",
    "decision": {"@id": "ov:decision", "@type": "@id"},
    "moderationService": {"@id": "ov:moderationService", "@type": "@id"},
    # Terms of ModerationVote, the removal Delete and ModerationDecision (moderation.md §2).
    "verdict": "ov:verdict",
    "reasonCode": "ov:reasonCode",
    "objectVersion": "ov:objectVersion",
    "ruleVersion": "ov:ruleVersion",
    "tally": {"@id": "ov:tally", "@type": "@json"},
}

#: `@context` of actor and Note documents (and of activities embedding them).
CONTEXT: list[Any] = [ACTIVITYSTREAMS, SECURITY_V1, TERMS]
#: `@context` of plain activities (Follow, Like, Block, Accept…): AS2 alone, as Mastodon sends.
ACTIVITY_CONTEXT = ACTIVITYSTREAMS


# --- small helpers --------------------------------------------------------------------------


def iso(value: datetime) -> str:
    """AS2 timestamp in UTC with second precision, `2026-07-01T10:00:00Z` (Mastodon's form)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_domain() -> str:
    return settings.OURVOICE_DOMAIN


def handle_of(account: Account) -> str:
    """`user@domain` of an account; local accounts use OURVOICE_DOMAIN."""
    return f"{account.username}@{account.domain or local_domain()}"


def followers_of(account: Account) -> str:
    return account.followers_uri or f"{account.uri}/followers"


def _absolute(url: str) -> str:
    return urls.absolute_url(url) if url.startswith("/") else url


def _without_context(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "@context"}


def _image(url: str) -> dict[str, Any]:
    image: dict[str, Any] = {"type": "Image", "url": _absolute(url)}
    media_type, _ = mimetypes.guess_type(url.split("?", 1)[0])
    if media_type and media_type.startswith("image/"):
        image["mediaType"] = media_type
    return image


def _mentioned(post: Post) -> list[Account]:
    """Mentioned accounts in the order the text names them (Mention rows are written so).

    Uses `prefetch_related("mention_rows__account")` when the caller did it.
    """
    cache = getattr(post, "_prefetched_objects_cache", {})
    rows = (
        post.mention_rows.all()
        if "mention_rows" in cache
        else post.mention_rows.select_related("account")
    )
    return [row.account for row in sorted(rows, key=lambda row: row.pk)]


# --- actors ---------------------------------------------------------------------------------


def _public_key(account: Account) -> dict[str, str]:
    return {
        "id": account.key_id or f"{account.uri}#main-key",
        "owner": account.uri,
        "publicKeyPem": account.public_key_pem,
    }


def _actor_base(account: Account) -> dict[str, Any]:
    """The fields every actor document carries, suspended or not (key, inboxes, handle)."""
    doc: dict[str, Any] = {"@context": CONTEXT, "id": account.uri, "type": account.kind}
    collections = {
        "following": account.following_uri,
        "followers": account.followers_uri,
        "inbox": account.inbox_uri,
        "outbox": account.outbox_uri,
        "featured": account.featured_uri,
    }
    doc.update({key: value for key, value in collections.items() if value})
    doc["preferredUsername"] = account.username
    doc["url"] = account.url or account.uri
    doc["published"] = iso(account.created_at)
    doc["publicKey"] = _public_key(account)
    if account.shared_inbox_uri:
        doc["endpoints"] = {"sharedInbox": account.shared_inbox_uri}
    doc["webfinger"] = f"acct:{handle_of(account)}"
    return doc


def render_actor(account: Account) -> dict[str, Any]:
    """The actor document of a local account (Person, Service or Application).

    The instance actor (role instance) also names the moderation actor in `moderationService`
    (`ov:moderationService`), so OUR Voice peers know where to send votes.
    """
    doc = _actor_base(account)
    doc.update(
        {
            "name": account.display_name,
            "summary": account.note,
            "manuallyApprovesFollowers": account.locked,
            "discoverable": account.discoverable,
            "indexable": account.indexable,
            "memorial": False,
            "tag": [],
            "attachment": [
                {"type": "PropertyValue", "name": field["name"], "value": field["value"]}
                for field in account.fields or []
                if isinstance(field, dict) and "name" in field and "value" in field
            ],
        }
    )
    if account.avatar_url:
        doc["icon"] = _image(account.avatar_url)
    if account.header_url:
        doc["image"] = _image(account.header_url)
    if account.role == Account.Role.INSTANCE:
        doc["moderationService"] = urls.actor_uri("moderation")
    return doc


def render_actor_suspended(account: Account) -> dict[str, Any]:
    """The minimal actor Mastodon serves for a suspended account: identity and key only,
    `suspended: true`, no name, bio, fields or images."""
    doc = _actor_base(account)
    doc.update(
        {
            "name": "",
            "summary": "",
            "manuallyApprovesFollowers": account.locked,
            "suspended": True,
            "tag": [],
            "attachment": [],
        }
    )
    return doc


def render_update_actor(account: Account) -> dict[str, Any]:
    """`Update{actor}`; the id changes with every profile update (Mastodon's `#updates/<t>`)."""
    return {
        "@context": CONTEXT,
        "id": f"{account.uri}#updates/{int(account.updated_at.timestamp())}",
        "type": "Update",
        "actor": account.uri,
        "to": [PUBLIC],
        "object": _without_context(render_actor(account)),
    }


def render_delete_actor(account: Account) -> dict[str, Any]:
    """`Delete{actor}` (object == actor: Mastodon deletes the account)."""
    return {
        "@context": CONTEXT,
        "id": f"{account.uri}#delete",
        "type": "Delete",
        "actor": account.uri,
        "to": [PUBLIC],
        "object": account.uri,
    }


# --- notes ----------------------------------------------------------------------------------


def audience_of(post: Post) -> tuple[list[str], list[str]]:
    """(`to`, `cc`) of a post by visibility, as Mastodon's TagManager builds them."""
    return _audience(post, _mentioned(post))


def _audience(post: Post, mentioned_accounts: list[Account]) -> tuple[list[str], list[str]]:
    followers = followers_of(post.author)
    mentioned = [a.uri for a in mentioned_accounts if a.pk != post.author_id]
    if post.visibility == Visibility.PUBLIC:
        to, cc = [PUBLIC], [followers]
    elif post.visibility == Visibility.UNLISTED:
        to, cc = [followers], [PUBLIC]
    elif post.visibility == Visibility.PRIVATE:
        to, cc = [followers], []
    else:  # direct: only the mentioned actors
        return list(dict.fromkeys(mentioned)), []
    cc += [uri for uri in dict.fromkeys(mentioned) if uri not in cc]
    return to, cc


def _tags(post: Post, mentioned: list[Account]) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = [
        {"type": "Mention", "href": account.uri, "name": f"@{handle_of(account)}"}
        for account in mentioned
    ]
    tags += [
        {"type": "Hashtag", "href": urls.hashtag_url(tag.name), "name": f"#{tag.name}"}
        for tag in sorted(post.hashtags.all(), key=lambda tag: tag.name)
    ]
    return tags


def _media_url(media: MediaAttachment) -> str:
    if media.url:
        return _absolute(media.url)
    if media.file:
        return _absolute(media.file.url)
    return media.remote_url


def render_attachment(media: MediaAttachment) -> dict[str, Any]:
    """A `Document` (Mastodon's attachment type for every media kind)."""
    document: dict[str, Any] = {
        "type": "Document",
        "mediaType": media.mime_type or None,
        "url": _media_url(media),
        "name": media.description or None,
        "blurhash": media.blurhash or None,
        "focalPoint": [media.focus_x, media.focus_y],
    }
    if media.width:
        document["width"] = media.width
    if media.height:
        document["height"] = media.height
    return document


def render_note(post: Post) -> dict[str, Any]:
    """The `Note` of a post (federation.md §4), with `@context`.

    `summary` is the content warning, `contentMap` carries the language, `updated` appears
    only after an edit (Mastodon applies an Update as an edit only when it is present).
    """
    mentioned = _mentioned(post)
    to, cc = _audience(post, mentioned)
    note: dict[str, Any] = {
        "@context": CONTEXT,
        "id": post.uri,
        "type": "Note",
        "summary": post.spoiler_text or None,
        "inReplyTo": post.in_reply_to_uri or None,
        "published": iso(post.published_at),
        "url": post.url or post.uri,
        "attributedTo": post.author.uri,
        "to": to,
        "cc": cc,
        "sensitive": post.sensitive,
        "content": post.content,
    }
    if post.edited_at:
        note["updated"] = iso(post.edited_at)
    if post.language:
        note["contentMap"] = {post.language: post.content}
    note["attachment"] = [render_attachment(media) for media in post.media.all()]
    note["tag"] = _tags(post, mentioned)
    replies = f"{post.uri}/replies"
    note["replies"] = {
        "id": replies,
        "type": "Collection",
        "first": {
            "type": "CollectionPage",
            "next": f"{replies}?page=true",
            "partOf": replies,
            "items": [],
        },
    }
    note["likes"] = {
        "id": f"{post.uri}/likes",
        "type": "Collection",
        "totalItems": post.likes_count,
    }
    note["shares"] = {
        "id": f"{post.uri}/shares",
        "type": "Collection",
        "totalItems": post.reposts_count,
    }
    return note


def render_tombstone(post: Post) -> dict[str, Any]:
    """`Tombstone{id, formerType, deleted}` of a deleted or removed post (no `@context`)."""
    deleted = post.state_changed_at or timezone.now()
    return {"id": post.uri, "type": "Tombstone", "formerType": "Note", "deleted": iso(deleted)}


def render_create(post: Post) -> dict[str, Any]:
    """`Create{Note}`, id `<post uri>/activity`, with the Note's own addressing."""
    note = render_note(post)
    return {
        "@context": CONTEXT,
        "id": f"{post.uri}/activity",
        "type": "Create",
        "actor": post.author.uri,
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": _without_context(note),
    }


def render_update_note(post: Post) -> dict[str, Any]:
    """`Update{Note}` after an edit; the id is unique per edit (`#updates/<edited_at>`)."""
    edited = post.edited_at or post.published_at
    note = render_note(post)
    return {
        "@context": CONTEXT,
        "id": f"{post.uri}#updates/{int(edited.timestamp())}",
        "type": "Update",
        "actor": post.author.uri,
        "published": iso(edited),
        "to": note["to"],
        "cc": note["cc"],
        "object": _without_context(note),
    }


def render_delete_note(
    post: Post, *, activity_id: str | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`Delete{Tombstone}` by the author, addressed like the post.

    `extra` is merged last (moderation adds `summary` and the `decision` link).
    """
    to, cc = audience_of(post)
    activity: dict[str, Any] = {
        "@context": CONTEXT,
        "id": activity_id or f"{post.uri}#delete",
        "type": "Delete",
        "actor": post.author.uri,
        "to": to,
        "cc": cc,
        "object": render_tombstone(post),
    }
    if extra:
        activity.update(extra)
    return activity


# --- relations and interactions -------------------------------------------------------------


def _follow_object(follow: Follow) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "type": "Follow",
        "actor": follow.follower.uri,
        "object": follow.target.uri,
    }
    if follow.uri:
        inner = {"id": follow.uri, **inner}
    return inner


def render_follow(follow: Follow) -> dict[str, Any]:
    """`Follow`, id = the follow's `uri`."""
    return {"@context": ACTIVITY_CONTEXT, **_follow_object(follow)}


def render_accept(follow: Follow) -> dict[str, Any]:
    """`Accept{Follow}` by the target, embedding the Follow (id, actor, object)."""
    return {
        "@context": ACTIVITY_CONTEXT,
        "id": f"{follow.target.uri}#accepts/follows/{follow.id}",
        "type": "Accept",
        "actor": follow.target.uri,
        "object": _follow_object(follow),
    }


def render_reject(follow: Follow) -> dict[str, Any]:
    """`Reject{Follow}` by the target, embedding the Follow."""
    return {
        "@context": ACTIVITY_CONTEXT,
        "id": f"{follow.target.uri}#rejects/follows/{follow.id}",
        "type": "Reject",
        "actor": follow.target.uri,
        "object": _follow_object(follow),
    }


def render_undo(activity: dict[str, Any], *, actor_uri: str, activity_id: str) -> dict[str, Any]:
    """`Undo{activity}` (the activity embedded without its `@context`), keeping its addressing.

    By convention `activity_id` is `<inner id>/undo`.
    """
    undo: dict[str, Any] = {
        "@context": activity.get("@context", ACTIVITY_CONTEXT),
        "id": activity_id,
        "type": "Undo",
        "actor": actor_uri,
    }
    for key in ("to", "cc"):
        if key in activity:
            undo[key] = activity[key]
    undo["object"] = _without_context(activity)
    return undo


def render_like(like: Like) -> dict[str, Any]:
    """`Like{Note}`, id = the like's `uri`."""
    return {
        "@context": ACTIVITY_CONTEXT,
        "id": like.uri,
        "type": "Like",
        "actor": like.account.uri,
        "object": like.post.uri,
    }


def render_announce(repost: Repost) -> dict[str, Any]:
    """`Announce{Note}` (a boost), addressed by the boost's visibility; `cc` names the
    boosted post's author, as Mastodon does."""
    booster = repost.account
    followers = followers_of(booster)
    if repost.visibility == Visibility.UNLISTED:
        to, cc = [followers], [PUBLIC]
    elif repost.visibility in (Visibility.PRIVATE, Visibility.DIRECT):
        to, cc = [followers], []
    else:
        to, cc = [PUBLIC], [followers]
    author_uri = repost.post.author.uri
    if author_uri != booster.uri and author_uri not in cc:
        cc.append(author_uri)
    return {
        "@context": ACTIVITY_CONTEXT,
        "id": repost.uri,
        "type": "Announce",
        "actor": booster.uri,
        "published": iso(repost.created_at),
        "to": to,
        "cc": cc,
        "object": repost.post.uri,
    }


def render_block(block: Block) -> dict[str, Any]:
    """`Block`, id = the block's `uri`; sent only to the blocked actor."""
    return {
        "@context": ACTIVITY_CONTEXT,
        "id": block.uri,
        "type": "Block",
        "actor": block.account.uri,
        "object": block.target.uri,
    }
