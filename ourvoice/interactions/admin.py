"""Read-only admin lists of likes, boosts and bookmarks.

Rows change only through the services (they keep the post counters and the outbox in step),
so the admin can look and search but never add, edit or delete.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.interactions.models import Bookmark, Like, Pin, Repost


class ReadOnlyInteractionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shared read-only behaviour: searchable by account, post id or AP id; newest first."""

    list_select_related = ("account", "post")
    search_fields = ("account__username", "account__domain", "post__uri", "uri")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    # ActivityPub ids are https URLs; also silences Django 5.2's URLField scheme warning.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    # Read-only: deleting here would bypass like_delete/repost_delete (counters and Undo
    # would drift).

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Also match a numeric search term against the post id."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term.isdigit():
            queryset |= self.model.objects.filter(post_id=int(term))
        return queryset, may_have_duplicates


@admin.register(Like)
class LikeAdmin(ReadOnlyInteractionAdmin):
    list_display = ("id", "account", "post", "created_at", "uri")


@admin.register(Repost)
class RepostAdmin(ReadOnlyInteractionAdmin):
    list_display = ("id", "account", "post", "visibility", "created_at", "uri")
    list_filter = ("visibility",)


@admin.register(Bookmark)
class BookmarkAdmin(ReadOnlyInteractionAdmin):
    # Bookmarks never federate, so they have no AP id to show or search.
    list_display = ("id", "account", "post", "created_at")
    search_fields = ("account__username", "account__domain", "post__uri")


@admin.register(Pin)
class PinAdmin(ReadOnlyInteractionAdmin):
    """Posts pinned to profiles (the AP `featured` collection)."""

    list_display = ("id", "account", "post", "created_at")
    search_fields = ("account__username", "account__domain", "post__uri")
