"""Django admin for reports: a read-only queue with a "Mark resolved" action.

Reports are facts filed by users, so nothing here edits them; resolving goes through
`report_resolve`, which records who resolved the report and when.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from moderation.models import Report
from moderation.services import report_resolve


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "reporter",
        "target_account",
        "category",
        "reported_posts",
        "forward",
        "state",
        "resolved_at",
    )
    list_filter = ("state", "category", "forward", "target_account__domain")
    list_select_related = ("reporter", "target_account", "resolved_by")
    search_fields = (
        "=id",
        "reporter__username",
        "target_account__username",
        "target_account__domain",
        "comment",
    )
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = (
        "id",
        "state",
        "reporter",
        "target_account",
        "category",
        "rule_ids",
        "status_ids",
        "comment",
        "forward",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields
    actions = ("mark_resolved",)

    @admin.display(description="posts")
    def reported_posts(self, obj: Report) -> int:
        return len(obj.status_ids or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        # The pages are read-only, but resolving is a change: keep Django's permission for it.
        return request.user.has_perm("moderation.change_report")

    @admin.action(description="Mark resolved", permissions=["resolve"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        """Resolve each selected open report through `report_resolve`."""
        done = sum(
            1 for report in queryset if report_resolve(report=report, resolved_by=request.user)
        )
        skipped = queryset.count() - done
        self.message_user(request, f"{done} report(s) marked resolved.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} were already resolved.", messages.INFO)
