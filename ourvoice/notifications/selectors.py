"""Read access to notifications."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from ourvoice.accounts.models import Account
from ourvoice.core.errors import NotFound
from ourvoice.notifications.models import Marker, Notification
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
        Notification.objects.filter(
            recipient=recipient, dismissed=False, from_account__suspended_at__isnull=True
        )
        .exclude(post__state__in=[Post.State.DELETED, Post.State.REMOVED])
        # An archived post stays readable only for its author (posts_visible_q).
        .exclude(Q(post__state=Post.State.ARCHIVED) & ~Q(post__author=recipient))
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


def markers_get(*, account: Account, timelines: Iterable[str]) -> dict[str, Marker]:
    """The account's read markers for the asked timelines, keyed by timeline, in one query.

    Unknown timeline names are ignored. A `notifications` marker is always returned when asked,
    as an unsaved row with `last_read_id=0` and `version=0` if never set: Elk reads
    `markers.notifications.last_read_id` without a null check (mastodon-api.md §2.1). An unset
    `home` marker is left out, as Mastodon does.
    """
    wanted = [t for t in dict.fromkeys(timelines) if t in Marker.Timeline.values]
    if not wanted:
        return {}
    found = {m.timeline: m for m in Marker.objects.filter(account=account, timeline__in=wanted)}
    if Marker.Timeline.NOTIFICATIONS in wanted and Marker.Timeline.NOTIFICATIONS not in found:
        found[Marker.Timeline.NOTIFICATIONS] = Marker(
            account=account,
            timeline=Marker.Timeline.NOTIFICATIONS,
            last_read_id=0,
            version=0,
            updated_at=account.created_at,
        )
    return {t: found[t] for t in wanted if t in found}
