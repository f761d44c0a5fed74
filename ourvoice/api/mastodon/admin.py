"""Admin for the Mastodon API's own rows (OAuth applications are django-oauth-toolkit's)."""

from __future__ import annotations

from django.contrib import admin

from ourvoice.api.mastodon.models import AppProfile, IdempotentRequest
from ourvoice.core.adminkit import ReadOnlyAdminMixin


@admin.register(AppProfile)
class AppProfileAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What each client app registered: its scopes, website and exact redirect URIs."""

    list_display = ("application", "scopes", "website", "created_at")
    list_select_related = ("application",)
    search_fields = ("application__name", "application__client_id", "website")
    date_hierarchy = "created_at"


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Idempotency-Key records of status creation (replayed for one hour)."""

    list_display = ("user", "key", "post_id", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "key")
