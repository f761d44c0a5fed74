"""Celery tasks of moderation (queue `default`): the end of a grace period and the sweep."""

from __future__ import annotations

from celery import shared_task

from moderation import services
from moderation.models import Case


@shared_task(name="moderation.tasks.moderation_case_finalize", acks_late=True)
def moderation_case_finalize(case_id: int) -> str:
    """Re-check a PENDING case when its grace period ends (early calls change nothing)."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return "missing"
    return services.case_finalize(case=case)


@shared_task(name="moderation.tasks.moderation_sweep")
def moderation_sweep() -> dict[str, int]:
    """Finalize due cases, reopen stale held ones, close cases past their maximum age."""
    return services.cases_sweep()
