"""Django admin of federation: remote instances (policy, tier, health), the inbox and delivery.

Instances are policy that admins edit at runtime (architecture.md rule 14): policy, moderation
tier, reject flags, software and a private note. A policy change goes through
`federation.services.instance_set_policy` (so suspending also withholds pending deliveries).
Inbox items, outgoing activities, deliveries, post recipients and tombstones are facts written
by the federation code and are read-only here. The "Delivery backlog" page (linked from the
Instance list) shows pending deliveries per domain and the failing or unavailable domains.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from federation import services
from federation.delivery import deliveries_enqueue
from federation.models import (
    Delivery,
    InboxItem,
    Instance,
    OutgoingActivity,
    PostInbox,
    RemoteTombstone,
)
from federation.policy import policy_cache_clear
from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete from the admin."""


def _pretty_json(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


# --- Instances ------------------------------------------------------------------------------------


class HealthFilter(admin.SimpleListFilter):
    title = "delivery health"
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [
            ("unavailable", "Unavailable"),
            ("failing", "Failing (not yet unavailable)"),
            ("ok", "Healthy"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        failing = ~Q(failure_days=[])
        if self.value() == "unavailable":
            return queryset.filter(unavailable_since__isnull=False)
        if self.value() == "failing":
            return queryset.filter(failing, unavailable_since__isnull=True)
        if self.value() == "ok":
            return queryset.filter(unavailable_since__isnull=True, failure_days=[])
        return queryset


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = (
        "domain",
        "software",
        "policy",
        "moderation_tier",
        "reject_media",
        "reject_reports",
        "failure_day_count",
        "unavailable_since",
        "last_success_at",
        "first_seen_at",
    )
    list_filter = ("policy", "moderation_tier", HealthFilter, "reject_media", "reject_reports")
    search_fields = ("domain", "software", "note")
    ordering = ("domain",)
    actions = ("suspend", "silence", "clear_policy", "mark_available")
    change_list_template = "admin/federation/instance/change_list.html"
    fieldsets = (
        (None, {"fields": ("domain", "note")}),
        (
            "Policy",
            {"fields": ("policy", "moderation_tier", "reject_media", "reject_reports")},
        ),
        (
            "Software",
            {"fields": ("software", "software_version", "moderation_inbox", "nodeinfo_fetched_at")},
        ),
        (
            "Delivery health",
            {"fields": ("failure_days", "unavailable_since", "last_success_at", "first_seen_at")},
        ),
    )
    readonly_fields = (
        "software_version",
        "moderation_inbox",
        "nodeinfo_fetched_at",
        "failure_days",
        "unavailable_since",
        "last_success_at",
        "first_seen_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The domain is the row's identity: set it when adding, never rename it afterwards.
        return (*self.readonly_fields, "domain") if obj is not None else self.readonly_fields

    @admin.display(description="failure days")
    def failure_day_count(self, obj: Instance) -> int:
        return len(obj.failure_days or [])

    def save_model(
        self, request: HttpRequest, obj: Instance, form: ModelForm, change: bool
    ) -> None:
        """Save the form; a changed policy goes through `instance_set_policy`."""
        changed = set(form.changed_data)
        new_policy = obj.policy
        if not change:
            obj.domain = normalize_domain(obj.domain)
            obj.policy = Instance.Policy.NONE
            obj.save()
        else:
            fields = [
                name
                for name in changed - {"policy"}
                if name in {f.name for f in Instance._meta.concrete_fields}
            ]
            if fields:
                obj.save(update_fields=fields)
                policy_cache_clear(obj.domain)
        if not change or "policy" in changed:
            services.instance_set_policy(instance=obj, policy=new_policy)
            obj.refresh_from_db()
            logger.info(
                "admin instance policy domain=%s policy=%s by=%s",
                obj.domain,
                obj.policy,
                request.user.pk,
            )

    def _set_policy(self, request: HttpRequest, queryset: QuerySet[Instance], policy: str) -> None:
        changed = sum(
            services.instance_set_policy(instance=instance, policy=policy) for instance in queryset
        )
        self.message_user(request, f"{changed} instance(s) set to {policy}.", messages.SUCCESS)
        logger.info("admin instance policy=%s changed=%s by=%s", policy, changed, request.user.pk)

    @admin.action(description="Suspend selected domains", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        self._set_policy(request, queryset, Instance.Policy.SUSPEND)

    @admin.action(description="Silence selected domains", permissions=["change"])
    def silence(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        self._set_policy(request, queryset, Instance.Policy.SILENCE)

    @admin.action(description="Clear the policy of selected domains", permissions=["change"])
    def clear_policy(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        self._set_policy(request, queryset, Instance.Policy.NONE)

    @admin.action(description="Mark selected domains available again", permissions=["change"])
    def mark_available(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        changed = queryset.filter(Q(unavailable_since__isnull=False) | ~Q(failure_days=[])).update(
            unavailable_since=None, failure_days=[]
        )
        self.message_user(request, f"{changed} instance(s) marked available.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        backlog = path(
            "backlog/",
            self.admin_site.admin_view(self.backlog_view),
            name="federation_delivery_backlog",
        )
        return [backlog, *super().get_urls()]

    def backlog_view(self, request: HttpRequest) -> HttpResponse:
        """Pending deliveries per domain, and the domains that fail or are unavailable."""
        if not (
            self.has_view_permission(request) and request.user.has_perm("federation.view_delivery")
        ):
            return HttpResponse("Forbidden", status=403)
        now = timezone.now()
        pending = Delivery.objects.filter(state=Delivery.State.PENDING)
        per_domain = list(
            pending.values("domain")
            .annotate(
                count=Count("id"),
                retrying=Count("id", filter=Q(attempts__gt=0)),
                due=Count("id", filter=Q(next_attempt_at__lte=now)),
                max_attempts=Max("attempts"),
                oldest=Min("created_at"),
                next_attempt=Min("next_attempt_at"),
            )
            .order_by("-count", "domain")[:200]
        )
        totals = dict(Delivery.objects.values_list("state").annotate(n=Count("id")).order_by())
        failing = list(
            Instance.objects.filter(
                Q(unavailable_since__isnull=False) | ~Q(failure_days=[])
            ).order_by("-unavailable_since", "domain")[:200]
        )
        failing_pending = dict(
            pending.filter(domain__in=[instance.domain for instance in failing])
            .values_list("domain")
            .annotate(n=Count("id"))
            .order_by()
        )
        skipped = list(
            Delivery.objects.filter(state=Delivery.State.SKIPPED)
            .values("domain", "last_error")
            .annotate(count=Count("id"))
            .order_by("-count")[:50]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Delivery backlog",
            "opts": self.model._meta,
            "per_domain": per_domain,
            "pending_total": totals.get(Delivery.State.PENDING, 0),
            "totals": [(label, totals.get(value, 0)) for value, label in Delivery.State.choices],
            "failing": [
                (
                    instance,
                    len(instance.failure_days or []),
                    failing_pending.get(instance.domain, 0),
                )
                for instance in failing
            ],
            "skipped": skipped,
            "delivery_changelist": reverse("admin:federation_delivery_changelist"),
            "now": now,
        }
        return TemplateResponse(request, "admin/federation/delivery_backlog.html", context)


# --- Inbox ---------------------------------------------------------------------------------------


@admin.register(InboxItem)
class InboxItemAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "activity_type",
        "actor_uri",
        "state",
        "attempts",
        "received_at",
        "processed_at",
    )
    list_filter = ("state", "activity_type")
    search_fields = ("=id", "activity_id", "actor_uri")
    date_hierarchy = "received_at"
    ordering = ("-id",)
    fields = (
        "id",
        "activity_id",
        "activity_type",
        "actor_uri",
        "key_id",
        "state",
        "attempts",
        "error",
        "received_at",
        "processed_at",
        "body_json",
    )
    readonly_fields = fields

    @admin.display(description="body")
    def body_json(self, obj: InboxItem) -> str:
        return _pretty_json(obj.body)


# --- Outgoing activities and deliveries -----------------------------------------------------------


@admin.register(OutgoingActivity)
class OutgoingActivityAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "uri", "actor", "created_at")
    list_filter = ("type",)
    search_fields = ("=id", "uri", "actor__username")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = ("id", "uri", "type", "actor", "post", "created_at", "digest", "deliveries_summary")
    readonly_fields = (*fields, "body_json")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*self.fields, "body_json")

    @admin.display(description="deliveries")
    def deliveries_summary(self, obj: OutgoingActivity) -> str:
        counts = dict(obj.deliveries.values_list("state").annotate(n=Count("id")).order_by())
        url = reverse("admin:federation_delivery_changelist") + f"?activity__id__exact={obj.pk}"
        text = ", ".join(f"{state}: {n}" for state, n in sorted(counts.items())) or "none"
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="body")
    def body_json(self, obj: OutgoingActivity) -> str:
        try:
            return _pretty_json(orjson.loads(bytes(obj.body)))
        except orjson.JSONDecodeError:
            return format_html("<pre>{}</pre>", bytes(obj.body).decode(errors="replace"))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "activity_uri",
        "inbox",
        "domain",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("state", "last_status", "activity__type")
    search_fields = ("=id", "domain", "inbox", "activity__uri")
    list_select_related = ("activity",)
    ordering = ("-id",)
    fields = (
        "id",
        "activity",
        "inbox",
        "domain",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "sent_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    @admin.display(description="activity", ordering="activity__uri")
    def activity_uri(self, obj: Delivery) -> str:
        return obj.activity.uri

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("federation.change_delivery")

    @admin.action(description="Send selected deliveries again now", permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        """Re-arm the rows (attempts from zero) and queue them at once."""
        with transaction.atomic():
            # SKIP LOCKED: a row a sender is writing right now is left to that sender.
            selected = list(queryset.values_list("id", flat=True))
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(pk__in=selected)
                .exclude(state=Delivery.State.SENT)
                .values_list("id", flat=True)
            )
            Delivery.objects.filter(pk__in=ids).update(
                state=Delivery.State.PENDING,
                attempts=0,
                next_attempt_at=timezone.now(),
                last_error="",
            )
        deliveries_enqueue(ids)
        self.message_user(
            request, f"{len(ids)} deliveries queued (sent ones are left alone).", messages.SUCCESS
        )
        logger.info("admin delivery retry rows=%s by=%s", len(ids), request.user.pk)


@admin.register(PostInbox)
class PostInboxAdmin(ReadOnlyAdmin):
    list_display = ("id", "post", "inbox")
    search_fields = ("=post__id", "inbox")
    ordering = ("-id",)


@admin.register(RemoteTombstone)
class RemoteTombstoneAdmin(ReadOnlyAdmin):
    list_display = ("uri", "deleted_at")
    search_fields = ("uri",)
    ordering = ("-deleted_at",)
