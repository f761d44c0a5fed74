"""Shared Django-admin building blocks (no models of other apps imported here)."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Admins may look but not add, change or delete rows (services own every write)."""

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False
