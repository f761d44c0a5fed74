"""Collections of local actors and posts, shaped as Mastodon serves them.

outbox: `OrderedCollection` with `totalItems` and `first`; pages (`?page=true`, cursors
`max_id` / `min_id`) of 20 `Create` activities of public and unlisted posts, newest first.
followers / following: `totalItems` from the account counters and numbered pages
(`?page=N`, `page=true` = 1) of actor ids, accepted follows only. featured: the pinned posts,
embedded. Post replies / likes / shares: direct public replies, and counts.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from federation.outbound.renderers import ACTIVITYSTREAMS, CONTEXT, render_create, render_note
from federation.views.common import (
    ACTIVITY_JSON,
    GET_OR_HEAD,
    FetchContext,
    activitypub_content_type,
    authorize_fetch,
    json_response,
    local_account,
    local_post,
)
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_followers, account_following
from ourvoice.accounts.services import system_actor_get
from ourvoice.interactions.selectors import posts_pinned_public
from ourvoice.posts.selectors import post_context, posts_of_account

PAGE_SIZE = 20
MAX_PAGE = 100_000


def _without_context(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "@context"}


def _int_param(request: HttpRequest, name: str) -> int | None:
    try:
        value = int(request.GET[name])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


def _owner(request: HttpRequest, username: str) -> tuple[Account, FetchContext, str] | HttpResponse:
    """The local account, the fetch context and the content type, or the error response."""
    content_type = activitypub_content_type(request) or ACTIVITY_JSON
    account = local_account(username)
    if account is None:
        return json_response({"error": "Record not found"}, content_type=content_type, status=404)
    fetch = authorize_fetch(request, owner=account)
    if isinstance(fetch, HttpResponse):
        return fetch
    if account.is_suspended:
        return fetch.json({"error": "Gone"}, content_type=content_type, status=410)
    return account, fetch, content_type


@GET_OR_HEAD
def outbox(request: HttpRequest, username: str) -> HttpResponse:
    """`/users/<u>/outbox`: Create activities of public and unlisted posts."""
    found = _owner(request, username)
    if isinstance(found, HttpResponse):
        return found
    account, fetch, content_type = found
    collection_id = account.outbox_uri
    max_id = _int_param(request, "max_id")
    min_id = _int_param(request, "min_id")
    if "page" not in request.GET and max_id is None and min_id is None:
        document: dict[str, Any] = {
            "@context": ACTIVITYSTREAMS,
            "id": collection_id,
            "type": "OrderedCollection",
            "totalItems": account.statuses_count,
            "first": f"{collection_id}?page=true",
            "last": f"{collection_id}?min_id=0&page=true",
        }
        return fetch.json(document, content_type=content_type)
    posts = posts_of_account(viewer=None, account=account).prefetch_related(
        "mention_rows__account", "hashtags", "media"
    )
    if max_id is not None:
        posts = posts.filter(id__lt=max_id)
    if min_id is not None:
        rows = list(posts.filter(id__gt=min_id).order_by("id")[:PAGE_SIZE])
        rows.reverse()
    else:
        rows = list(posts[:PAGE_SIZE])
    query = f"max_id={max_id}&" if max_id is not None else ""
    query += f"min_id={min_id}&" if min_id is not None else ""
    page: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{collection_id}?{query}page=true",
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
    }
    if len(rows) == PAGE_SIZE or (min_id is not None and rows):
        page["next"] = f"{collection_id}?max_id={rows[-1].id}&page=true"
    if rows:
        page["prev"] = f"{collection_id}?min_id={rows[0].id}&page=true"
    page["orderedItems"] = [_without_context(render_create(post)) for post in rows]
    return fetch.json(page, content_type=content_type)


def _page_number(request: HttpRequest) -> int | None:
    """None for the collection itself; 1 for `page=true`; N for `page=N`."""
    value = request.GET.get("page")
    if value is None:
        return None
    if value.lower() == "true":
        return 1
    try:
        number = int(value)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _accounts_collection(request: HttpRequest, username: str, *, following: bool) -> HttpResponse:
    found = _owner(request, username)
    if isinstance(found, HttpResponse):
        return found
    account, fetch, content_type = found
    if following:
        collection_id = account.following_uri or f"{account.uri}/following"
        total = account.following_count
    else:
        collection_id = account.followers_uri or f"{account.uri}/followers"
        total = account.followers_count
    number = _page_number(request)
    if number is None:
        document: dict[str, Any] = {
            "@context": ACTIVITYSTREAMS,
            "id": collection_id,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": f"{collection_id}?page=1",
        }
        return fetch.json(document, content_type=content_type)
    qs = account_following(account=account) if following else account_followers(account=account)
    start = (number - 1) * PAGE_SIZE
    uris = list(qs.values_list("uri", flat=True)[start : start + PAGE_SIZE + 1])
    page: dict[str, Any] = {
        "@context": ACTIVITYSTREAMS,
        "id": f"{collection_id}?page={number}",
        "type": "OrderedCollectionPage",
        "totalItems": total,
        "partOf": collection_id,
    }
    if len(uris) > PAGE_SIZE:
        page["next"] = f"{collection_id}?page={number + 1}"
    if number > 1:
        page["prev"] = f"{collection_id}?page={number - 1}"
    page["orderedItems"] = uris[:PAGE_SIZE]
    return fetch.json(page, content_type=content_type)


@GET_OR_HEAD
def followers(request: HttpRequest, username: str) -> HttpResponse:
    """`/users/<u>/followers`: accepted followers' actor ids."""
    return _accounts_collection(request, username, following=False)


@GET_OR_HEAD
def following(request: HttpRequest, username: str) -> HttpResponse:
    """`/users/<u>/following`: actor ids of accepted follows."""
    return _accounts_collection(request, username, following=True)


@GET_OR_HEAD
def featured(request: HttpRequest, username: str) -> HttpResponse:
    """`/users/<u>/collections/featured`: pinned public/unlisted posts, embedded as Notes."""
    found = _owner(request, username)
    if isinstance(found, HttpResponse):
        return found
    account, fetch, content_type = found
    posts = posts_pinned_public(account=account)
    document = {
        "@context": CONTEXT,
        "id": account.featured_uri or f"{account.uri}/collections/featured",
        "type": "OrderedCollection",
        "totalItems": len(posts),
        "orderedItems": [_without_context(render_note(post)) for post in posts],
    }
    return fetch.json(document, content_type=content_type)


@GET_OR_HEAD
def instance_outbox(request: HttpRequest) -> HttpResponse:
    """`/actor/outbox`: the instance actor publishes nothing; served unsigned like the actor."""
    content_type = activitypub_content_type(request) or ACTIVITY_JSON
    account = system_actor_get(role=Account.Role.INSTANCE)
    document = {
        "@context": ACTIVITYSTREAMS,
        "id": account.outbox_uri,
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }
    return json_response(document, content_type=content_type, cache="max-age=180, public")


def _post_owner(
    request: HttpRequest, username: str, post_id: str
) -> tuple[Any, FetchContext, str] | HttpResponse:
    content_type = activitypub_content_type(request) or ACTIVITY_JSON
    account = local_account(username)
    post, gone = local_post(account, post_id) if account else (None, False)
    if account is None or post is None or gone:
        return json_response({"error": "Record not found"}, content_type=content_type, status=404)
    fetch = authorize_fetch(request, owner=account)
    if isinstance(fetch, HttpResponse):
        return fetch
    return post, fetch, content_type


@GET_OR_HEAD
def replies(request: HttpRequest, username: str, post_id: str) -> HttpResponse:
    """`<note>/replies`: ids of the public and unlisted direct replies (one page)."""
    found = _post_owner(request, username, post_id)
    if isinstance(found, HttpResponse):
        return found
    post, fetch, content_type = found
    _, descendants = post_context(viewer=None, post=post)
    items = [item.uri for item in descendants if item.in_reply_to_id == post.pk][:100]
    collection_id = f"{post.uri}/replies"
    page = {
        "id": f"{collection_id}?page=true",
        "type": "CollectionPage",
        "partOf": collection_id,
        "items": items,
    }
    if "page" in request.GET:
        return fetch.json({"@context": ACTIVITYSTREAMS, **page}, content_type=content_type)
    document = {
        "@context": ACTIVITYSTREAMS,
        "id": collection_id,
        "type": "Collection",
        "totalItems": len(items),
        "first": page,
    }
    return fetch.json(document, content_type=content_type)


def _counter(request: HttpRequest, username: str, post_id: str, *, kind: str) -> HttpResponse:
    found = _post_owner(request, username, post_id)
    if isinstance(found, HttpResponse):
        return found
    post, fetch, content_type = found
    total = post.likes_count if kind == "likes" else post.reposts_count
    document = {
        "@context": ACTIVITYSTREAMS,
        "id": f"{post.uri}/{kind}",
        "type": "Collection",
        "totalItems": total,
    }
    return fetch.json(document, content_type=content_type)


@GET_OR_HEAD
def likes(request: HttpRequest, username: str, post_id: str) -> HttpResponse:
    """`<note>/likes`: the number of favourites (Mastodon lists no likers)."""
    return _counter(request, username, post_id, kind="likes")


@GET_OR_HEAD
def shares(request: HttpRequest, username: str, post_id: str) -> HttpResponse:
    """`<note>/shares`: the number of boosts."""
    return _counter(request, username, post_id, kind="shares")
