"""Django admin for users, accounts and their relations.

Accounts and relations are read-only here: every change an admin makes goes through an action
that calls a service (`ourvoice.accounts.services`), so the outbox events, counters and login
state stay consistent. Nothing in this module shows an account's private key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Model, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ourvoice.accounts import services
from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute, User
from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.errors import ApplicationError
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)


def _run_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    *,
    apply: Callable[[Any], bool],
    done: str,
) -> int:
    """Call `apply` (a service call returning whether the row changed) on every row.

    Each call runs in the service's own transaction, so one refused row does not undo the
    others. Reports how many rows changed, and each domain error, with `message_user`.
    """
    changed = 0
    failures: list[str] = []
    for row in rows:
        try:
            if apply(row):
                changed += 1
        except ApplicationError as exc:
            failures.append(f"{row}: {exc.message}")
    noun = "row" if changed == 1 else "rows"
    modeladmin.message_user(request, f"{changed} {noun} {done}.", messages.SUCCESS)
    if failures:
        modeladmin.message_user(
            request, f"{len(failures)} refused: {'; '.join(failures)}", messages.ERROR
        )
    logger.info(
        "admin action done=%s changed=%s refused=%s by=%s",
        done,
        changed,
        len(failures),
        request.user.pk,
    )
    return changed


def _admin_link(obj: Model | None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj)


# --- Users ------------------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Local logins. Sign-ups are approved or rejected with actions; suspension is on Account."""

    list_display = (
        "username",
        "email",
        "approval",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
        "account_link",
    )
    list_filter = ("approval", "is_active", "is_staff", "is_superuser")
    search_fields = ("username", "email", "signup_reason")
    ordering = ("-date_joined",)
    date_hierarchy = "date_joined"
    list_select_related = ("account",)
    actions = ("approve_users", "reject_users")
    # Login state and identity follow the services (approval, suspension); only the
    # administrative rights and the password (through its own form) are edited here.
    readonly_fields = (
        "username",
        "email",
        "approval",
        "signup_reason",
        "locale",
        "is_active",
        "date_joined",
        "last_login",
        "account_link",
    )
    fieldsets = (
        (None, {"fields": ("username", "email", "password", "account_link")}),
        ("Sign-up", {"fields": ("approval", "signup_reason", "locale", "date_joined")}),
        (
            "Rights",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Activity", {"fields": ("last_login",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A login without its Account (keys, actor URLs) would break federation: people sign
        # up through the API, and operators use `user_create` (e.g. `manage.py quickstart`).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting cascades to the account without telling the fediverse: suspend instead,
        # or reject a pending sign-up.
        return False

    def save_model(self, request: HttpRequest, obj: User, form: ModelForm, change: bool) -> None:
        # Write only what the form changed, never a stale copy of the whole row.
        fields = [
            name
            for name in form.changed_data
            if name in {f.name for f in User._meta.concrete_fields}
        ]
        if change and fields:
            obj.save(update_fields=fields)
        elif not change:
            super().save_model(request, obj, form, change)

    @admin.display(description="Account")
    def account_link(self, obj: User) -> str:
        return _admin_link(getattr(obj, "account", None))

    @admin.action(description="Approve selected sign-ups", permissions=["change"])
    def approve_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def apply(user: User) -> bool:
            was_pending = user.approval == User.Approval.PENDING
            services.user_approve(user=user)
            return was_pending

        _run_action(self, request, queryset, apply=apply, done="approved")

    @admin.action(description="Reject selected sign-ups (deletes them)", permissions=["change"])
    def reject_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def apply(user: User) -> bool:
            services.user_reject(user=user)
            return True

        _run_action(self, request, queryset, apply=apply, done="rejected")


# --- Accounts ---------------------------------------------------------------------------------


class OriginFilter(admin.SimpleListFilter):
    title = "origin"
    parameter_name = "origin"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("local", "Local"), ("remote", "Remote")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() == "local":
            return queryset.filter(domain="")
        if self.value() == "remote":
            return queryset.exclude(domain="")
        return queryset


class _SetFilter(admin.SimpleListFilter):
    """Yes/no filter on whether a nullable timestamp is set."""

    field = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() in {"yes", "no"}:
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class SuspendedFilter(_SetFilter):
    title = "suspended"
    parameter_name = "suspended"
    field = "suspended_at"


class SilencedFilter(_SetFilter):
    title = "silenced"
    parameter_name = "silenced"
    field = "silenced_at"


#: Every Account field an admin sees; `private_key_pem` is deliberately absent.
_ACCOUNT_FIELDSETS = (
    (
        None,
        {
            "fields": (
                "id",
                "username",
                "domain",
                "user_link",
                "kind",
                "role",
                "display_name",
                "note",
                "fields",
                "avatar_url",
                "header_url",
            )
        },
    ),
    (
        "Moderation",
        {"fields": ("suspended_at", "silenced_at", "locked", "bot", "discoverable", "indexable")},
    ),
    (
        "Counters",
        {"fields": ("followers_count", "following_count", "statuses_count", "last_status_at")},
    ),
    (
        "ActivityPub",
        {
            "classes": ("collapse",),
            "fields": (
                "uri",
                "url",
                "inbox_uri",
                "shared_inbox_uri",
                "outbox_uri",
                "followers_uri",
                "following_uri",
                "featured_uri",
                "key_id",
                "public_key_pem",
                "has_private_key",
            ),
        },
    ),
    ("Times", {"fields": ("created_at", "first_seen_at", "fetched_at", "updated_at")}),
)


def _flatten(fieldsets: tuple) -> tuple[str, ...]:
    return tuple(name for _, options in fieldsets for name in options["fields"])


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Local and remote actors. Read-only; suspend, unsuspend, silence through actions."""

    list_display = (
        "acct",
        "display_name",
        "kind",
        "role",
        "is_local",
        "is_suspended",
        "is_silenced",
        "followers_count",
        "following_count",
        "statuses_count",
        "created_at",
    )
    list_filter = (OriginFilter, SuspendedFilter, SilencedFilter, "role", "kind", "locked", "bot")
    search_fields = ("username", "domain", "display_name", "uri", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False  # COUNT(*) over every known remote actor is slow
    fieldsets = _ACCOUNT_FIELDSETS
    readonly_fields = _flatten(_ACCOUNT_FIELDSETS)
    actions = ("suspend_accounts", "unsuspend_accounts", "silence_accounts", "unsilence_accounts")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Account], search_term: str
    ) -> tuple[QuerySet[Account], bool]:
        # "user@domain" or "@user@domain" finds that actor (or the login with that email).
        term = search_term.strip()
        username, _, domain = term.removeprefix("@").partition("@")
        if username and domain and "@" not in domain and " " not in term:
            domain = normalize_domain(domain)
            if domain == normalize_domain(settings.OURVOICE_DOMAIN):
                domain = ""
            exact = Q(username__iexact=username, domain=domain)
            return queryset.filter(exact | Q(user__email__iexact=term)), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        # The model-level permission gates the actions; the change form itself is read-only.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        return False

    @admin.display(description="Acct", ordering="username")
    def acct(self, obj: Account) -> str:
        return obj.acct

    @admin.display(description="Local", boolean=True, ordering="domain")
    def is_local(self, obj: Account) -> bool:
        return obj.local

    @admin.display(description="Suspended", boolean=True, ordering="suspended_at")
    def is_suspended(self, obj: Account) -> bool:
        return obj.is_suspended

    @admin.display(description="Silenced", boolean=True, ordering="silenced_at")
    def is_silenced(self, obj: Account) -> bool:
        return obj.is_silenced

    @admin.display(description="Has private key", boolean=True)
    def has_private_key(self, obj: Account) -> bool:
        return bool(obj.private_key_pem)

    @admin.display(description="Login")
    def user_link(self, obj: Account) -> str:
        return _admin_link(obj.user)

    @admin.action(description="Suspend selected accounts", permissions=["change"])
    def suspend_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        def apply(account: Account) -> bool:
            was = account.is_suspended
            return services.account_suspend(account=account).is_suspended and not was

        _run_action(self, request, queryset, apply=apply, done="suspended")

    @admin.action(description="Unsuspend selected accounts", permissions=["change"])
    def unsuspend_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        def apply(account: Account) -> bool:
            was = account.is_suspended
            return was and not services.account_unsuspend(account=account).is_suspended

        _run_action(self, request, queryset, apply=apply, done="unsuspended")

    @admin.action(description="Silence selected accounts", permissions=["change"])
    def silence_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        def apply(account: Account) -> bool:
            was = account.is_silenced
            return services.account_silence(account=account, silenced=True).is_silenced and not was

        _run_action(self, request, queryset, apply=apply, done="silenced")

    @admin.action(description="Unsilence selected accounts", permissions=["change"])
    def unsilence_accounts(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        def apply(account: Account) -> bool:
            was = account.is_silenced
            return was and not services.account_silence(account=account, silenced=False).is_silenced

        _run_action(self, request, queryset, apply=apply, done="unsilenced")


# --- Relations (read-only: people change them through the API, federation through the inbox) ---


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shows rows without any way to add, change or delete them."""


_PAIR_SEARCH = (
    "account__username",
    "account__domain",
    "target__username",
    "target__domain",
)


@admin.register(Follow)
class FollowAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "follower",
        "target",
        "state",
        "show_reblogs",
        "notify",
        "created_at",
        "accepted_at",
    )
    list_filter = ("state", "show_reblogs", "notify")
    search_fields = (
        "follower__username",
        "follower__domain",
        "target__username",
        "target__domain",
        "uri",
    )
    list_select_related = ("follower", "target")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = readonly_fields = (
        "id",
        "follower",
        "target",
        "state",
        "uri",
        "show_reblogs",
        "notify",
        "created_at",
        "accepted_at",
    )


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "target", "created_at")
    search_fields = (*_PAIR_SEARCH, "uri")
    list_select_related = ("account", "target")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = readonly_fields = ("id", "account", "target", "uri", "created_at")


@admin.register(Mute)
class MuteAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "target", "notifications", "expires_at", "created_at")
    list_filter = ("notifications",)
    search_fields = _PAIR_SEARCH
    list_select_related = ("account", "target")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = readonly_fields = (
        "id",
        "account",
        "target",
        "notifications",
        "expires_at",
        "created_at",
    )


@admin.register(AccountDomainBlock)
class AccountDomainBlockAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "domain", "created_at")
    search_fields = ("account__username", "account__domain", "domain")
    list_select_related = ("account",)
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = readonly_fields = ("id", "account", "domain", "created_at")
