"""Server-rendered public pages: profiles, posts, hashtags, about, remote-interaction help.

The HTML face of the ids the ActivityPub views serve (actor `url`, Note `url`, Hashtag `href`,
the instance actor's `url`). No JavaScript; templates autoescape everything. Stored post and
bio HTML is already sanitised, and is sanitised again here before it is marked safe.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString, mark_safe

from federation.views.common import GET_OR_HEAD, html_response, html_status
from federation.views.wellknown import nodeinfo_usage
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_get_by_acct
from ourvoice.accounts.services import system_actor_get
from ourvoice.core import urls
from ourvoice.core.errors import NotFound
from ourvoice.core.html import sanitize_html
from ourvoice.interactions.selectors import Page, posts_pinned_public, timeline_public
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import post_context, posts_of_account

PAGE_SIZE = 20


def safe_html(value: str) -> SafeString:
    """Stored HTML (sanitised on the way in) sanitised once more, then marked safe."""
    return mark_safe(sanitize_html(value or ""))


def safe_link(url: str) -> str:
    """`url` if it is an http(s) URL, else "" (remote data never becomes a javascript: link)."""
    try:
        scheme = urlsplit(url or "").scheme.lower()
    except ValueError:
        return ""
    return url if scheme in ("http", "https") else ""


def _max_id(request: HttpRequest) -> int | None:
    try:
        return int(request.GET["max_id"])
    except (KeyError, ValueError):
        return None


def account_view(account: Account) -> dict[str, Any]:
    """What a template shows of an account, with its HTML sanitised and links checked."""
    return {
        "display_name": account.display_name or account.username,
        "handle": f"@{account.username}@{account.domain or settings.OURVOICE_DOMAIN}",
        "note": safe_html(account.note),
        "fields": [
            {"name": field.get("name", ""), "value": safe_html(field.get("value", ""))}
            for field in account.fields or []
            if isinstance(field, dict)
        ],
        "avatar": safe_link(account.avatar_url),
        "header": safe_link(account.header_url),
        "profile": safe_link(account.url) or safe_link(account.uri),
        "uri": account.uri,
        "bot": account.bot or account.kind in (Account.Kind.SERVICE, Account.Kind.APPLICATION),
        "followers_count": account.followers_count,
        "following_count": account.following_count,
        "statuses_count": account.statuses_count,
        "created_at": account.created_at,
    }


def post_view(post: Post) -> dict[str, Any]:
    """What a template shows of a post: sanitised content, checked links, media."""
    return {
        "id": post.id,
        "uri": post.uri,
        "url": safe_link(post.url) or safe_link(post.uri),
        "author": account_view(post.author),
        "content": safe_html(post.content),
        "spoiler_text": post.spoiler_text,
        "sensitive": post.sensitive,
        "language": post.language,
        "visibility": post.visibility,
        "published_at": post.published_at,
        "edited_at": post.edited_at,
        "in_reply_to": safe_link(post.in_reply_to_uri),
        "replies_count": post.replies_count,
        "likes_count": post.likes_count,
        "reposts_count": post.reposts_count,
        "media": [
            {
                "url": safe_link(media.url or media.remote_url),
                "description": media.description,
                "type": media.type,
            }
            for media in post.media.all()
        ],
    }


def profile_page(request: HttpRequest, account: Account) -> HttpResponse:
    """The profile of a local account: bio, fields, pinned posts, recent public posts."""
    if account.is_suspended:
        return html_status(request, 410, "Account suspended", "This account has been suspended.")
    max_id = _max_id(request)
    qs = posts_of_account(viewer=None, account=account).prefetch_related("media")
    if max_id is not None:
        qs = qs.filter(id__lt=max_id)
    posts = list(qs[:PAGE_SIZE])
    older = f"?max_id={posts[-1].id}" if len(posts) == PAGE_SIZE else ""
    pinned = posts_pinned_public(account=account, limit=5) if max_id is None else []
    return html_response(
        request,
        "federation/profile.html",
        {
            "account": account_view(account),
            "actor_uri": account.uri,
            "posts": [post_view(post) for post in posts],
            "pinned": [post_view(post) for post in pinned],
            "older": older,
            "title": account.display_name or account.username,
        },
    )


def post_page(request: HttpRequest, post: Post) -> HttpResponse:
    """A post with the public part of its thread (ancestors above, replies below)."""
    ancestors, descendants = post_context(viewer=None, post=post)
    return html_response(
        request,
        "federation/post.html",
        {
            "post": post_view(post),
            "ancestors": [post_view(item) for item in ancestors],
            "descendants": [post_view(item) for item in descendants],
            "title": post.author.display_name or post.author.username,
        },
    )


@GET_OR_HEAD
def tag(request: HttpRequest, name: str) -> HttpResponse:
    """`/tags/<name>`: recent public posts with the hashtag (local and known remote ones)."""
    name = name.strip().lstrip("#").lower()
    if not name or len(name) > 255:
        return html_status(request, 404, "Not found", "There is no such hashtag.")
    entries = timeline_public(
        viewer=None, page=Page(max_id=_max_id(request), limit=PAGE_SIZE), hashtag=name
    )
    posts = [entry.post for entry in entries]
    older = f"?max_id={posts[-1].id}" if len(posts) == PAGE_SIZE else ""
    return html_response(
        request,
        "federation/tag.html",
        {"tag": name, "posts": [post_view(post) for post in posts], "older": older},
    )


@GET_OR_HEAD
def about(request: HttpRequest) -> HttpResponse:
    """`/about`: the instance (also the instance actor's `url`)."""
    moderation = system_actor_get(role=Account.Role.MODERATION)
    return html_response(
        request,
        "federation/about.html",
        {
            "domain": settings.OURVOICE_DOMAIN,
            "version": settings.VERSION,
            "usage": nodeinfo_usage(),
            "registration": settings.OURVOICE_REGISTRATION,
            "moderation": account_view(moderation),
            "instance_actor": urls.instance_actor_uri(),
        },
    )


@GET_OR_HEAD
def authorize_interaction(request: HttpRequest) -> HttpResponse:
    """`/authorize_interaction?uri=…` (the WebFinger subscribe template).

    A local `acct:`/`@user` goes to that profile; anything else gets instructions: search the
    address in a Mastodon-compatible app signed in to this server.
    """
    uri = request.GET.get("uri", "").strip()
    acct = uri.removeprefix("acct:")
    if acct and "/" not in acct:
        try:
            account = account_get_by_acct(acct=acct)
        except NotFound:
            account = None
        if account is not None and account.local and account.role != Account.Role.INSTANCE:
            return profile_page(request, account)
    return html_response(
        request,
        "federation/authorize_interaction.html",
        {"uri": uri, "domain": settings.OURVOICE_DOMAIN},
    )
