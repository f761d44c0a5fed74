"""Read-only admin list of notifications, with a "Dismiss" action that goes through the service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.errors import NotFound
from ourvoice.notifications.models import Marker, Notification
from ourvoice.notifications.services import notification_dismiss


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "recipient", "type", "from_account", "post", "dismissed", "created_at")
    list_filter = ("type", "dismissed")
    list_select_related = ("recipient", "from_account", "post")
    search_fields = (
        "recipient__username",
        "from_account__username",
        "from_account__domain",
        "dedupe_key",
    )
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("dismiss",)

    @admin.action(description="Dismiss selected notifications")
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        """Dismiss each selected notification for its recipient, as the recipient would."""
        done = 0
        for item in queryset.select_related("recipient").filter(dismissed=False):
            try:
                notification_dismiss(recipient=item.recipient, notification_id=item.pk)
            except NotFound:  # deleted meanwhile
                continue
            done += 1
        self.message_user(request, f"Dismissed {done} notification(s).", messages.SUCCESS)


@admin.register(Marker)
class MarkerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read positions clients sync through `/api/v1/markers`."""

    list_display = ("account", "timeline", "last_read_id", "version", "updated_at")
    list_filter = ("timeline",)
    list_select_related = ("account",)
    search_fields = ("account__username",)
