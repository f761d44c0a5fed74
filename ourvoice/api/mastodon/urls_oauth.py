"""Mastodon API routes: oauth section (apps, authorize, token, revoke, discovery, sign-up, login).

Included before the main API urls, so `POST /api/v1/accounts` (sign-up) is served from here.
"""

from ourvoice.api.mastodon.routing import api
from ourvoice.api.mastodon.views import oauth, registration

urlpatterns = [
    # apps
    api(r"api/v1/apps", oauth.AppCreate),
    api(r"api/v1/apps/verify_credentials", oauth.AppVerifyCredentials),
    # sign-up
    api(r"api/v1/accounts", registration.AccountRegister),
    # OAuth 2
    api(r"oauth/authorize", oauth.AuthorizeView, name="oauth-authorize"),
    api(r"oauth/authorize/native", oauth.AuthorizeNativeView, name="oauth-authorize-native"),
    api(r"oauth/token", oauth.TokenView, name="oauth-token"),
    api(r"oauth/revoke", oauth.RevokeView, name="oauth-revoke"),
    api(r"\.well-known/oauth-authorization-server", oauth.ServerMetadataView),
    # browser session for the authorize flow
    api(r"auth/login", oauth.LoginPage, name="login"),
    api(r"auth/logout", oauth.LogoutPage, name="logout"),
]
