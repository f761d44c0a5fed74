"""OAuth 2 as Mastodon clients speak it: app registration, grants, tokens, revocation, sign-up.

Plain functions over django-oauth-toolkit's rows (`Application`, `Grant`, `AccessToken`) and our
`AppProfile`; the views in `views/oauth.py` and `views/registration.py` only parse HTTP and render.
Client quirks this module serves are listed in `mastodon-api.md` §1:

- Redirect URIs are opaque strings (`icecubesapp://`, `com.tapbots.Ivory.123:/request_token`,
  Elk's percent-encoded URL): compared byte for byte and never rebuilt with `urlparse`.
- Tokens never expire (100 years), carry no refresh token, and only their SHA-256 checksum is
  stored (`COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`).
- Error texts follow Doorkeeper (Mastodon's OAuth library), which toot shows verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from oauth2_provider.models import AccessToken, Application, Grant, set_token_value
from oauth2_provider.settings import oauth2_settings

from ourvoice.accounts.models import Account, User
from ourvoice.accounts.services import RESERVED_USERNAMES, USERNAME_RE, user_create
from ourvoice.api.mastodon.models import AppProfile
from ourvoice.api.mastodon.scopes import KNOWN_SCOPES, is_subset, parse_scopes, unknown_scopes
from ourvoice.core.errors import Invalid, NotAllowed

logger = logging.getLogger(__name__)

#: The out-of-band redirect URI: the code is shown on a page instead (toot, Mastodon.py).
OOB = "urn:ietf:wg:oauth:2.0:oob"
#: Mastodon issues tokens that never expire; 100 years is "never" for a DateTimeField.
TOKEN_LIFETIME = timedelta(days=36525)
MAX_APP_NAME = 60
MAX_URI = 2000
MAX_REDIRECT_URIS = 20
MAX_REASON = 1000
#: A URI: a scheme, a colon, then only characters RFC 3986 allows (so no spaces, no fragment).
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+$")
#: Schemes a browser would run instead of navigating to.
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
#: base64url of a SHA-256 digest is 43 characters; RFC 7636 allows 43 to 128.
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")

# Doorkeeper's wording (config/locales/doorkeeper.en.yml), which Mastodon clients show as is.
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."
UNSUPPORTED_GRANT_TYPE = (
    "The authorization grant type is not supported by the authorization server."
)
UNSUPPORTED_RESPONSE_TYPE = "The authorization server does not support this response type."
ACCESS_DENIED = "The resource owner or authorization server denied the request."
INVALID_REDIRECT_URI = (
    "The requested redirect uri is malformed or doesn't match client redirect URI."
)
UNAUTHORIZED_REVOKE = "You are not authorized to revoke this token"
PENDING_APPROVAL = "Your login is currently pending approval"
LOGIN_DISABLED = "Your login is currently disabled"
WRONG_CREDENTIALS = "Invalid username, email address or password."
REGISTRATIONS_CLOSED = "Registrations are closed"


class OAuthError(Exception):
    """An RFC 6749 error: rendered as `{"error", "error_description"}` with `status`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class AuthorizationFatal(Exception):
    """The authorization request cannot be answered with a redirect (unknown client or URI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthorizationRedirectError(Exception):
    """A bad authorization request whose error goes back to the (validated) redirect URI."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


class LoginRefused(Exception):
    """Credentials that do not let this person in; `code` is wrong, pending or disabled."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RegistrationInvalid(Exception):
    """Sign-up input that breaks rules; `details` maps a field to `(ERR_CODE, description)`s."""

    def __init__(self, details: dict[str, list[tuple[str, str]]]) -> None:
        self.details = details
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [
            f"{_LABELS.get(name, name.capitalize())} {description}"
            for name, errors in self.details.items()
            for _code, description in errors
        ]
        return "Validation failed: " + ", ".join(parts)


# --- applications ------------------------------------------------------------------------------


def redirect_uris_parse(value: Any) -> list[str]:
    """Registered URIs from a string (one per line, Mastodon.py joins with `\\n`) or a list."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list | tuple):
        items = [part for v in value if v is not None for part in str(v).split()]
    else:
        raise Invalid("Redirect URI must be a string or an array of strings")
    return list(dict.fromkeys(items))


def redirect_uri_check(uri: str) -> None:
    """Raise `Invalid` unless `uri` is an absolute URI without a fragment (any scheme).

    Not Django's `URLValidator`: custom schemes (`icecubesapp://`) and URNs are normal here.
    """
    if "#" in uri:
        raise Invalid("Redirect URI cannot contain a fragment.")
    if len(uri) > MAX_URI or not _URI_RE.match(uri):
        raise Invalid("Redirect URI must be an absolute URI.")
    scheme = uri.split(":", 1)[0].lower()
    if scheme in _FORBIDDEN_SCHEMES:
        raise Invalid("Redirect URI must not use a script or local file scheme.")


def _scope_list(value: Any) -> list[str]:
    if value is not None and not isinstance(value, str | list | tuple):
        raise Invalid("Scopes must be a string")
    return parse_scopes(value, default="read")


@transaction.atomic
def app_register(
    *, name: str, redirect_uris: list[str], scopes: Any = None, website: str = ""
) -> tuple[Application, str]:
    """Register a client (`POST /api/v1/apps`); returns the app and its plaintext secret.

    The secret is hashed by django-oauth-toolkit on save, so this is the only moment it is
    known; verify it later with `app_authenticate`. Raises `Invalid` with Mastodon's messages.
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("Name can't be blank", field="client_name")
    if len(name) > MAX_APP_NAME:
        raise Invalid(f"Name is too long (maximum is {MAX_APP_NAME} characters)")
    if not redirect_uris:
        raise Invalid("Redirect URI can't be blank", field="redirect_uris")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise Invalid(f"Redirect URI is too long (maximum is {MAX_REDIRECT_URIS} URIs)")
    for uri in redirect_uris:
        redirect_uri_check(uri)
    scope_list = _scope_list(scopes)
    unknown = unknown_scopes(scope_list)
    if unknown:
        raise Invalid(f"Scopes are not valid: {' '.join(unknown)}", field="scopes")
    website = (website or "").strip()
    if website:
        try:
            URLValidator(schemes=["http", "https"])(website)
        except ValidationError as exc:
            raise Invalid("Website is not a valid URL", field="website") from exc
        if len(website) > MAX_URI:
            raise Invalid(f"Website is too long (maximum is {MAX_URI} characters)")
    secret = secrets.token_urlsafe(32)
    app = Application.objects.create(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(redirect_uris),
        client_secret=secret,
        hash_client_secret=True,
    )
    AppProfile.objects.create(
        application=app,
        scopes=" ".join(scope_list),
        website=website,
        redirect_uris=list(redirect_uris),
    )
    logger.info("oauth app registered app_id=%s name=%r", app.id, name)
    return app, secret


def app_profile(app: Application) -> AppProfile | None:
    """The Mastodon data of an app (None for apps made in Django admin without one)."""
    try:
        return app.profile
    except AppProfile.DoesNotExist:
        return None


def app_scopes(app: Application) -> list[str]:
    profile = app_profile(app)
    return parse_scopes(profile.scopes if profile else None, default="read")


def app_redirect_uris(app: Application) -> list[str]:
    """The URIs exactly as registered (falls back to DOT's space-separated column)."""
    profile = app_profile(app)
    if profile is not None and profile.redirect_uris:
        return [str(uri) for uri in profile.redirect_uris]
    return app.redirect_uris.split()


def app_website(app: Application) -> str:
    profile = app_profile(app)
    return profile.website if profile else ""


def app_get(*, client_id: str) -> Application | None:
    if not client_id:
        return None
    return Application.objects.select_related("profile").filter(client_id=client_id).first()


def app_authenticate(*, client_id: str | None, client_secret: str | None) -> Application:
    """The app whose id and secret these are, else `OAuthError(invalid_client)` with 401."""
    app = app_get(client_id=client_id or "")
    if app is None or not client_secret:
        raise OAuthError("invalid_client", INVALID_CLIENT, 401)
    if app.hash_client_secret:
        valid = check_password(client_secret, app.client_secret)
    else:
        valid = constant_time_compare(client_secret, app.client_secret)
    if not valid:
        raise OAuthError("invalid_client", INVALID_CLIENT, 401)
    return app


# --- authorization -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated `GET /oauth/authorize` request."""

    application: Application
    redirect_uri: str
    scopes: list[str]
    state: str | None = None
    code_challenge: str = ""
    code_challenge_method: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)

    @property
    def oob(self) -> bool:
        return self.redirect_uri == OOB

    def as_params(self) -> dict[str, str]:
        """The request again as query parameters (for the consent form and login `next`)."""
        params = {
            "client_id": self.application.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": self.scope,
        }
        if self.state is not None:
            params["state"] = self.state
        if self.code_challenge:
            params["code_challenge"] = self.code_challenge
            params["code_challenge_method"] = self.code_challenge_method
        return params


def authorization_check(
    *,
    client_id: str,
    redirect_uri: str | None,
    response_type: str,
    scope: str | None,
    state: str | None = None,
    code_challenge: str = "",
    code_challenge_method: str = "",
) -> AuthorizationRequest:
    """Validate an authorization request (RFC 6749 §4.1.1, PKCE RFC 7636, S256 only).

    Raises `AuthorizationFatal` when the client or redirect URI is unknown (the caller shows an
    error page: never redirect to an unregistered URI), else `AuthorizationRedirectError` for
    errors the client should receive at its redirect URI. `redirect_uri` may be omitted when
    the app registered exactly one. Unknown parameters are the caller's to ignore.
    """
    app = app_get(client_id=client_id)
    if app is None:
        raise AuthorizationFatal(INVALID_CLIENT)
    registered = app_redirect_uris(app)
    if redirect_uri is None or redirect_uri == "":
        if len(registered) != 1:
            raise AuthorizationFatal(INVALID_REDIRECT_URI)
        redirect_uri = registered[0]
    elif redirect_uri not in registered:
        raise AuthorizationFatal(INVALID_REDIRECT_URI)
    state = state or None

    def fail(error: str, description: str) -> AuthorizationRedirectError:
        return AuthorizationRedirectError(
            error, description, redirect_uri=redirect_uri, state=state
        )

    if response_type != "code":
        raise fail("unsupported_response_type", UNSUPPORTED_RESPONSE_TYPE)
    requested = parse_scopes(scope, default="read")
    if unknown_scopes(requested) or not is_subset(requested, app_scopes(app)):
        raise fail("invalid_scope", INVALID_SCOPE)
    if code_challenge:
        if code_challenge_method != Grant.CODE_CHALLENGE_S256:
            raise fail("invalid_request", "The code challenge method must be S256.")
        if not _CHALLENGE_RE.match(code_challenge):
            raise fail("invalid_request", "The code challenge is malformed.")
    else:
        code_challenge_method = ""
    return AuthorizationRequest(
        application=app,
        redirect_uri=redirect_uri,
        scopes=requested,
        state=state,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
    )


@transaction.atomic
def grant_create(*, user: User, request: AuthorizationRequest) -> Grant:
    """Record the user's consent as a single-use code, valid for 10 minutes.

    Precondition: `user` is logged in and active, `request` came from `authorization_check`.
    """
    lifetime = timedelta(seconds=oauth2_settings.AUTHORIZATION_CODE_EXPIRE_SECONDS)
    grant = Grant.objects.create(
        user=user,
        application=request.application,
        code=secrets.token_urlsafe(32),
        expires=timezone.now() + lifetime,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
    )
    logger.info("oauth grant created app_id=%s user_id=%s", request.application.id, user.pk)
    return grant


def callback_url(redirect_uri: str, params: Iterable[tuple[str, str]]) -> str:
    """`redirect_uri` + `?` (or `&` when it has a query) + the encoded parameters.

    String concatenation on purpose: `urlunparse(urlparse("icecubesapp://"))` loses the `//`,
    and `urlparse` lower-cases `com.tapbots.Ivory…` (mastodon-api.md §1.2).
    """
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params)
    if redirect_uri.endswith(("?", "&")):
        return redirect_uri + query
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


def callback_params(
    *,
    code: str | None = None,
    error: str | None = None,
    description: str | None = None,
    state: str | None = None,
) -> list[tuple[str, str]]:
    """Parameters for the redirect back to the client: `code` or `error`, then `state`."""
    params: list[tuple[str, str]] = []
    if code is not None:
        params.append(("code", code))
    if error is not None:
        params.append(("error", error))
        if description:
            params.append(("error_description", description))
    if state is not None:
        params.append(("state", state))
    return params


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token and its bearer string (only known at creation)."""

    token: AccessToken
    raw: str

    def body(self) -> dict[str, Any]:
        """Mastodon's Token entity: no `expires_in`, no `refresh_token`."""
        return {
            "access_token": self.raw,
            "token_type": "Bearer",
            "scope": self.token.scope,
            "created_at": int(self.token.created.timestamp()),
        }


def _checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_issue(*, application: Application | None, user: User | None, scope: str) -> IssuedToken:
    """Create a bearer token (app-only when `user` is None); only its checksum is stored."""
    raw = secrets.token_urlsafe(32)
    token = AccessToken(
        user=user,
        application=application,
        scope=scope,
        expires=timezone.now() + TOKEN_LIFETIME,
    )
    set_token_value(token, raw)
    token.save()
    logger.info(
        "oauth token issued app_id=%s user_id=%s scope=%r",
        getattr(application, "id", None),
        getattr(user, "pk", None),
        scope,
    )
    return IssuedToken(token=token, raw=raw)


def _granted_scope(requested: str | None, application: Application) -> str:
    scopes = parse_scopes(requested, default="read")
    if unknown_scopes(scopes) or not is_subset(scopes, app_scopes(application)):
        raise OAuthError("invalid_scope", INVALID_SCOPE)
    return " ".join(scopes)


def pkce_matches(*, verifier: str, challenge: str) -> bool:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding equals the challenge."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return constant_time_compare(computed, challenge)


def token_exchange_code(
    *, application: Application, code: str, redirect_uri: str, code_verifier: str = ""
) -> IssuedToken:
    """`grant_type=authorization_code`: trade a code for a user token with the granted scope.

    The code is consumed before anything else is checked, so a failed exchange (wrong
    redirect URI or PKCE verifier) burns it too; a code is never usable twice. Do not call
    this inside an outer transaction that an `OAuthError` would roll back.
    """
    if not code:
        raise OAuthError("invalid_request", "Missing required parameter: code.")
    grant = Grant.objects.select_related("user").filter(code=code, application=application).first()
    if grant is None:
        raise OAuthError("invalid_grant", INVALID_GRANT)
    deleted, _ = Grant.objects.filter(pk=grant.pk).delete()
    if not deleted:  # someone else exchanged it a moment ago
        raise OAuthError("invalid_grant", INVALID_GRANT)
    if grant.is_expired() or not grant.redirect_uri_allowed(redirect_uri or ""):
        raise OAuthError("invalid_grant", INVALID_GRANT)
    if grant.code_challenge:
        if not code_verifier or not pkce_matches(
            verifier=code_verifier, challenge=grant.code_challenge
        ):
            raise OAuthError("invalid_grant", "The PKCE code verifier does not match.")
    elif code_verifier:
        # RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        raise OAuthError("invalid_grant", "A code verifier was sent for a code without PKCE.")
    if not grant.user.is_active:
        raise OAuthError("invalid_grant", INVALID_GRANT)
    return token_issue(application=application, user=grant.user, scope=grant.scope)


def token_for_client(*, application: Application, scope: str | None) -> IssuedToken:
    """`grant_type=client_credentials`: an app-only token (default scope `read`)."""
    granted = _granted_scope(scope, application)
    return token_issue(application=application, user=None, scope=granted)


def token_for_password(
    *, application: Application, username: str, password: str, scope: str | None
) -> IssuedToken:
    """`grant_type=password` (toot `login_cli`), only with `OURVOICE_OAUTH_PASSWORD_GRANT`.

    `username` may be the username or the email address.
    """
    if not settings.OURVOICE_OAUTH_PASSWORD_GRANT:
        raise OAuthError("unsupported_grant_type", UNSUPPORTED_GRANT_TYPE)
    if not username or not password:
        missing = "username" if not username else "password"
        raise OAuthError("invalid_request", f"Missing required parameter: {missing}.")
    granted = _granted_scope(scope, application)
    try:
        user = user_authenticate(login=username, password=password)
    except LoginRefused as exc:
        description = INVALID_GRANT if exc.code == "invalid_login" else exc.message
        raise OAuthError("invalid_grant", description) from exc
    return token_issue(application=application, user=user, scope=granted)


@transaction.atomic
def token_revoke(*, application: Application, raw: str) -> bool:
    """Delete the token (RFC 7009); True if one was deleted. Unknown tokens are not an error.

    Raises `OAuthError(unauthorized_client, 403)` for a token of another application.
    """
    if not raw:
        return False
    token = AccessToken.objects.filter(token_checksum=_checksum(raw)).first()
    if token is None:
        return False
    if token.application_id != application.id:
        raise OAuthError("unauthorized_client", UNAUTHORIZED_REVOKE, 403)
    AccessToken.objects.filter(pk=token.pk).delete()
    logger.info("oauth token revoked app_id=%s token_id=%s", application.id, token.pk)
    return True


def server_metadata() -> dict[str, Any]:
    """RFC 8414 authorization server metadata, as Mastodon 4.3 publishes it."""
    base = settings.OURVOICE_BASE_URL
    grant_types = ["authorization_code", "client_credentials"]
    if settings.OURVOICE_OAUTH_PASSWORD_GRANT:
        grant_types.append("password")
    return {
        "issuer": f"{base}/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": sorted(KNOWN_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": grant_types,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }


# --- people ------------------------------------------------------------------------------------


def user_find_by_login(*, login: str) -> User | None:
    """The local user whose username or email this is (both case-insensitive); `@alice` too."""
    login = (login or "").strip()
    if login.startswith("@") and login.count("@") == 1:
        login = login[1:]
    if not login:
        return None
    if "@" in login:
        return User.objects.filter(email__iexact=login).first()
    return User.objects.filter(username__iexact=login).first()


def user_authenticate(*, login: str, password: str) -> User:
    """The user these credentials belong to, if they may log in; else `LoginRefused`.

    The approval state is revealed only to someone who knows the password.
    """
    user = user_find_by_login(login=login)
    if user is None:
        User().set_password(password)  # same cost as a real check: no timing oracle
        raise LoginRefused("invalid_login", WRONG_CREDENTIALS)
    if not user.check_password(password):
        raise LoginRefused("invalid_login", WRONG_CREDENTIALS)
    if user.approval == User.Approval.PENDING:
        raise LoginRefused("pending", PENDING_APPROVAL)
    if not user.is_active or user.approval != User.Approval.APPROVED:
        raise LoginRefused("disabled", LOGIN_DISABLED)
    return user


_LABELS = {
    "username": "Username",
    "email": "Email",
    "password": "Password",
    "agreement": "Agreement",
    "locale": "Locale",
    "reason": "Reason",
}


def _password_errors(password: str) -> list[tuple[str, str]]:
    try:
        validate_password(password)
    except ValidationError as exc:
        errors = []
        for error in exc.error_list:
            if error.code == "password_too_short":
                minimum = (error.params or {}).get("min_length", 8)
                errors.append(("ERR_TOO_SHORT", f"is too short (minimum is {minimum} characters)"))
            elif error.code == "password_too_common":
                errors.append(("ERR_INVALID", "is too common"))
            elif error.code == "password_entirely_numeric":
                errors.append(("ERR_INVALID", "is entirely numeric"))
            else:
                errors.append(("ERR_INVALID", "is invalid"))
        return errors
    return []


def registration_errors(
    *, username: str, email: str, password: str, agreement: bool, locale: str, reason: str
) -> dict[str, list[tuple[str, str]]]:
    """Every rule a sign-up breaks, per field, with Mastodon's error codes (ERR_TAKEN...)."""
    details: dict[str, list[tuple[str, str]]] = {}

    def add(name: str, code: str, description: str) -> None:
        details.setdefault(name, []).append((code, description))

    if not username:
        add("username", "ERR_BLANK", "can't be blank")
    elif len(username) > 30:
        add("username", "ERR_TOO_LONG", "is too long (maximum is 30 characters)")
    elif not USERNAME_RE.match(username):
        add("username", "ERR_INVALID", "must contain only letters, numbers and underscores")
    elif username.lower() in RESERVED_USERNAMES:
        add("username", "ERR_RESERVED", "is reserved")
    elif Account.objects.local().filter(username__iexact=username).exists():
        add("username", "ERR_TAKEN", "has already been taken")
    if not email:
        add("email", "ERR_BLANK", "can't be blank")
    else:
        try:
            validate_email(email)
        except ValidationError:
            add("email", "ERR_INVALID", "is invalid")
        else:
            if User.objects.filter(email__iexact=email).exists():
                add("email", "ERR_TAKEN", "has already been taken")
    if not password:
        add("password", "ERR_BLANK", "can't be blank")
    else:
        for code, description in _password_errors(password):
            add("password", code, description)
    if not agreement:
        add("agreement", "ERR_ACCEPTED", "must be accepted")
    if locale and (len(locale) > 16 or not _LOCALE_RE.match(locale)):
        add("locale", "ERR_INCLUSION", "is not included in the list")
    if len(reason) > MAX_REASON:
        add("reason", "ERR_TOO_LONG", f"is too long (maximum is {MAX_REASON} characters)")
    return details


def _registration_error(exc: Invalid) -> tuple[str, str]:
    """Mastodon's code and description for a rule `user_create` enforced."""
    text = exc.message.lower()
    if "taken" in text or "in use" in text:
        return ("ERR_TAKEN", "has already been taken")
    if "reserved" in text:
        return ("ERR_RESERVED", "is reserved")
    return ("ERR_INVALID", "is invalid")


@transaction.atomic
def account_register(
    *,
    application: Application | None,
    username: str,
    email: str,
    password: str,
    agreement: bool,
    locale: str = "",
    reason: str = "",
    fallback_scope: str = "read",
) -> IssuedToken:
    """Sign up through the API (`POST /api/v1/accounts`, Mastodon's AppSignUpService).

    Honours `OURVOICE_REGISTRATION`: `closed` raises `NotAllowed`; `approval` creates a pending
    user (`user_create(approved=False)`) whose token works once an admin approves. The new
    token has the app's registered scopes (`fallback_scope` for a token without an app).
    `user_create` records `account.created`, which notifies the admins (`admin.sign_up`).
    Raises `RegistrationInvalid` with every broken rule at once.
    """
    mode = settings.OURVOICE_REGISTRATION
    if mode == "closed":
        raise NotAllowed(REGISTRATIONS_CLOSED)
    username = (username or "").strip()
    email = (email or "").strip()
    reason = (reason or "").strip()
    details = registration_errors(
        username=username,
        email=email,
        password=password or "",
        agreement=agreement,
        locale=locale,
        reason=reason,
    )
    if details:
        raise RegistrationInvalid(details)
    try:
        user = user_create(
            username=username,
            email=email,
            password=password,
            approved=mode == "open",
            reason=reason,
            locale=locale,
        )
    except Invalid as exc:  # a rule only user_create knows, or a concurrent sign-up
        logger.info("sign-up refused by user_create: %s", exc.message)
        field_name = exc.field if exc.field in _LABELS else "username"
        raise RegistrationInvalid({field_name: [_registration_error(exc)]}) from exc
    scope = " ".join(app_scopes(application)) if application is not None else fallback_scope
    return token_issue(application=application, user=user, scope=scope)
