"""Create, dismiss and clear notifications."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Mute
from ourvoice.core.errors import Invalid, NotFound
from ourvoice.core.outbox import outbox_record
from ourvoice.notifications.models import Marker, Notification
from ourvoice.posts.models import Post


def notification_allowed(*, recipient: Account, from_account: Account) -> bool:
    """False when the recipient blocks or mutes (with notifications) the sender or its domain."""
    if not recipient.local or recipient.is_suspended or from_account.is_suspended:
        return False
    if recipient.pk == from_account.pk:
        return False
    if Block.objects.filter(account=recipient, target=from_account).exists():
        return False
    if Block.objects.filter(account=from_account, target=recipient).exists():
        return False
    mutes = Mute.objects.filter(account=recipient, target=from_account, notifications=True)
    # A mute with an expiry stops filtering once it has expired (Mastodon's timed mutes).
    if mutes.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())).exists():
        return False
    return not (
        from_account.domain
        and AccountDomainBlock.objects.filter(
            account=recipient, domain=from_account.domain
        ).exists()
    )


def notification_create(
    *,
    recipient: Account,
    from_account: Account,
    type: str,
    dedupe_key: str,
    post: Post | None = None,
    report_id: int | None = None,
) -> Notification | None:
    """Create one notification unless filtered or already created for the same `dedupe_key`.

    Records `notification.created` with the row. Returns the new row, or None when nothing
    was created.
    """
    if type not in Notification.Type.values:
        raise ValueError(f"unknown notification type {type!r}")
    if not notification_allowed(recipient=recipient, from_account=from_account):
        return None
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient,
                from_account=from_account,
                type=type,
                post=post,
                dedupe_key=dedupe_key[:255],
                report_id=report_id,
            )
            # Streaming pushes it to the recipient's open connections after commit.
            outbox_record(
                kind="notification.created",
                payload={"notification_id": notification.id, "recipient_id": recipient.id},
            )
            return notification
    except IntegrityError:
        return None


@transaction.atomic
def notification_dismiss(*, recipient: Account, notification_id: int | str) -> None:
    """Dismiss one of the recipient's notifications (NotFound for anyone else's)."""
    try:
        pk = int(notification_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    updated = Notification.objects.filter(pk=pk, recipient=recipient, dismissed=False).update(
        dismissed=True
    )
    if not updated and not Notification.objects.filter(pk=pk, recipient=recipient).exists():
        raise NotFound("Record not found")


@transaction.atomic
def notification_clear(*, recipient: Account) -> int:
    """Dismiss all of the recipient's notifications; returns how many."""
    return Notification.objects.filter(recipient=recipient, dismissed=False).update(dismissed=True)


def marker_set(*, account: Account, timeline: str, last_read_id: int) -> Marker:
    """Store where `account` stopped reading `timeline` ("home" or "notifications").

    Creates the row on first use; every later call moves `last_read_id` (backwards too, as
    Mastodon allows) and increments `version` with one atomic UPDATE, so concurrent writers
    from several devices never lose a version step. Raises Invalid for an unknown timeline or
    a negative id. Returns the stored row.
    """
    if timeline not in Marker.Timeline.values:
        raise Invalid(f"Unknown timeline {timeline!r}", field="timeline")
    if last_read_id < 0:
        raise Invalid("last_read_id must be a positive id", field="last_read_id")
    now = timezone.now()
    with transaction.atomic():
        updated = Marker.objects.filter(account=account, timeline=timeline).update(
            last_read_id=last_read_id, version=F("version") + 1, updated_at=now
        )
        if not updated:
            try:
                with transaction.atomic():
                    Marker.objects.create(
                        account=account,
                        timeline=timeline,
                        last_read_id=last_read_id,
                        version=1,
                        updated_at=now,
                    )
            except IntegrityError:
                # Another request created it between our UPDATE and INSERT: update it now.
                Marker.objects.filter(account=account, timeline=timeline).update(
                    last_read_id=last_read_id, version=F("version") + 1, updated_at=now
                )
    return Marker.objects.get(account=account, timeline=timeline)
