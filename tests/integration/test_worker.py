"""A real Celery worker (`celery -A ourvoice worker -Q inbox,delivery,default`) on PostgreSQL and
Redis consumes what services send, and the outbox recovers from lost messages and killed
workers without repeating an effect.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.models import Count

from ourvoice import events
from ourvoice.celery import app as celery_app
from ourvoice.celery import route_task
from ourvoice.core import outbox
from ourvoice.core.models import OutboxEvent, OutboxReceipt
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.integration.processes import QUEUES, queue_lengths, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

SWEEP = "ourvoice.events.outbox_sweep"
DISPATCH = "ourvoice.events.outbox_dispatch"
POST_CONSUMERS = len(events.CONSUMERS["post.created"])


def _processed(event_id: int) -> bool:
    return OutboxEvent.objects.filter(pk=event_id, processed_at__isnull=False).exists()


def _post_event(post: Post) -> OutboxEvent:
    return OutboxEvent.objects.get(kind="post.created", payload__post_id=post.id)


def _mentions_of(post: Post) -> int:
    return Notification.objects.filter(type="mention", post=post).count()


@pytest.fixture
def lost_broker_messages(monkeypatch):
    """Services commit their rows and events, but the dispatch message never reaches Redis."""
    sent: list[int] = []
    monkeypatch.setattr(outbox, "_send_dispatch", sent.append)
    return sent


def test_event_sent_by_a_service_is_processed_by_the_worker(start_worker):
    worker = start_worker()
    alice = local_account("alice")
    bob = local_account("bob")
    post = post_create(author=alice, text="hello @bob")
    event = _post_event(post)

    wait_until(
        lambda: _processed(event.id),
        timeout=30,
        what="the worker to dispatch post.created",
        details=worker.tail,
    )
    notification = Notification.objects.get(type="mention", post=post)
    assert notification.recipient == bob
    assert notification.from_account == alice
    assert OutboxReceipt.objects.filter(event=event).count() == POST_CONSUMERS
    # It was the worker process (the test process does not run tasks eagerly here).
    assert celery_app.conf.task_always_eager is False
    worker.wait_for_log(f"outbox event dispatched kind=post.created event_id={event.id}")


def test_routes_send_each_queue_to_the_worker(start_worker):
    expected = {
        "federation.tasks.inbox_x": "inbox",
        "federation.tasks.delivery_x": "delivery",
        SWEEP: "default",
        DISPATCH: "default",
        "moderation.tasks.anything": "default",
    }
    for name, queue in expected.items():
        assert route_task(name, (), {}, {}) == {"queue": queue}
        assert celery_app.amqp.router.route({}, name, (), {})["queue"].name == queue

    # With no worker running, each message waits in the Redis list named after its queue.
    sent = {
        queue: celery_app.send_task(SWEEP, kwargs={"older_than_seconds": 3600}, queue=queue).id
        for queue in QUEUES
    }
    routed = celery_app.send_task(SWEEP, kwargs={"older_than_seconds": 3600}).id
    celery_app.send_task("federation.tasks.inbox_x")  # routed by name, unknown to the worker
    assert queue_lengths() == {"inbox": 2, "delivery": 1, "default": 2}

    worker = start_worker()
    for task_id in [*sent.values(), routed]:
        worker.wait_for_task(task_id, SWEEP)
    worker.wait_for_log("Received unregistered task of type 'federation.tasks.inbox_x'")
    wait_until(
        lambda: queue_lengths() == dict.fromkeys(QUEUES, 0),
        timeout=30,
        what="every queue to be empty",
        details=lambda: str(queue_lengths()),
    )


def test_sweep_recovers_a_lost_dispatch_exactly_once(start_worker, lost_broker_messages):
    alice = local_account("alice")
    bob = local_account("bob")
    post = post_create(author=alice, text="are you there @bob?")
    event = _post_event(post)
    assert event.id in lost_broker_messages  # the service did try to send it
    worker = start_worker()
    assert queue_lengths() == dict.fromkeys(QUEUES, 0)
    event.refresh_from_db()
    assert event.processed_at is None  # nothing but the sweep will ever dispatch it

    sweep = celery_app.send_task(SWEEP, kwargs={"older_than_seconds": 0})
    worker.wait_for_task(sweep.id, SWEEP)
    event.refresh_from_db()
    assert event.processed_at is not None
    assert Notification.objects.filter(recipient=bob, type="mention", post=post).count() == 1
    receipts = OutboxReceipt.objects.filter(event=event)
    assert receipts.count() == POST_CONSUMERS

    # The dispatch task arriving twice more (a duplicate delivery, a manual re-dispatch)...
    for _ in range(2):
        worker.wait_for_task(celery_app.send_task(DISPATCH, args=[event.id]).id, DISPATCH)
    # ...and once more after a crash between the consumers' commit and `processed_at`.
    OutboxEvent.objects.filter(pk=event.pk).update(processed_at=None)
    worker.wait_for_task(celery_app.send_task(DISPATCH, args=[event.id]).id, DISPATCH)

    assert _mentions_of(post) == 1
    assert receipts.count() == POST_CONSUMERS
    per_consumer = receipts.values("consumer").annotate(n=Count("id"))
    assert len(per_consumer) == POST_CONSUMERS
    assert {row["n"] for row in per_consumer} == {1}
    event.refresh_from_db()
    assert event.processed_at is not None


def test_worker_killed_mid_sweep_then_a_new_worker_finishes_without_duplicates(
    start_worker, lost_broker_messages
):
    alice = local_account("alice")
    bob = local_account("bob")
    total = 200
    with transaction.atomic():
        posts = [post_create(author=alice, text=f"note {i} for @bob") for i in range(total)]
    post_ids = [p.id for p in posts]
    events_qs = OutboxEvent.objects.filter(kind="post.created", payload__post_id__in=post_ids)
    assert events_qs.count() == total
    assert not events_qs.filter(processed_at__isnull=False).exists()

    def processed() -> int:
        return events_qs.filter(processed_at__isnull=False).count()

    first = start_worker()
    celery_app.send_task(SWEEP, kwargs={"older_than_seconds": 0})
    wait_until(
        lambda: processed() >= 5,
        timeout=30,
        interval=0.01,
        what="the sweep to start",
        details=first.tail,
    )
    first.kill()  # SIGKILL while the sweep is running
    done_before_kill = processed()
    assert done_before_kill < total, "the sweep finished before the kill; raise `total`"

    second = start_worker()
    sweep = celery_app.send_task(SWEEP, kwargs={"older_than_seconds": 0})
    second.wait_for_task(sweep.id, SWEEP, timeout=120)
    assert processed() == total

    per_event = (
        OutboxReceipt.objects.filter(event__in=events_qs)
        .values("event_id", "consumer")
        .annotate(n=Count("id"))
    )
    assert len(per_event) == total * POST_CONSUMERS
    assert {row["n"] for row in per_event} == {1}
    mentions = Notification.objects.filter(recipient=bob, type="mention", post_id__in=post_ids)
    assert mentions.count() == total
    assert mentions.values("post_id").distinct().count() == total
