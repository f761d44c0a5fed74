"""Django admin of the shared kernel: the outbox (read-only, with "Re-dispatch") and the rules.

Events and receipts are facts written by services and the dispatcher, so nothing here edits
them. Re-dispatching is safe at any time: receipts make every consumer run at most once.
Instance rules are policy that admins edit at runtime (architecture.md, rule 14).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.models import InstanceRule, OutboxEvent, OutboxReceipt
from ourvoice.core.outbox import outbox_event_dispatch

# The routing table lives in the composition root; the admin is an interface on top of it.
from ourvoice.events import CONSUMERS


class ProcessedFilter(admin.SimpleListFilter):
    title = "processed"
    parameter_name = "processed"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("yes", "Processed"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "yes":
            return queryset.filter(processed_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(processed_at__isnull=True)
        return queryset


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete from the admin."""


class OutboxReceiptInline(admin.TabularInline):
    model = OutboxReceipt
    fields = ("consumer", "done_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "created_at", "processed_at", "attempts")
    list_filter = (ProcessedFilter, "kind")
    search_fields = ("=id", "kind")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fields = ("id", "kind", "payload", "created_at", "processed_at", "attempts", "last_error")
    readonly_fields = fields
    inlines = (OutboxReceiptInline,)
    actions = ("redispatch",)

    def has_redispatch_permission(self, request: HttpRequest) -> bool:
        # The admin pages are read-only, but dispatching is a change: keep Django's permission.
        return request.user.has_perm("core.change_outboxevent")

    @admin.action(description="Re-dispatch selected events", permissions=["redispatch"])
    def redispatch(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        done = failed = 0
        for event_id in queryset.values_list("id", flat=True):
            if outbox_event_dispatch(event_id=event_id, consumers=CONSUMERS):
                done += 1
            else:
                failed += 1
        self.message_user(request, f"{done} event(s) dispatched.", messages.SUCCESS)
        if failed:
            self.message_user(
                request,
                f"{failed} event(s) still have a failing consumer; see their last error.",
                messages.WARNING,
            )


@admin.register(OutboxReceipt)
class OutboxReceiptAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "consumer", "done_at")
    list_filter = ("consumer",)
    search_fields = ("=event__id", "consumer")
    list_select_related = ("event",)
    ordering = ("-done_at",)
    fields = ("event", "consumer", "done_at")
    readonly_fields = fields


@admin.register(InstanceRule)
class InstanceRuleAdmin(admin.ModelAdmin):
    list_display = ("text", "position", "created_at")
    list_editable = ("position",)
    search_fields = ("text", "hint")
    fields = ("text", "hint", "position")
