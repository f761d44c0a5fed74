"""OAuth 2 for Mastodon clients: apps, authorize (HTML), token, revoke, discovery, login pages.

The logic lives in `ourvoice.api.mastodon.oauth_service`; these handlers parse HTTP and render.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any
from urllib.parse import unquote_plus, urlencode

from django import forms
from django.conf import settings
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from oauth2_provider.models import Application
from rest_framework import exceptions
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ourvoice.api.mastodon import oauth_service as oauth
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.params import Params
from ourvoice.api.mastodon.renderers import OrjsonRenderer
from ourvoice.core.errors import ApplicationError

logger = logging.getLogger(__name__)

NATIVE_PATH = "/oauth/authorize/native"
_TRUE = {"1", "true", "yes", "on"}

#: What each scope lets an app do, shown on the consent page.
SCOPE_TEXT = {
    "read": "Read all your account's data",
    "write": "Modify all your account's data",
    "follow": "Modify account relationships (follows, blocks, mutes)",
    "push": "Receive your push notifications",
    "profile": "Read only your account's profile information",
    "crypto": "Use end-to-end encryption",
    "admin:read": "Read all data on the server",
    "admin:write": "Modify all data on the server",
}


def scope_description(scope: str) -> str:
    if scope in SCOPE_TEXT:
        return SCOPE_TEXT[scope]
    prefix, _, thing = scope.rpartition(":")
    what = thing.replace("_", " ")
    if prefix == "read":
        return f"Read your {what}"
    if prefix == "write":
        return f"Modify your {what}"
    if prefix == "admin:read":
        return f"Read {what} on the server (admin)"
    if prefix == "admin:write":
        return f"Moderate {what} on the server (admin)"
    return scope


# --- JSON endpoints ----------------------------------------------------------------------------


def render_application(app: Application, *, secret: str | None = None) -> dict[str, Any]:
    """Mastodon's Application entity; with `secret`, the CredentialApplication."""
    uris = oauth.app_redirect_uris(app)
    data: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": oauth.app_website(app) or None,
        "scopes": oauth.app_scopes(app),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": "",
    }
    if secret is not None:
        data["client_id"] = app.client_id
        data["client_secret"] = secret
        data["client_secret_expires_at"] = 0
    return data


class AppCreate(MastodonView):
    """`POST /api/v1/apps`: public; a stale token sent along is ignored, as Mastodon does."""

    authentication_classes = []
    public = {"POST"}

    def post(self, request: Request) -> Response:
        p = self.params
        app, secret = oauth.app_register(
            name=p.str("client_name"),
            redirect_uris=oauth.redirect_uris_parse(p.raw("redirect_uris")),
            scopes=p.raw("scopes"),
            website=p.str("website"),
        )
        return Response(render_application(app, secret=secret))


class AppVerifyCredentials(MastodonView):
    """`GET /api/v1/apps/verify_credentials`: the token's app (app or user token)."""

    app_token_ok = {"GET"}

    def get(self, request: Request) -> Response:
        app = request.auth.application
        if app is None:
            return Response({"error": "The access token is invalid"}, status=401)
        return Response(render_application(app))


def oauth_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """RFC 6749 §5.2 bodies: `{"error": code, "error_description": text}`."""
    if isinstance(exc, oauth.OAuthError):
        error = exc
    elif isinstance(exc, exceptions.ParseError | exceptions.UnsupportedMediaType):
        error = oauth.OAuthError("invalid_request", f"The request body is malformed: {exc}")
    elif isinstance(exc, ApplicationError):
        error = oauth.OAuthError("invalid_request", exc.message)
    elif isinstance(exc, exceptions.MethodNotAllowed):
        return Response({"error": "Method not allowed"}, status=405)
    else:
        return None
    response = Response(error.body(), status=error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="Doorkeeper"'
    return response


class OAuthEndpoint(APIView):
    """Base of the JSON OAuth endpoints: no bearer auth, every encoding, OAuth error bodies."""

    authentication_classes = []
    permission_classes = []
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    renderer_classes = [OrjsonRenderer]
    params: Params

    def get_exception_handler(self) -> Any:
        return oauth_exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.params = Params.from_request(request)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response

    def client(self, request: Request) -> Application:
        """The authenticated client: HTTP Basic (client_secret_basic) or the body (_post)."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise oauth.OAuthError("invalid_client", oauth.INVALID_CLIENT, 401) from exc
            client_id, _, client_secret = decoded.partition(":")
            return oauth.app_authenticate(
                client_id=unquote_plus(client_id), client_secret=unquote_plus(client_secret)
            )
        return oauth.app_authenticate(
            client_id=self.params.str("client_id"), client_secret=self.params.str("client_secret")
        )


class TokenView(OAuthEndpoint):
    """`POST /oauth/token`: authorization_code, client_credentials, password (by setting)."""

    def post(self, request: Request) -> Response:
        p = self.params
        grant_type = p.str("grant_type")
        if not grant_type:
            raise oauth.OAuthError("invalid_request", "Missing required parameter: grant_type.")
        supported = {"authorization_code", "client_credentials"}
        if settings.OURVOICE_OAUTH_PASSWORD_GRANT:
            supported.add("password")
        if grant_type not in supported:
            raise oauth.OAuthError("unsupported_grant_type", oauth.UNSUPPORTED_GRANT_TYPE)
        app = self.client(request)
        if grant_type == "authorization_code":
            issued = oauth.token_exchange_code(
                application=app,
                code=p.str("code"),
                redirect_uri=p.str("redirect_uri"),
                code_verifier=p.str("code_verifier"),
            )
        elif grant_type == "client_credentials":
            issued = oauth.token_for_client(application=app, scope=p.optional_str("scope"))
        else:
            issued = oauth.token_for_password(
                application=app,
                username=p.str("username"),
                password=p.str("password"),
                scope=p.optional_str("scope"),
            )
        return Response(issued.body())


class RevokeView(OAuthEndpoint):
    """`POST /oauth/revoke`: always `{}` unless the client is wrong or the token not its own."""

    def post(self, request: Request) -> Response:
        app = self.client(request)
        oauth.token_revoke(application=app, raw=self.params.str("token"))
        return Response({})


class ServerMetadataView(OAuthEndpoint):
    """`GET /.well-known/oauth-authorization-server` (RFC 8414)."""

    def get(self, request: Request) -> Response:
        return Response(oauth.server_metadata())


# --- HTML: authorize ---------------------------------------------------------------------------


def _redirect(location: str) -> HttpResponse:
    """A 302 to exactly `location` (Django's redirect classes refuse custom schemes)."""
    response = HttpResponse(status=302)
    response["Location"] = location
    return response


def _error_page(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "oauth/error.html", {"message": message}, status=status)


def _check(params: QueryDict) -> oauth.AuthorizationRequest:
    return oauth.authorization_check(
        client_id=params.get("client_id", ""),
        redirect_uri=params.get("redirect_uri"),
        response_type=params.get("response_type", ""),
        scope=params.get("scope"),
        state=params.get("state"),
        code_challenge=params.get("code_challenge", ""),
        code_challenge_method=params.get("code_challenge_method", ""),
    )


def _deliver(
    request: HttpRequest,
    redirect_uri: str,
    state: str | None,
    *,
    code: str | None = None,
    error: str | None = None,
    description: str | None = None,
) -> HttpResponse:
    """Send a code or an error back to the client (the native page for the oob URI)."""
    if redirect_uri == oauth.OOB:
        if code is not None:
            return _redirect(oauth.callback_url(NATIVE_PATH, [("code", code)]))
        if error == "access_denied":
            return _redirect(oauth.callback_url(NATIVE_PATH, [("error", error)]))
        return _error_page(request, description or error or "")
    params = oauth.callback_params(code=code, error=error, description=description, state=state)
    return _redirect(oauth.callback_url(redirect_uri, params))


@method_decorator(never_cache, name="dispatch")
class AuthorizeView(View):
    """`GET /oauth/authorize`: login if needed, then consent; POST records the decision."""

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            auth = _check(request.GET)
        except oauth.AuthorizationFatal as exc:
            return _error_page(request, exc.message)
        except oauth.AuthorizationRedirectError as exc:
            return _deliver(
                request, exc.redirect_uri, exc.state, error=exc.error, description=exc.description
            )
        if request.user.is_authenticated and request.GET.get("force_login", "").lower() in _TRUE:
            # Multi-account clients (Elk) ask for a fresh login: sign out, then come back here.
            auth_logout(request)
            query = request.GET.copy()
            query.pop("force_login")
            return redirect_to_login(f"{request.path}?{query.urlencode()}", settings.LOGIN_URL)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return render(
            request,
            "oauth/authorize.html",
            {
                "app": auth.application,
                "website": oauth.app_website(auth.application),
                "scopes": [(s, scope_description(s)) for s in auth.scopes],
                "params": auth.as_params(),
                "redirect_uri": auth.redirect_uri,
                "oob": auth.oob,
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            auth = _check(request.POST)
        except oauth.AuthorizationFatal as exc:
            return _error_page(request, exc.message)
        except oauth.AuthorizationRedirectError as exc:
            return _deliver(
                request, exc.redirect_uri, exc.state, error=exc.error, description=exc.description
            )
        if not request.user.is_authenticated:
            return redirect_to_login(
                f"{request.path}?{urlencode(auth.as_params())}", settings.LOGIN_URL
            )
        if request.POST.get("decision") != "authorize":
            return _deliver(
                request,
                auth.redirect_uri,
                auth.state,
                error="access_denied",
                description=oauth.ACCESS_DENIED,
            )
        grant = oauth.grant_create(user=request.user, request=auth)
        return _deliver(request, auth.redirect_uri, auth.state, code=grant.code)


@method_decorator(never_cache, name="dispatch")
class AuthorizeNativeView(View):
    """`GET /oauth/authorize/native?code=…`: the code for out-of-band clients to copy."""

    def get(self, request: HttpRequest) -> HttpResponse:
        code = request.GET.get("code", "")
        if request.GET.get("error") == "access_denied":
            return render(request, "oauth/native.html", {"denied": True})
        if not code or len(code) > 255:
            return _error_page(request, "No authorization code was given.")
        return render(request, "oauth/native.html", {"code": code})


# --- HTML: login and logout --------------------------------------------------------------------


class LoginForm(AuthenticationForm):
    """Log in by username or email; pending and disabled logins are told why."""

    username = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].max_length = 254
        self.fields["username"].widget.attrs["maxlength"] = 254

    def clean(self) -> dict[str, Any]:
        login = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if login and password:
            try:
                user = oauth.user_authenticate(login=login, password=password)
            except oauth.LoginRefused as exc:
                message = {
                    "invalid_login": "Please enter a correct username or email and password.",
                    "pending": "Your account is pending approval by the administrators. "
                    "You can log in once it has been approved.",
                    "disabled": "Your account is disabled. Contact the administrators.",
                }[exc.code]
                raise ValidationError(message, code=exc.code) from exc
            user.backend = settings.AUTHENTICATION_BACKENDS[0]
            self.user_cache = user
        return self.cleaned_data


class LoginPage(auth_views.LoginView):
    """`/auth/login`: Django's login view with our form and template."""

    template_name = "auth/login.html"
    authentication_form = LoginForm
    next_page = "/auth/login"

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        logger.info("login user_id=%s", form.get_user().pk)
        return response


@method_decorator(never_cache, name="dispatch")
class LogoutPage(View):
    """`/auth/logout`: GET asks for confirmation, POST (CSRF-checked) logs out."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "auth/logout.html")

    def post(self, request: HttpRequest) -> HttpResponse:
        auth_logout(request)
        return render(request, "auth/logged_out.html")
