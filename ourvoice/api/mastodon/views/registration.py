"""Sign-up through the API: `POST /api/v1/accounts` (Mastodon.py `create_account`, toot)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.api.mastodon import oauth_service as oauth
from ourvoice.api.mastodon.base import MastodonView


class AccountRegister(MastodonView):
    """Create a local user and answer with a Token entity for it.

    Needs an app token (client_credentials) or a user token with `write:accounts`.
    `OURVOICE_REGISTRATION=closed` → 403; `approval` → a pending user whose token is refused
    (401, see `auth.py`) until an admin approves the sign-up.
    """

    scopes = {"POST": "write:accounts"}
    app_token_ok = {"POST"}

    def post(self, request: Request) -> Response:
        p = self.params
        try:
            issued = oauth.account_register(
                application=request.auth.application,
                username=p.str("username"),
                email=p.str("email"),
                password=p.str("password"),
                agreement=p.bool("agreement"),
                locale=p.str("locale"),
                reason=p.str("reason"),
                fallback_scope=request.auth.scope,
            )
        except oauth.RegistrationInvalid as exc:
            details = {
                name: [{"error": code, "description": text} for code, text in errors]
                for name, errors in exc.details.items()
            }
            return Response({"error": exc.message, "details": details}, status=422)
        return Response(issued.body())
