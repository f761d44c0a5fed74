"""Objects at their ids: Notes (410 + Tombstone once deleted or removed), their Create
activities, and the stored activities of local actors (follows, likes, reposts, blocks).
"""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse

from federation.jsonld import PUBLIC, as_list, first_id
from federation.models import OutgoingActivity
from federation.outbound.renderers import CONTEXT, iso, render_create, render_note, render_tombstone
from federation.views import pages
from federation.views.common import (
    ACTIVITY_JSON,
    GET_OR_HEAD,
    FetchContext,
    activitypub_content_type,
    authorize_fetch,
    html_status,
    json_response,
    local_account,
    local_post,
)


def _not_found(content_type: str) -> HttpResponse:
    return json_response({"error": "Record not found"}, content_type=content_type, status=404)


def _gone(fetch: FetchContext, document: dict[str, Any], content_type: str) -> HttpResponse:
    return fetch.json({"@context": CONTEXT, **document}, content_type=content_type, status=410)


def _html_gone(request: HttpRequest) -> HttpResponse:
    return html_status(request, 410, "Post deleted", "This post has been deleted or removed.")


def _html_missing(request: HttpRequest) -> HttpResponse:
    return html_status(request, 404, "Not found", "There is no such post, or it is not public.")


@GET_OR_HEAD
def note(request: HttpRequest, username: str, post_id: str) -> HttpResponse:
    """A local post: its Note (or 410 + Tombstone) for AP clients, its page for browsers.

    Only public and unlisted posts are served; followers-only and direct posts answer 404
    like unknown ids (serving them to signed requests of allowed actors comes later).
    """
    content_type = activitypub_content_type(request)
    account = local_account(username)
    post, gone = local_post(account, post_id) if account else (None, False)
    if content_type is None:
        if gone:
            return _html_gone(request)
        if post is None:
            return _html_missing(request)
        return pages.post_page(request, post)
    if account is None or post is None:
        return _not_found(content_type)
    fetch = authorize_fetch(request, owner=account)
    if isinstance(fetch, HttpResponse):
        return fetch
    if gone:
        return _gone(fetch, render_tombstone(post), content_type)
    return fetch.json(render_note(post), content_type=content_type)


@GET_OR_HEAD
def note_activity(request: HttpRequest, username: str, post_id: str) -> HttpResponse:
    """`<note>/activity`: the Create of a public or unlisted post (410 once it is gone)."""
    content_type = activitypub_content_type(request) or ACTIVITY_JSON
    account = local_account(username)
    post, gone = local_post(account, post_id) if account else (None, False)
    if account is None or post is None:
        return _not_found(content_type)
    fetch = authorize_fetch(request, owner=account)
    if isinstance(fetch, HttpResponse):
        return fetch
    if gone:
        tombstone = {
            "id": f"{post.uri}/activity",
            "type": "Tombstone",
            "formerType": "Create",
            "deleted": render_tombstone(post)["deleted"],
        }
        return _gone(fetch, tombstone, content_type)
    return fetch.json(render_create(post), content_type=content_type)


def _stored_activities(uri: str) -> dict[str, OutgoingActivity]:
    """The stored activity with this id and, if it was undone, its Undo (`<id>/undo`)."""
    rows = OutgoingActivity.objects.filter(uri__in=[uri, f"{uri}/undo"]).only(
        "uri", "type", "actor_id", "body", "created_at"
    )
    return {row.uri: row for row in rows}


def _is_public(document: dict[str, Any]) -> bool:
    return PUBLIC in as_list(document.get("to")) + as_list(document.get("cc"))


@GET_OR_HEAD
def activity(
    request: HttpRequest, username: str, kind: str, object_id: str, undo: str | None = None
) -> HttpResponse:
    """`/users/<u>/<follows|likes|reposts|blocks>/<id>[/undo]`: the stored body, byte for byte.

    An activity that was undone answers 410. A Block is served only to a signed request from
    the blocked actor (it would tell everyone who blocks whom); an Announce only when it was
    addressed to the public.
    """
    content_type = activitypub_content_type(request) or ACTIVITY_JSON
    account = local_account(username)
    if account is None:
        return _not_found(content_type)
    fetch = authorize_fetch(request, owner=account, want_signer=kind == "blocks")
    if isinstance(fetch, HttpResponse):
        return fetch
    base = f"{account.uri}/{kind}/{object_id}"
    rows = _stored_activities(base)
    row = rows.get(f"{base}/undo" if undo else base)
    if row is None or row.actor_id != account.pk:
        return _not_found(content_type)
    body = bytes(row.body)
    document = orjson.loads(body)
    inner = document.get("object") if undo else document
    if kind == "blocks":
        target = first_id(inner.get("object")) if isinstance(inner, dict) else None
        if fetch.signer is None or fetch.signer.uri != target:
            return _not_found(content_type)
    elif kind == "reposts" and isinstance(inner, dict) and not _is_public(inner):
        return _not_found(content_type)
    if not undo and f"{base}/undo" in rows:
        tombstone = {
            "id": base,
            "type": "Tombstone",
            "formerType": row.type,
            "deleted": iso(rows[f"{base}/undo"].created_at),
        }
        return _gone(fetch, tombstone, content_type)
    return fetch.raw(body, content_type=content_type)
