"""Base class of every Mastodon API view: token auth, scopes, parameters, errors, rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ourvoice.accounts.models import Account
from ourvoice.api.mastodon.auth import BearerTokenAuthentication, token_covers
from ourvoice.api.mastodon.errors import (
    OUTSIDE_SCOPES,
    USER_REQUIRED,
    ApiError,
    mastodon_exception_handler,
)
from ourvoice.api.mastodon.pagination import link_header
from ourvoice.api.mastodon.params import Params
from ourvoice.api.mastodon.renderers import OrjsonRenderer
from ourvoice.interactions.selectors import Page


class MastodonView(APIView):
    """Subclasses declare, per HTTP method, the scope they need and who may call them.

    - `scopes = {"GET": "read:statuses", "POST": "write:statuses"}`: a token must cover it.
    - `public = {"GET"}`: methods that also work without a token (anonymous viewer).
    - `app_token_ok = {"POST"}`: methods an app token (client_credentials, no user) may call.
    Every other method needs a user token: none → 401, app token → 422.
    """

    authentication_classes = [BearerTokenAuthentication]
    permission_classes: ClassVar[list] = []
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    renderer_classes = [OrjsonRenderer]
    scopes: ClassVar[dict[str, str]] = {}
    public: ClassVar[set[str]] = set()
    app_token_ok: ClassVar[set[str]] = set()

    viewer: Account | None = None
    params: Params

    def get_exception_handler(self) -> Any:
        return mastodon_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = request.method or "GET"
        token = request.auth
        user = request.user
        if token is None:
            if method not in self.public and method != "OPTIONS":
                raise ApiError(401, "The access token is invalid")
        else:
            required = self.scopes.get(method)
            if required and not token_covers(token, required):
                raise ApiError(403, OUTSIDE_SCOPES)
            if user is None and method not in self.app_token_ok and method not in self.public:
                raise ApiError(422, USER_REQUIRED)
        self.viewer = getattr(user, "account", None) if user is not None else None
        self.params = Params.from_request(request)

    def paginated(
        self, request: Request, data: list[Any], ids: Sequence[int], page: Page
    ) -> Response:
        """A list response with Mastodon's `Link` header (none on an empty page)."""
        response = Response(data)
        link = link_header(request, ids, page)
        if link:
            response["Link"] = link
        return response
