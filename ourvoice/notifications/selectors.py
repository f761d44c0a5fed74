"""Read access to notifications."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from ourvoice.accounts.models import Account
from ourvoice.core.errors import NotFound
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import Post


def notifications_for(
    *,
    recipient: Account,
    types: Iterable[str] = (),
    exclude_types: Iterable[str] = (),
    from_account_id: int | None = None,
) -> QuerySet[Notification]:
    """The recipient's visible notifications, newest first; posts no longer readable drop out."""
    qs = (
        Notification.objects.filter(recipient=recipient, dismissed=False)
        .exclude(post__state__in=[Post.State.DELETED, Post.State.REMOVED])
        .select_related("from_account", "post", "post__author")
        .order_by("-id")
    )
    types = list(types)
    if types:
        qs = qs.filter(type__in=types)
    exclude = list(exclude_types)
    if exclude:
        qs = qs.exclude(type__in=exclude)
    if from_account_id is not None:
        qs = qs.filter(from_account_id=from_account_id)
    return qs


def notification_get(*, recipient: Account, notification_id: int | str) -> Notification:
    """One of the recipient's notifications, else NotFound."""
    try:
        pk = int(notification_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    item = notifications_for(recipient=recipient).filter(pk=pk).first()
    if item is None:
        raise NotFound("Record not found")
    return item
