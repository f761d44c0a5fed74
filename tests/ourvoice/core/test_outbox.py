"""Transactional outbox: record in the caller's transaction, dispatch each consumer once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from ourvoice import events
from ourvoice.core.models import OutboxEvent, OutboxReceipt
from ourvoice.core.outbox import (
    outbox_event_dispatch,
    outbox_events_dispatch,
    outbox_pending_ids,
    outbox_record,
    outbox_record_many,
)
from ourvoice.posts.models import Hashtag

KIND = "test.thing"
CHAINED = "test.chained"

# Consumers write Hashtag rows named after the event: a visible, countable effect in the same
# database transaction as the receipt.


def effect(event: OutboxEvent) -> None:
    Hashtag.objects.create(name=f"effect-{event.id}")


def second_effect(event: OutboxEvent) -> None:
    Hashtag.objects.create(name=f"second-{event.id}")


def failing(event: OutboxEvent) -> None:
    Hashtag.objects.create(name=f"partial-{event.id}")
    raise RuntimeError("consumer exploded")


FLAKY = {"fail": True}


def flaky(event: OutboxEvent) -> None:
    Hashtag.objects.create(name=f"flaky-{event.id}")
    if FLAKY["fail"]:
        raise RuntimeError("not yet")


def chain(event: OutboxEvent) -> None:
    """Consumer that records a follow-up event, as a service called by a consumer would."""
    outbox_record(kind=CHAINED, payload={"parent": event.id})


def effects(prefix: str, event: OutboxEvent | int) -> int:
    event_id = event if isinstance(event, int) else event.id
    return Hashtag.objects.filter(name=f"{prefix}-{event_id}").count()


def consumers_of(event: OutboxEvent) -> list[str]:
    return sorted(OutboxReceipt.objects.filter(event=event).values_list("consumer", flat=True))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Route the test kinds through the real routing table for the duration of a test."""
    monkeypatch.setitem(events.CONSUMERS, KIND, [effect])
    monkeypatch.setitem(events.CONSUMERS, CHAINED, [second_effect])
    return events.CONSUMERS


@pytest.fixture(autouse=True)
def _reset_flaky():
    FLAKY["fail"] = True
    yield
    FLAKY["fail"] = True


# --- outbox_record ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_record_writes_the_event_in_the_callers_transaction(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        event = outbox_record(kind=KIND, payload={"x": 1})
        # Visible inside the transaction, before any commit.
        assert OutboxEvent.objects.filter(pk=event.pk, kind=KIND, payload={"x": 1}).exists()
        assert callbacks == []  # nothing is sent before the commit
    assert len(callbacks) == 1
    event.refresh_from_db()
    assert event.processed_at is None
    assert event.attempts == 0


@pytest.mark.django_db
def test_record_is_rolled_back_with_the_callers_transaction(django_capture_on_commit_callbacks):
    def service_that_fails_after_recording() -> None:
        with transaction.atomic():
            outbox_record(kind=KIND, payload={"x": 1})
            raise RuntimeError("the service failed after recording")

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError, match="failed after recording"),
    ):
        service_that_fails_after_recording()
    assert not OutboxEvent.objects.filter(kind=KIND).exists()
    assert callbacks == []  # and no dispatch is ever sent for it


@pytest.mark.django_db
def test_commit_sends_the_dispatch_task(registry, django_capture_on_commit_callbacks):
    """After commit the Celery task (eager in unit tests) hands the event to its consumers."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = outbox_record(kind=KIND, payload={})
        assert effects("effect", event) == 0
    event.refresh_from_db()
    assert event.processed_at is not None
    assert effects("effect", event) == 1


@pytest.mark.django_db
def test_record_many_sends_one_task_per_chunk(
    registry, monkeypatch, django_capture_on_commit_callbacks
):
    """Events recorded together (a batch of incoming posts) are dispatched by one task per
    DISPATCH_CHUNK events, each event with its own receipts as if dispatched alone."""
    from ourvoice.core import outbox

    sent: list[tuple[str, list]] = []
    real_send = outbox._send
    monkeypatch.setattr(outbox, "DISPATCH_CHUNK", 2)
    monkeypatch.setattr(
        outbox, "_send", lambda name, args: (sent.append((name, args)), real_send(name, args))
    )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        recorded = outbox_record_many(kind=KIND, payloads=[{"n": n} for n in range(5)])
        assert sent == []
    assert [name for name, _ in sent] == [outbox.DISPATCH_MANY_TASK] * 3
    assert [len(args[0]) for _, args in sent] == [2, 2, 1]
    for event in recorded:
        event.refresh_from_db()
        assert event.processed_at is not None
        assert effects("effect", event) == 1
        assert event.payload == {"n": recorded.index(event)}


@pytest.mark.django_db
def test_a_broker_failure_after_commit_is_not_raised(
    monkeypatch, django_capture_on_commit_callbacks
):
    from ourvoice.core import outbox

    def broker_down(event_id: int) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(outbox, "_send_dispatch", broker_down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = outbox_record(kind=KIND, payload={})
    event.refresh_from_db()
    assert event.processed_at is None  # left for the sweep
    assert event.id in outbox_pending_ids(older_than_seconds=-1)


# --- outbox_event_dispatch --------------------------------------------------------------------


@pytest.mark.django_db
def test_dispatch_runs_each_consumer_exactly_once():
    registry = {KIND: [effect, second_effect]}
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is True
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is True
    assert effects("effect", event) == 1
    assert effects("second", event) == 1
    assert consumers_of(event) == [
        "tests.ourvoice.core.test_outbox.effect",
        "tests.ourvoice.core.test_outbox.second_effect",
    ]
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.attempts == 0


@pytest.mark.django_db
def test_receipts_stop_repeats_even_if_the_event_was_not_marked_processed():
    """A worker killed between the consumers' commit and `processed_at` must not repeat them."""
    registry = {KIND: [effect]}
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    outbox_event_dispatch(event_id=event.id, consumers=registry)
    OutboxEvent.objects.filter(pk=event.pk).update(processed_at=None)
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is True
    assert effects("effect", event) == 1
    event.refresh_from_db()
    assert event.processed_at is not None


@pytest.mark.django_db
def test_failing_consumer_rolls_back_alone_and_others_still_run():
    registry = {KIND: [effect, failing, second_effect]}
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is False
    assert effects("effect", event) == 1
    assert effects("second", event) == 1
    assert effects("partial", event) == 0  # its partial write is rolled back...
    assert consumers_of(event) == [  # ...and so is its receipt
        "tests.ourvoice.core.test_outbox.effect",
        "tests.ourvoice.core.test_outbox.second_effect",
    ]
    event.refresh_from_db()
    assert event.processed_at is None
    assert event.attempts == 1
    assert "tests.ourvoice.core.test_outbox.failing" in event.last_error
    assert "consumer exploded" in event.last_error

    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is False
    event.refresh_from_db()
    assert event.attempts == 2
    assert effects("effect", event) == 1  # the consumers that succeeded are not repeated


def picky(event: OutboxEvent) -> None:
    """Fails for events whose payload says so, after a write (rolled back with its savepoint)."""
    Hashtag.objects.create(name=f"picky-{event.id}")
    if event.payload.get("bad"):
        raise RuntimeError("bad event")


@pytest.mark.django_db
def test_batch_dispatch_isolates_a_failing_event_and_repeats_nothing():
    registry = {KIND: [effect, picky]}
    events = [OutboxEvent.objects.create(kind=KIND, payload={"bad": n == 1}) for n in range(3)]
    ids = [e.id for e in events]

    assert outbox_events_dispatch(event_ids=ids, consumers=registry) == 2

    good, bad = [events[0], events[2]], events[1]
    for event in events:
        assert effects("effect", event) == 1
    for event in good:
        assert effects("picky", event) == 1
        event.refresh_from_db()
        assert event.processed_at is not None
    assert effects("picky", bad) == 0  # rolled back with its savepoint...
    assert consumers_of(bad) == ["tests.ourvoice.core.test_outbox.effect"]  # ...and its receipt
    bad.refresh_from_db()
    assert bad.processed_at is None
    assert bad.attempts == 1
    assert "bad event" in bad.last_error

    # Again (a redelivered task, the sweep): nothing repeats; the bad one fails again alone.
    assert outbox_events_dispatch(event_ids=ids, consumers=registry) == 0
    assert all(effects("effect", e) == 1 for e in events)
    bad.payload = {"bad": False}
    bad.save(update_fields=["payload"])
    assert outbox_events_dispatch(event_ids=ids, consumers=registry) == 1
    bad.refresh_from_db()
    assert bad.processed_at is not None
    assert effects("picky", bad) == 1
    assert effects("effect", bad) == 1


@pytest.mark.django_db
def test_batch_dispatch_commits_once_per_consumer_not_per_event():
    registry = {KIND: [effect, second_effect]}
    few = [OutboxEvent.objects.create(kind=KIND, payload={}).id for _ in range(2)]
    many = [OutboxEvent.objects.create(kind=KIND, payload={}).id for _ in range(20)]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert outbox_events_dispatch(event_ids=few, consumers=registry) == 2
    with CaptureQueriesContext(connection) as large:
        assert outbox_events_dispatch(event_ids=many, consumers=registry) == 20
    # Per event only the consumer's own work and its savepoint: no receipt INSERT, no commit.
    per_event = (len(large.captured_queries) - len(small.captured_queries)) / 18
    assert per_event <= 2 * 3  # two consumers x (savepoint, effect insert, release)
    receipts = [q for q in large.captured_queries if "outboxreceipt" in q["sql"]]
    assert len(receipts) == 2


@pytest.mark.django_db
def test_a_failed_consumer_runs_again_once_it_works():
    registry = {KIND: [effect, flaky]}
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is False
    assert effects("flaky", event) == 0
    FLAKY["fail"] = False
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is True
    assert outbox_event_dispatch(event_id=event.id, consumers=registry) is True
    assert effects("flaky", event) == 1
    assert effects("effect", event) == 1
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.attempts == 1


@pytest.mark.django_db
def test_dispatch_of_a_kind_without_consumers_marks_it_processed():
    event = OutboxEvent.objects.create(kind="test.nobody-listens", payload={})
    assert outbox_event_dispatch(event_id=event.id, consumers={KIND: [effect]}) is True
    event.refresh_from_db()
    assert event.processed_at is not None
    assert not OutboxReceipt.objects.filter(event=event).exists()


@pytest.mark.django_db
def test_dispatch_of_a_missing_event_is_a_no_op():
    assert outbox_event_dispatch(event_id=123, consumers={KIND: [effect]}) is True
    assert not Hashtag.objects.filter(name__startswith="effect-").exists()


@pytest.mark.django_db
def test_dispatch_task_is_idempotent(registry):
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    assert events.outbox_dispatch.delay(event.id).get() is True
    assert events.outbox_dispatch.delay(event.id).get() is True
    assert effects("effect", event) == 1


# --- sweep and drain --------------------------------------------------------------------------


def _aged(kind: str, seconds: float) -> OutboxEvent:
    return OutboxEvent.objects.create(
        kind=kind, payload={}, created_at=timezone.now() - timedelta(seconds=seconds)
    )


@pytest.mark.django_db
def test_pending_ids_are_old_unprocessed_events_oldest_first():
    baseline = set(outbox_pending_ids(older_than_seconds=-1))
    newest_old = _aged(KIND, 20)
    oldest = _aged(KIND, 60)
    fresh = _aged(KIND, 0)
    done = _aged(KIND, 90)
    OutboxEvent.objects.filter(pk=done.pk).update(processed_at=timezone.now())
    pending = [i for i in outbox_pending_ids(older_than_seconds=10) if i not in baseline]
    assert pending == [oldest.id, newest_old.id]
    assert fresh.id in outbox_pending_ids(older_than_seconds=-1)
    assert len(outbox_pending_ids(older_than_seconds=10, limit=1)) == 1


@pytest.mark.django_db
def test_sweep_redispatches_leftovers_only(registry):
    OutboxEvent.objects.filter(processed_at__isnull=True).update(processed_at=timezone.now())
    left_behind = _aged(KIND, 60)
    fresh = _aged(KIND, 0)  # its own dispatch may still be on its way: not the sweep's job
    assert events.outbox_sweep(older_than_seconds=10) == 1
    left_behind.refresh_from_db()
    fresh.refresh_from_db()
    assert left_behind.processed_at is not None
    assert fresh.processed_at is None
    assert effects("effect", left_behind) == 1
    assert effects("effect", fresh) == 0
    # A second sweep finds nothing and repeats nothing.
    assert events.outbox_sweep(older_than_seconds=10) == 0
    assert effects("effect", left_behind) == 1


@pytest.mark.django_db
def test_sweep_task_runs_through_celery(registry):
    event = _aged(KIND, 60)
    assert events.outbox_sweep.delay(older_than_seconds=10).get() >= 1
    event.refresh_from_db()
    assert event.processed_at is not None


@pytest.mark.django_db
def test_drain_dispatches_chains_and_skips_past_failures(monkeypatch, registry):
    OutboxEvent.objects.filter(processed_at__isnull=True).update(processed_at=timezone.now())
    monkeypatch.setitem(events.CONSUMERS, KIND, [chain])
    monkeypatch.setitem(events.CONSUMERS, "test.broken", [failing])
    broken = OutboxEvent.objects.create(kind="test.broken", payload={})
    first = OutboxEvent.objects.create(kind=KIND, payload={})
    assert events.outbox_drain() == 2  # `first`, then the event its consumer recorded
    child = OutboxEvent.objects.get(kind=CHAINED)
    assert child.payload == {"parent": first.id}
    assert child.processed_at is not None
    assert effects("second", child) == 1
    broken.refresh_from_db()
    assert broken.processed_at is None
    assert broken.attempts == 1  # tried once per drain, not in a loop
    assert outbox_pending_ids(older_than_seconds=-1) == [broken.id]


# --- concurrency on PostgreSQL ------------------------------------------------------------------

SLOW_CALLS = {"n": 0}
SLOW_LOCK = threading.Lock()


def slow_effect(event: OutboxEvent) -> None:
    with SLOW_LOCK:
        SLOW_CALLS["n"] += 1
    time.sleep(0.4)
    Hashtag.objects.create(name=f"slow-{event.id}")


def slow_then_fail_once(event: OutboxEvent) -> None:
    with SLOW_LOCK:
        SLOW_CALLS["n"] += 1
        first = SLOW_CALLS["n"] == 1
    time.sleep(0.4)
    Hashtag.objects.create(name=f"slow-{event.id}")
    if first:
        raise RuntimeError("first run dies")


def _dispatch_in_threads(event_id: int, registry: dict, count: int = 2) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(outbox_event_dispatch(event_id=event_id, consumers=registry))
        except Exception as exc:  # reported through `results`, asserted below
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatches_apply_the_effect_once():
    SLOW_CALLS["n"] = 0
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    results = _dispatch_in_threads(event.id, {KIND: [slow_effect]}, count=3)
    assert results == [True, True, True]
    assert SLOW_CALLS["n"] == 1
    assert effects("slow", event) == 1
    assert OutboxReceipt.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert event.processed_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatch_takes_over_when_the_first_run_fails():
    """The waiting run inserts the receipt once the failed run rolled back, and does the work."""
    SLOW_CALLS["n"] = 0
    event = OutboxEvent.objects.create(kind=KIND, payload={})
    results = _dispatch_in_threads(event.id, {KIND: [slow_then_fail_once]})
    assert sorted(results, key=str) == [False, True]
    assert SLOW_CALLS["n"] == 2
    assert effects("slow", event) == 1  # the failed run's write was rolled back
    assert OutboxReceipt.objects.filter(event=event).count() == 1
    event.refresh_from_db()
    assert event.attempts == 1  # the failed run counted its attempt
    assert event.processed_at is not None  # the run that took over completed the event
