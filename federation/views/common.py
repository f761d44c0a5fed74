"""Shared plumbing of the federation GET views: content negotiation, JSON and HTML responses,
authorized fetch, and the local-account lookup every route starts with.

These are hot paths (every remote server dereferences our actors and notes): plain Django
views, orjson bodies, at most one or two queries per request.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from federation import verify
from federation.policy import DomainBlocked
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_blocked_either_way, account_get_by_acct
from ourvoice.core import urls
from ourvoice.core.errors import NotFound
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import post_get_by_uri

logger = logging.getLogger(__name__)

ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
JRD_JSON = "application/jrd+json"
GET_OR_HEAD = require_http_methods(["GET", "HEAD"])
#: Mastodon's public cache time for actor and object documents (3 minutes).
PUBLIC_MAX_AGE = 180


def _media_ranges(accept: str) -> list[tuple[str, str]]:
    """(type/subtype lowercased, raw parameters) of each Accept range with q > 0."""
    ranges = []
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 1.0
        if q > 0:
            ranges.append((media, params))
    return ranges


def activitypub_content_type(request: HttpRequest) -> str | None:
    """The AP content type to answer with, or None when the client wants HTML.

    `application/activity+json` when asked for it (or for both AP types); the ld+json profile
    type when that was the only AP type in `Accept` (Mastodon answers with exactly what was
    asked since 4.2.5).
    """
    media = {name for name, _ in _media_ranges(request.headers.get("Accept", ""))}
    if ACTIVITY_JSON in media:
        return ACTIVITY_JSON
    if "application/ld+json" in media:
        return LD_JSON
    return None


def json_response(
    document: Any,
    *,
    content_type: str,
    status: int = 200,
    vary: str = "Accept",
    cache: str | None = None,
) -> HttpResponse:
    """An orjson body with exactly `content_type`, `Vary` and an optional `Cache-Control`."""
    response = HttpResponse(orjson.dumps(document), content_type=content_type, status=status)
    if vary:
        response["Vary"] = vary
    if cache:
        response["Cache-Control"] = cache
    return response


def html_response(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """A server-rendered page (autoescaped template) with `Vary: Accept`."""
    response = render(request, template, context, status=status)
    response["Vary"] = "Accept"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def html_status(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    """A small HTML error page (404 not found, 410 gone)."""
    return html_response(
        request, "federation/status.html", {"title": title, "message": message}, status=status
    )


class FetchContext:
    """Who is asking (authorized fetch) and how to answer: the signer and the cache headers."""

    def __init__(self, signer: Account | None, *, signed_mode: bool) -> None:
        self.signer = signer
        self.signed_mode = signed_mode

    @property
    def vary(self) -> str:
        return "Accept, Signature" if self.signed_mode else "Accept"

    @property
    def cache(self) -> str:
        if self.signed_mode:
            return "private"
        return f"max-age={PUBLIC_MAX_AGE}, public"

    def json(self, document: Any, *, content_type: str, status: int = 200) -> HttpResponse:
        return json_response(
            document, content_type=content_type, status=status, vary=self.vary, cache=self.cache
        )

    def raw(self, body: bytes, *, content_type: str) -> HttpResponse:
        """Already serialised JSON (a stored activity), served byte for byte."""
        response = HttpResponse(body, content_type=content_type)
        response["Vary"] = self.vary
        response["Cache-Control"] = self.cache
        return response


def authorize_fetch(
    request: HttpRequest,
    *,
    owner: Account | None = None,
    exempt: bool = False,
    want_signer: bool = False,
) -> FetchContext | HttpResponse:
    """Apply authorized fetch (settings.OURVOICE_AUTHORIZED_FETCH) to an AP GET.

    Off: everyone gets the public document without any verification (peers sign every GET;
    checking them would cost a key fetch per request for nothing); with `want_signer` a signed
    request is still verified, best effort, for views that serve signer-only documents. On: a valid
    signature is required (401 otherwise), a blocked domain gets 403, and so does a signer that
    `owner` blocks or is blocked by. `exempt` (the instance actor) never needs a signature,
    or two authorized-fetch servers would deadlock fetching each other's keys.
    """
    required = bool(settings.OURVOICE_AUTHORIZED_FETCH) and not exempt
    has_signature = "Signature" in request.headers or "Signature-Input" in request.headers
    if not required and not (want_signer and has_signature):
        return FetchContext(None, signed_mode=False)
    try:
        signer = verify.verify_signed_get(request)
    except verify.SignatureRejected as exc:
        if not required:
            return FetchContext(None, signed_mode=False)
        logger.info("signed GET rejected path=%s reason=%s", request.path, exc)
        return json_response(
            {"error": "Request not signed"}, content_type=ACTIVITY_JSON, status=401
        )
    except DomainBlocked:
        return json_response({"error": "Forbidden"}, content_type=ACTIVITY_JSON, status=403)
    if required and owner is not None and account_blocked_either_way(viewer=signer, account=owner):
        return json_response({"error": "Forbidden"}, content_type=ACTIVITY_JSON, status=403)
    return FetchContext(signer, signed_mode=required)


def local_account(username: str) -> Account | None:
    """The local account with this username (any case, suspended included), else None.

    The instance actor is served at /actor only, never under /users/.
    """
    try:
        account = account_get_by_acct(acct=username, include_suspended=True)
    except NotFound:
        return None
    if not account.local or account.role == Account.Role.INSTANCE:
        return None
    return account


def local_post(account: Account, post_id: int | str) -> tuple[Post | None, bool]:
    """(post, gone) for `/users/<account>/statuses/<post_id>` as the public may see it.

    Deleted and removed posts are gone (410 + Tombstone). Archived, followers-only and direct
    posts, posts of suspended authors and unknown ids are not found (None, False): the public
    must not learn that they exist.
    """
    post = post_get_by_uri(uri=urls.post_uri(account.username, post_id))
    if post is None or not post.local or post.author_id != account.pk:
        return None, False
    if post.state in (Post.State.DELETED, Post.State.REMOVED):
        return post, True
    if (
        post.state != Post.State.ACTIVE
        or post.visibility not in (Visibility.PUBLIC, Visibility.UNLISTED)
        or account.is_suspended
    ):
        return None, False
    post.author = account
    return post, False
