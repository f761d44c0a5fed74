"""Reads of the shared kernel."""

from __future__ import annotations

from django.db.models import QuerySet

from ourvoice.core.models import InstanceRule


def instance_rules() -> QuerySet[InstanceRule]:
    """The server's rules in their display order."""
    return InstanceRule.objects.all()
