"""Transactional outbox: record an event in the caller's transaction, dispatch after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ourvoice.core.models import OutboxEvent, OutboxReceipt

logger = logging.getLogger(__name__)

#: Names of the Celery tasks (defined in the composition root, `ourvoice.events`).
DISPATCH_TASK = "ourvoice.events.outbox_dispatch"
DISPATCH_MANY_TASK = "ourvoice.events.outbox_dispatch_many"
#: Events handed to one `outbox_dispatch_many` task.
DISPATCH_CHUNK = 100


def _send(name: str, args: list[Any]) -> None:
    task = current_app.tasks.get(name)
    if task is not None:
        task.apply_async(args=args)
    else:
        current_app.send_task(name, args=args)


def _send_dispatch(event_id: int) -> None:
    _send(DISPATCH_TASK, [event_id])


def _send_dispatch_many(event_ids: list[int]) -> None:
    for start in range(0, len(event_ids), DISPATCH_CHUNK):
        _send(DISPATCH_MANY_TASK, [event_ids[start : start + DISPATCH_CHUNK]])


def outbox_record(*, kind: str, payload: dict[str, Any]) -> OutboxEvent:
    """Write an event row; after the surrounding transaction commits, queue its dispatch.

    Call it inside the service's `transaction.atomic()` block so the event exists if and only
    if the change does. A failure to reach the broker after commit is logged and left to the
    periodic sweep (`outbox_sweep`), never raised to the caller.
    """
    event = OutboxEvent.objects.create(kind=kind, payload=payload)
    transaction.on_commit(lambda: _send_dispatch(event.id), robust=True)
    logger.debug("outbox event recorded kind=%s event_id=%s", kind, event.id)
    return event


def outbox_record_many(*, kind: str, payloads: list[dict[str, Any]]) -> list[OutboxEvent]:
    """`outbox_record` for many events of one kind: one INSERT, and after commit one dispatch
    task per `DISPATCH_CHUNK` events instead of one per event (a publish costs about as much as
    the rest of a small consumer's work)."""
    if not payloads:
        return []
    events = OutboxEvent.objects.bulk_create(
        [OutboxEvent(kind=kind, payload=payload) for payload in payloads]
    )
    ids = [event.id for event in events]
    transaction.on_commit(lambda: _send_dispatch_many(ids), robust=True)
    logger.debug("outbox events recorded kind=%s count=%s", kind, len(ids))
    return events


Consumer = Callable[[OutboxEvent], None]


def _consumer_name(consumer: Consumer) -> str:
    return f"{consumer.__module__}.{consumer.__qualname__}"


def outbox_event_dispatch(*, event_id: int, consumers: dict[str, list[Consumer]]) -> bool:
    """Apply one event to each of its consumers exactly once; return True when all are done.

    Each consumer runs in its own transaction together with the insert of its receipt
    (unique per event and consumer). A second run, concurrent or later, fails that insert and
    skips the consumer, so a re-dispatched event never repeats an effect. A consumer that raises
    rolls back its receipt and is retried by the sweep; the others still run.
    """
    try:
        event = OutboxEvent.objects.get(pk=event_id)
    except OutboxEvent.DoesNotExist:
        logger.warning("outbox event missing event_id=%s", event_id)
        return True
    if event.processed_at is not None:
        return True
    failures: list[str] = []
    for consumer in consumers.get(event.kind, []):
        name = _consumer_name(consumer)
        try:
            with transaction.atomic():
                try:
                    with transaction.atomic():
                        OutboxReceipt.objects.create(event=event, consumer=name)
                except IntegrityError:
                    continue  # another run already applied it (or is applying it right now)
                consumer(event)
        except Exception as exc:
            logger.exception(
                "outbox consumer failed kind=%s event_id=%s consumer=%s", event.kind, event.id, name
            )
            failures.append(f"{name}: {exc!r}")
    if failures:
        OutboxEvent.objects.filter(pk=event.pk).update(
            attempts=F("attempts") + 1, last_error="\n".join(failures)[:4000]
        )
        return False
    OutboxEvent.objects.filter(pk=event.pk, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )
    logger.info("outbox event dispatched kind=%s event_id=%s", event.kind, event.id)
    return True


def _receipts_claim(events: list[OutboxEvent], name: str) -> set[int]:
    """Insert the receipts of `name` for these events; the ids whose receipt this call wrote
    (the others were applied, or are being applied, by another run)."""
    table = connection.ops.quote_name(OutboxReceipt._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    values = ", ".join(["(%s, %s, %s)"] * len(events))
    params: list[Any] = [p for event in events for p in (event.pk, name, now)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, consumer, done_at) VALUES {values} "
            "ON CONFLICT (event_id, consumer) DO NOTHING RETURNING event_id",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def outbox_events_dispatch(*, event_ids: list[int], consumers: dict[str, list[Consumer]]) -> int:
    """`outbox_event_dispatch` for several events at once; returns how many are done.

    Same guarantees, fewer commits: each consumer gets ONE transaction for all the events of
    its kind, in which it inserts their receipts in one statement (an event whose receipt
    exists, or is being written by a concurrent run, is skipped) and applies each event in its
    own savepoint. An event whose consumer raises has that savepoint and its receipt rolled
    back and is left to the sweep; the others are kept. Every event applied by every consumer
    is then marked processed in one UPDATE.
    """
    events = list(
        OutboxEvent.objects.filter(pk__in=event_ids, processed_at__isnull=True).order_by("id")
    )
    by_kind: dict[str, list[OutboxEvent]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)
    failures: dict[int, list[str]] = {}
    for kind, group in by_kind.items():
        for consumer in consumers.get(kind, []):
            name = _consumer_name(consumer)
            try:
                with transaction.atomic():
                    claimed = _receipts_claim(group, name)
                    for event in group:
                        if event.pk not in claimed:
                            continue
                        try:
                            with transaction.atomic():
                                consumer(event)
                        except Exception as exc:
                            logger.exception(
                                "outbox consumer failed kind=%s event_id=%s consumer=%s",
                                kind,
                                event.id,
                                name,
                            )
                            failures.setdefault(event.pk, []).append(f"{name}: {exc!r}")
                            OutboxReceipt.objects.filter(event=event, consumer=name).delete()
            except Exception as exc:  # the consumer's transaction as a whole failed
                logger.exception("outbox consumer batch failed kind=%s consumer=%s", kind, name)
                for event in group:
                    failures.setdefault(event.pk, []).append(f"{name}: {exc!r}")
    for event_id, errors in failures.items():
        OutboxEvent.objects.filter(pk=event_id).update(
            attempts=F("attempts") + 1, last_error="\n".join(errors)[:4000]
        )
    done = [event.pk for event in events if event.pk not in failures]
    if done:
        OutboxEvent.objects.filter(pk__in=done, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
    logger.info("outbox events dispatched count=%s failed=%s", len(done), len(failures))
    return len(done)


def outbox_pending_ids(*, older_than_seconds: float, limit: int = 500) -> list[int]:
    """Ids of unprocessed events created more than `older_than_seconds` ago, oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        OutboxEvent.objects.filter(processed_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("id", flat=True)[:limit]
    )
