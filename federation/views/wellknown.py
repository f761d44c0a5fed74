"""Discovery: WebFinger (RFC 7033 + RFC 7565), host-meta (XRD) and NodeInfo 2.0 / 2.1.

federation.md §1. Plain Django views with orjson bodies: every remote server hits these before
it talks to us, and resolving `@user@host` costs a WebFinger round trip per lookup.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import quoteattr

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from federation.views.common import (
    ACTIVITY_JSON,
    GET_OR_HEAD,
    JRD_JSON,
    json_response,
    local_account,
)
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get
from ourvoice.core import urls
from ourvoice.posts.models import Post

NODEINFO_NS = "http://nodeinfo.diaspora.software/ns/schema/"
PROFILE_PAGE_REL = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
AVATAR_REL = "http://webfinger.net/rel/avatar"
#: Mastodon lets WebFinger answers be cached for 3 days.
WEBFINGER_MAX_AGE = 3 * 24 * 3600
NODEINFO_USAGE_TTL = 60
MODERATION_PROTOCOL_VERSION = "1"
DESCRIPTION = "An OUR Voice server: community-moderated social networking."

# RFC 7565 userpart: unreserved / sub-delims / pct-encoded, plus ':' because the instance
# actor's username is the domain, port included (`acct:localhost:8000@localhost:8000`).
# A host[:port] follows the last '@'.
_USERPART = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})+$")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-]+(?::[0-9]{1,5})?$")
_USERNAME = re.compile(r"^[A-Za-z0-9_]+$")


def _cors(response: HttpResponse) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _error(status: int, message: str) -> HttpResponse:
    return _cors(json_response({"error": message}, content_type=JRD_JSON, status=status, vary=""))


def _is_local_domain(domain: str) -> bool:
    return urls.normalize_domain(domain) == urls.normalize_domain(settings.OURVOICE_DOMAIN)


class BadResource(ValueError):
    """The `resource` parameter is not a well-formed acct: or http(s) URI (→ 400)."""


def _username_for(resource: str) -> str | None:
    """The local username (or "" for the instance actor) a resource names, None if not ours.

    Raises BadResource for a malformed resource.
    """
    if resource.lower().startswith("acct:"):
        user, at, host = resource[5:].rpartition("@")
        if not at or not user or not host or not _USERPART.match(user):
            raise BadResource(resource)
        if not _HOSTPORT.match(host):
            raise BadResource(resource)
        if not _is_local_domain(host):
            return None
        user = unquote(user).removeprefix("@")
        if _is_local_domain(user):
            return ""
        return user
    if resource.lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(resource)
            port = parts.port
        except ValueError as exc:
            raise BadResource(resource) from exc
        if not parts.hostname:
            raise BadResource(resource)
        base = urlsplit(settings.OURVOICE_BASE_URL)
        netloc = parts.hostname + (f":{port}" if port else "")
        if parts.scheme.lower() != base.scheme or not _is_local_domain(netloc):
            return None
        path = parts.path.rstrip("/")
        if path in ("/actor", "/about"):
            return ""
        for prefix in ("/users/", "/@"):
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                return path[len(prefix) :]
        return None
    if ":" not in resource or not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", resource):
        raise BadResource(resource)
    return None  # another URI scheme (mailto:, did:…): nothing of ours


def _jrd(account: Account, *, instance: bool) -> dict[str, Any]:
    domain = settings.OURVOICE_DOMAIN
    profile = account.url or account.uri
    links: list[dict[str, Any]] = [
        {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile},
        {"rel": "self", "type": ACTIVITY_JSON, "href": account.uri},
        {"rel": SUBSCRIBE_REL, "template": urls.absolute_url("/authorize_interaction?uri={uri}")},
    ]
    if account.avatar_url and not instance:
        links.append({"rel": AVATAR_REL, "href": account.avatar_url})
    return {
        "subject": f"acct:{account.username}@{domain}",
        "aliases": list(dict.fromkeys([profile, account.uri])),
        "links": links,
    }


@GET_OR_HEAD
def webfinger(request: HttpRequest) -> HttpResponse:
    """`/.well-known/webfinger?resource=…[&rel=…]`: 400 malformed, 404 unknown or foreign."""
    resource = request.GET.get("resource", "").strip()
    if not resource:
        return _error(400, "The resource parameter is required")
    try:
        username = _username_for(resource)
    except BadResource:
        return _error(400, "The resource parameter is malformed")
    if username is None:
        return _error(404, "Not found")
    if username == "":
        account: Account | None = system_actor_get(role=Account.Role.INSTANCE)
    elif _USERNAME.match(username):
        account = local_account(username)
    else:
        account = None
    if account is None:
        return _error(404, "Not found")
    if account.is_suspended:
        return _error(410, "Gone")
    document = _jrd(account, instance=username == "")
    rels = {rel for rel in request.GET.getlist("rel") if rel}
    if rels:
        document["links"] = [link for link in document["links"] if link["rel"] in rels]
    return _cors(
        json_response(
            document,
            content_type=JRD_JSON,
            vary="",
            cache=f"max-age={WEBFINGER_MAX_AGE}, public",
        )
    )


def _lrdd_template() -> str:
    return urls.absolute_url("/.well-known/webfinger?resource={uri}")


@GET_OR_HEAD
def host_meta(request: HttpRequest) -> HttpResponse:
    """`/.well-known/host-meta`: XRD with the `lrdd` template (Mastodon's WebFinger fallback)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(_lrdd_template())}/>\n'
        "</XRD>\n"
    )
    response = HttpResponse(body, content_type="application/xrd+xml; charset=utf-8")
    response["Cache-Control"] = f"max-age={WEBFINGER_MAX_AGE}, public"
    return _cors(response)


@GET_OR_HEAD
def host_meta_json(request: HttpRequest) -> HttpResponse:
    """`/.well-known/host-meta.json`: the same as JRD."""
    document = {"links": [{"rel": "lrdd", "template": _lrdd_template()}]}
    return _cors(json_response(document, content_type=JRD_JSON, vary=""))


@GET_OR_HEAD
def nodeinfo_index(request: HttpRequest) -> HttpResponse:
    """`/.well-known/nodeinfo`: links to the 2.1 and 2.0 documents."""
    document = {
        "links": [
            {"rel": f"{NODEINFO_NS}{version}", "href": urls.absolute_url(f"/nodeinfo/{version}")}
            for version in ("2.1", "2.0")
        ]
    }
    return _cors(json_response(document, content_type="application/json", vary=""))


def nodeinfo_usage() -> dict[str, Any]:
    """Real usage numbers (cached for a minute): local people, active by last post or login.

    `users` counts approved, active, unsuspended local people (not the system actors);
    `localPosts` every active local post; `localComments` the replies among them.
    """
    cached = cache.get("federation:nodeinfo:usage")
    if cached is not None:
        return cached
    now = timezone.now()
    people = Account.objects.local().filter(
        role=Account.Role.USER, suspended_at__isnull=True, user__is_active=True
    )

    def active_since(days: int) -> int:
        since = now - timedelta(days=days)
        return people.filter(Q(last_status_at__gte=since) | Q(user__last_login__gte=since)).count()

    posts = Post.objects.filter(local=True, state=Post.State.ACTIVE)
    usage = {
        "users": {
            "total": people.count(),
            "activeHalfyear": active_since(180),
            "activeMonth": active_since(30),
        },
        "localPosts": posts.count(),
        "localComments": posts.exclude(in_reply_to_uri="").count(),
    }
    cache.set("federation:nodeinfo:usage", usage, NODEINFO_USAGE_TTL)
    return usage


def nodeinfo_document(version: str) -> dict[str, Any]:
    """The NodeInfo document for schema `version` ("2.0" or "2.1")."""
    return {
        "version": version,
        "software": {"name": "ourvoice", "version": settings.VERSION},
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": settings.OURVOICE_REGISTRATION == "open",
        "usage": nodeinfo_usage(),
        "metadata": {
            "nodeName": settings.OURVOICE_DOMAIN,
            "nodeDescription": DESCRIPTION,
            "ourvoice": {
                "moderation": {
                    "version": MODERATION_PROTOCOL_VERSION,
                    "actor": urls.actor_uri("moderation"),
                }
            },
        },
    }


def _nodeinfo(version: str) -> HttpResponse:
    content_type = f'application/json; profile="{NODEINFO_NS}{version}#"'
    return _cors(
        json_response(
            nodeinfo_document(version),
            content_type=content_type,
            vary="",
            cache=f"max-age={NODEINFO_USAGE_TTL}, public",
        )
    )


@GET_OR_HEAD
def nodeinfo_20(request: HttpRequest) -> HttpResponse:
    return _nodeinfo("2.0")


@GET_OR_HEAD
def nodeinfo_21(request: HttpRequest) -> HttpResponse:
    return _nodeinfo("2.1")
