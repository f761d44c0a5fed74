"""URL configuration: mounts admin, health, and (as they grow) federation and the APIs."""

from django.contrib import admin
from django.urls import include, path

from ourvoice import views

admin.site.site_header = "OUR Voice administration"
admin.site.site_title = "OUR Voice admin"

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("federation.urls_inbox")),
    path("", include("federation.urls_discovery")),
    path("", include("ourvoice.api.mastodon.urls_oauth")),
    path("", include("ourvoice.api.mastodon.urls_accounts")),
    path("", include("ourvoice.api.mastodon.urls_misc")),
    path("", include("moderation.urls")),
    path("", include("ourvoice.api.native.urls")),
    # last: ends with the JSON 404 for unknown /api/ routes
    path("", include("ourvoice.api.mastodon.urls")),
]
