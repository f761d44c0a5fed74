"""Actor documents: local accounts at /users/<username> (and /@<username>), the instance
actor at /actor. Content negotiation: AP JSON for AP clients, the HTML profile otherwise.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from federation.outbound.renderers import render_actor, render_actor_suspended
from federation.views import pages
from federation.views.common import (
    GET_OR_HEAD,
    activitypub_content_type,
    authorize_fetch,
    html_status,
    json_response,
    local_account,
)
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get


@GET_OR_HEAD
def actor(request: HttpRequest, username: str) -> HttpResponse:
    """A local actor: Person/Service JSON (410 + minimal actor when suspended) or its profile."""
    content_type = activitypub_content_type(request)
    account = local_account(username)
    if content_type is None:
        if account is None:
            return html_status(request, 404, "Not found", "There is no such account here.")
        return pages.profile_page(request, account)
    if account is None:
        return json_response({"error": "Record not found"}, content_type=content_type, status=404)
    fetch = authorize_fetch(request, owner=account)
    if isinstance(fetch, HttpResponse):
        return fetch
    if account.is_suspended:
        # Mastodon keeps the key and inboxes of a suspended actor so peers can still verify.
        return fetch.json(render_actor_suspended(account), content_type=content_type, status=410)
    return fetch.json(render_actor(account), content_type=content_type)


@GET_OR_HEAD
def instance_actor(request: HttpRequest) -> HttpResponse:
    """`/actor`: the Application actor; always fetchable without a signature (its key too)."""
    content_type = activitypub_content_type(request)
    if content_type is None:
        return pages.about(request)
    account = system_actor_get(role=Account.Role.INSTANCE)
    fetch = authorize_fetch(request, exempt=True)
    if isinstance(fetch, HttpResponse):  # pragma: no cover - exempt never refuses
        return fetch
    return json_response(
        render_actor(account), content_type=content_type, cache="max-age=180, public"
    )
