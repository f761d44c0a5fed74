"""Accounts: the signed-in profile, public profiles, their statuses and follow lists, search.

Registration (`POST /api/v1/accounts`) lives elsewhere; nothing here routes that exact path.
Relationship actions (follow, block, mute...) and the viewer's own lists are in `relations.py`.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import (
    account_blocked_either_way,
    account_followers,
    account_following,
    account_get,
    account_get_by_acct,
    accounts_get_many,
    accounts_search,
    familiar_followers_for,
    follow_requests_for,
)
from ourvoice.accounts.services import account_update_profile, user_set_posting_defaults
from ourvoice.api.mastodon.auth import token_covers
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import (
    render_account,
    render_credential_account,
    render_entries,
)
from ourvoice.api.mastodon.errors import ApiError
from ourvoice.api.mastodon.pagination import page_from, window
from ourvoice.api.mastodon.params import Params
from ourvoice.core.errors import Invalid
from ourvoice.interactions.selectors import timeline_account

#: Mastodon's `setting_default_privacy` accepts these three (never `direct`).
PRIVACY_CHOICES = ("public", "unlisted", "private")
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}([-_][a-z0-9]{2,8})?$", re.IGNORECASE)


def _credential_account(account: Account) -> dict[str, Any]:
    """CredentialAccount with the pending follow request count (one extra query)."""
    count = follow_requests_for(account=account).count()
    user = account.user
    return render_credential_account(
        account,
        follow_requests_count=count,
        privacy=user.default_privacy,
        sensitive=user.default_sensitive,
        language=user.default_language,
    )


class VerifyCredentials(MastodonView):
    """GET /api/v1/accounts/verify_credentials (`read:accounts`, or `profile` alone)."""

    scopes = {"GET": "read:accounts"}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Mastodon 4.4 lets a token with only `profile` read its own account here.
        token = request.auth
        if (
            token is not None
            and not token_covers(token, "read:accounts")
            and token_covers(token, "profile")
        ):
            self.scopes = {"GET": "profile"}
        super().initial(request, *args, **kwargs)

    def get(self, request: Request) -> Response:
        return Response(_credential_account(self.viewer))


def _fields_attributes(raw: Any) -> list[dict[str, str]]:
    """`fields_attributes` as a list of {name, value}: a list, or a dict keyed by position.

    Mastodon.py sends `fields_attributes[0][name]` (already a list after Params), masto.js
    nested multipart, and JSON clients a list or an object keyed "0", "1"...
    """
    if isinstance(raw, dict):
        if not all(str(key).isdigit() for key in raw):
            raise Invalid("fields_attributes must be a list of name and value pairs")
        raw = [raw[key] for key in sorted(raw, key=lambda k: int(k))]
    if not isinstance(raw, list):
        raise Invalid("fields_attributes must be a list of name and value pairs")
    fields = []
    for item in raw:
        if not isinstance(item, dict):
            raise Invalid("fields_attributes must be a list of name and value pairs")
        name, value = item.get("name", ""), item.get("value", "")
        if not isinstance(name, str | int | float) or not isinstance(value, str | int | float):
            raise Invalid("Profile field names and values must be strings")
        fields.append({"name": str(name), "value": str(value)})
    return fields


class UpdateCredentials(MastodonView):
    """PATCH /api/v1/accounts/update_credentials (`write:accounts`), form, multipart or JSON.

    Known gap: `avatar` and `header` uploads are accepted and ignored (no image storage yet).
    `source[privacy|sensitive|language]` are the posting defaults (stored on the user).
    """

    scopes = {"PATCH": "write:accounts"}

    def patch(self, request: Request) -> Response:
        p = self.params
        source = p.raw("source")
        if source is not None and not isinstance(source, dict):
            raise Invalid("source must be an object")
        source = source or {}
        privacy = source.get("privacy")
        if privacy not in (None, "") and privacy not in PRIVACY_CHOICES:
            raise Invalid("Default privacy is not included in the list")
        language = source.get("language")
        if language not in (None, "") and not (
            isinstance(language, str) and _LANGUAGE_RE.match(language)
        ):
            raise Invalid("Default language is not a language code")
        sensitive = None
        if "sensitive" in source and source["sensitive"] is not None:
            sensitive = Params({"sensitive": source["sensitive"]}).bool("sensitive")
        fields = None
        if "fields_attributes" in p:
            fields = _fields_attributes(p.raw("fields_attributes"))
        account_update_profile(
            account=self.viewer,
            display_name=p.optional_str("display_name"),
            note=p.optional_str("note"),
            locked=p.optional_bool("locked"),
            bot=p.optional_bool("bot"),
            discoverable=p.optional_bool("discoverable"),
            indexable=p.optional_bool("indexable"),
            fields=fields,
        )
        user_set_posting_defaults(
            user=self.viewer.user,
            privacy=privacy or None,
            sensitive=sensitive,
            language=language if isinstance(language, str) else None,
        )
        return Response(_credential_account(self.viewer))


class AccountDetail(MastodonView):
    """GET /api/v1/accounts/:id (public; suspended accounts are 404)."""

    scopes = {"GET": "read:accounts"}
    public = {"GET"}

    def get(self, request: Request, id: str) -> Response:
        return Response(render_account(account_get(account_id=id)))


class AccountLookup(MastodonView):
    """GET /api/v1/accounts/lookup?acct= (public; only accounts this server already knows)."""

    scopes = {"GET": "read:accounts"}
    public = {"GET"}

    def get(self, request: Request) -> Response:
        acct = self.params.str("acct")
        return Response(render_account(account_get_by_acct(acct=acct)))


class AccountStatuses(MastodonView):
    """GET /api/v1/accounts/:id/statuses with Mastodon's filters; boosts included."""

    scopes = {"GET": "read:statuses"}
    public = {"GET"}

    def get(self, request: Request, id: str) -> Response:
        p = self.params
        account = account_get(account_id=id)
        page = page_from(p, default=20, maximum=40)
        entries = timeline_account(
            viewer=self.viewer,
            account=account,
            page=page,
            pinned=p.bool("pinned"),
            exclude_replies=p.bool("exclude_replies"),
            exclude_reblogs=p.bool("exclude_reblogs"),
            only_media=p.bool("only_media"),
            tagged=p.str("tagged") or None,
        )
        data = render_entries(entries, viewer=self.viewer)
        return self.paginated(request, data, [e.id for e in entries], page)


class AccountFollows(MastodonView):
    """GET /api/v1/accounts/:id/followers and /following, paginated by the Follow row id.

    Empty when the account blocks the viewer (as Mastodon hides them).
    """

    scopes = {"GET": "read:accounts"}
    public = {"GET"}
    direction: str = "followers"

    def get(self, request: Request, id: str) -> Response:
        account = account_get(account_id=id)
        page = page_from(self.params, default=40, maximum=80)
        if account_blocked_either_way(viewer=self.viewer, account=account):
            return self.paginated(request, [], [], page)
        select = account_followers if self.direction == "followers" else account_following
        rows = window(select(account=account), page, key="follow_id")
        data = [render_account(row) for row in rows]
        return self.paginated(request, data, [row.follow_id for row in rows], page)


class AccountSearch(MastodonView):
    """GET /api/v1/accounts/search?q= (`read:accounts`): known accounts by name prefix.

    `resolve` is accepted, but nothing remote is fetched here.
    """

    scopes = {"GET": "read:accounts"}

    def get(self, request: Request) -> Response:
        p = self.params
        limit = max(1, min(p.int("limit", 40) or 40, 40))
        offset = max(0, p.int("offset", 0) or 0)
        accounts = accounts_search(
            viewer=self.viewer,
            query=p.str("q"),
            limit=limit,
            offset=offset,
            following=p.bool("following"),
        )
        return Response([render_account(a) for a in accounts])


class FamiliarFollowers(MastodonView):
    """GET /api/v1/accounts/familiar_followers?id[]=: accounts the viewer follows that follow
    each listed account, one `{id, accounts}` per requested account that exists (Mastodon
    leaves out unknown and suspended ids)."""

    scopes = {"GET": "read:follows"}

    def get(self, request: Request) -> Response:
        ids = self.params.str_list("id")[:40]
        known = accounts_get_many(account_ids=ids)
        ids = [i for i in ids if i.isdigit() and int(i) in known]
        familiar = familiar_followers_for(viewer=self.viewer, account_ids=ids)
        return Response(
            [
                {"id": str(pk), "accounts": [render_account(a) for a in accounts]}
                for pk, accounts in familiar.items()
            ]
        )


class Preferences(MastodonView):
    """GET /api/v1/preferences (`read:accounts`): the user's posting defaults."""

    scopes = {"GET": "read:accounts"}

    def get(self, request: Request) -> Response:
        return Response(
            {
                "posting:default:visibility": request.user.default_privacy,
                "posting:default:sensitive": request.user.default_sensitive,
                "posting:default:language": request.user.default_language or None,
                "reading:expand:media": "default",
                "reading:expand:spoilers": False,
            }
        )


class EmptyList(MastodonView):
    """A list endpoint for a feature OUR Voice does not have yet: always `[]`.

    Used for `/api/v1/followed_tags` (hashtags cannot be followed yet) and
    `/api/v1/endorsements` (accounts cannot be featured yet). Clients call both at startup,
    so they answer an empty list, never 404.
    """

    scope: str = "read:accounts"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.scopes = {"GET": self.scope}
        super().initial(request, *args, **kwargs)

    def get(self, request: Request) -> Response:
        return Response([])


class Lists(MastodonView):
    """GET /api/v1/lists: always `[]`.

    Lists are read-only in OUR Voice for now and there is no way to create one yet, so every
    list is empty and `/api/v1/lists/:id` is 404. Ivory, toot and Phanpy call this at startup.
    """

    scopes = {"GET": "read:lists"}

    def get(self, request: Request) -> Response:
        return Response([])


class ListDetail(MastodonView):
    """GET /api/v1/lists/:id: 404, since no list can exist yet (see `Lists`)."""

    scopes = {"GET": "read:lists"}

    def get(self, request: Request, id: str) -> Response:
        raise ApiError(404, "Record not found")


class AccountLists(MastodonView):
    """GET /api/v1/accounts/:id/lists: the viewer's lists containing the account, so `[]`."""

    scopes = {"GET": "read:lists"}

    def get(self, request: Request, id: str) -> Response:
        account_get(account_id=id)
        return Response([])
