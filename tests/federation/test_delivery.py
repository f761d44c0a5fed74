"""Delivery: signed POSTs of the stored bytes, Mastodon's outcome classes and retry schedule,
per-domain failure tracking, skipping, and exactly-once sending under re-runs and crashes.

No network: pytest-httpx answers every request (through `HttpxSender`, the delivery sender's
interface over the guarded httpx client) and DNS is stubbed (the SSRF guard still runs). The
sender itself, and `deliveries_send` over it, are tested against a loopback server in
test_transport.py and test_delivery_transport.py.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection, connections
from django.utils import timezone

from federation import delivery
from federation import services as federation_services
from federation.delivery import (
    MAX_ATTEMPTS,
    Outcome,
    classify_status,
    deliveries_send,
    deliveries_sweep,
    retry_delay,
)
from federation.models import Delivery, Instance, OutgoingActivity
from federation.outbound.consumers import activity_publish
from federation.tasks_delivery import delivery_send
from federation.transport import DeliverySender
from tests.factories import local_account
from tests.federation.outbound.support import HttpxSender, stub_dns, verify

pytestmark = pytest.mark.django_db

INBOX_A = "https://a.example/inbox"
INBOX_B = "https://b.example/users/bob/inbox"


_real_delivery_client = delivery.delivery_client


@pytest.fixture(autouse=True)
def _dns(monkeypatch):
    stub_dns(monkeypatch)
    sender = HttpxSender()
    monkeypatch.setattr(delivery, "delivery_client", lambda: sender)
    yield
    sender.close()
    delivery.delivery_client_reset()


@pytest.fixture
def alice():
    return local_account("alice")


def publish(actor, inboxes, n: int = 1) -> OutgoingActivity:
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.uri}/statuses/{n}/activity",
        "type": "Create",
        "actor": actor.uri,
        "object": {"id": f"{actor.uri}/statuses/{n}", "type": "Note", "content": "héllo ✓"},
    }
    stored = activity_publish(activity=activity, actor=actor, inboxes=inboxes)
    assert stored is not None
    return stored


def rows(activity: OutgoingActivity) -> list[Delivery]:
    return list(Delivery.objects.filter(activity=activity).order_by("inbox"))


def ids(activity: OutgoingActivity) -> list[int]:
    return [row.id for row in rows(activity)]


def make_due(activity: OutgoingActivity) -> None:
    Delivery.objects.filter(activity=activity).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# --- Sending -------------------------------------------------------------------------------------


def test_signed_post_of_the_stored_bytes(alice, httpx_mock):
    httpx_mock.add_response(url=INBOX_A, status_code=202)
    httpx_mock.add_response(url=INBOX_B, status_code=202)
    activity = publish(alice, [INBOX_A, INBOX_B])

    report = deliveries_send(ids=ids(activity))

    assert report.sent == 2
    requests = httpx_mock.get_requests()
    assert {str(r.url) for r in requests} == {INBOX_A, INBOX_B}
    for request in requests:
        assert request.method == "POST"
        assert request.content == bytes(activity.body)
        assert request.headers["content-type"] == "application/activity+json"
        assert request.headers["digest"] == activity.digest
        assert request.headers["host"] == request.url.host
        assert request.headers["user-agent"].startswith("OURVoice/")
        assert verify(request, alice) == alice
    for row in rows(activity):
        assert row.state == Delivery.State.SENT
        assert row.last_status == 202
        assert row.attempts == 1
        assert row.sent_at is not None
    instances = {i.domain: i for i in Instance.objects.all()}
    assert set(instances) == {"a.example", "b.example"}
    assert all(i.last_success_at is not None for i in instances.values())


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (202, Outcome.SENT),
        (204, Outcome.SENT),
        (301, Outcome.RETRY),
        (400, Outcome.FAILED),
        (401, Outcome.RETRY),
        (403, Outcome.FAILED),
        (404, Outcome.FAILED),
        (408, Outcome.RETRY),
        (410, Outcome.FAILED),
        (422, Outcome.FAILED),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (501, Outcome.FAILED),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_status_classes(status, outcome):
    assert classify_status(status) is outcome


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (202, Delivery.State.SENT),
        (400, Delivery.State.FAILED),
        (401, Delivery.State.PENDING),
        (404, Delivery.State.FAILED),
        (410, Delivery.State.FAILED),
        (429, Delivery.State.PENDING),
        (500, Delivery.State.PENDING),
        (501, Delivery.State.FAILED),
    ],
)
def test_response_status_decides_the_row_state(alice, httpx_mock, monkeypatch, status, state):
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    httpx_mock.add_response(url=INBOX_A, status_code=status)
    activity = publish(alice, [INBOX_A])
    before = timezone.now()

    deliveries_send(ids=ids(activity))

    (row,) = rows(activity)
    assert row.state == state
    assert row.last_status == status
    assert row.attempts == 1
    if state == Delivery.State.PENDING:
        # First retry: 0⁴ + 15 + rand(0) = 15 s after the attempt.
        wait = (row.next_attempt_at - before).total_seconds()
        assert 15 <= wait < 17
        assert row.last_error == f"HTTP {status}"


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("no answer"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("reset"),
    ],
)
def test_timeouts_and_connection_errors_are_retried(alice, httpx_mock, monkeypatch, exc):
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    httpx_mock.add_exception(exc, url=INBOX_A)
    activity = publish(alice, [INBOX_A])

    report = deliveries_send(ids=ids(activity))

    assert report.retried == 1
    (row,) = rows(activity)
    assert row.state == Delivery.State.PENDING
    assert row.last_status is None
    assert row.last_error.startswith(("Timeout", "ConnectionFailed"))
    instance = Instance.objects.get(domain="a.example")
    assert instance.failure_days == [timezone.now().date().isoformat()]


def test_private_address_is_refused_without_a_request(alice, httpx_mock, monkeypatch):
    stub_dns(monkeypatch, {"a.example": ["10.0.0.7"]})
    activity = publish(alice, [INBOX_A])

    deliveries_send(ids=ids(activity))

    assert httpx_mock.get_requests() == []
    (row,) = rows(activity)
    assert row.state == Delivery.State.FAILED
    assert row.last_error.startswith("ForbiddenAddress")


def test_loopback_only_when_allowed(alice, httpx_mock, monkeypatch, settings):
    stub_dns(monkeypatch, {"a.example": ["127.0.0.1"]})
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = [ipaddress.ip_network("127.0.0.0/8")]
    httpx_mock.add_response(url=INBOX_A, status_code=202)
    activity = publish(alice, [INBOX_A])

    assert deliveries_send(ids=ids(activity)).sent == 1


# --- Retries -------------------------------------------------------------------------------------


def test_retry_schedule_is_mastodons(monkeypatch):
    monkeypatch.setattr(delivery.random, "uniform", lambda low, high: high)
    assert retry_delay(0) == 15
    assert retry_delay(1) == 1 + 15 + 0.5
    assert retry_delay(2) == 16 + 15 + 8
    assert retry_delay(3) == 81 + 15 + 40.5
    assert retry_delay(10) == 10_000 + 15 + 5_000
    monkeypatch.setattr(delivery.random, "uniform", lambda low, high: low)
    assert [retry_delay(n) for n in range(4)] == [15, 16, 31, 96]
    assert MAX_ATTEMPTS == 17  # the first attempt and Mastodon's 16 retries
    total = sum(retry_delay(n) for n in range(MAX_ATTEMPTS - 1))
    assert 49 * 3600 < total < 50 * 3600  # ~50 h of base delays, as Mastodon


def test_body_is_fixed_and_identical_across_retries(alice, httpx_mock, monkeypatch):
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    httpx_mock.add_response(url=INBOX_A, status_code=503)
    httpx_mock.add_response(url=INBOX_A, status_code=500)
    httpx_mock.add_response(url=INBOX_A, status_code=202)
    activity = publish(alice, [INBOX_A])
    waits = []
    for _ in range(3):
        before = timezone.now()
        deliveries_send(ids=ids(activity))
        (row,) = rows(activity)
        waits.append((row.next_attempt_at - before).total_seconds())
        # Not due yet: a re-run sends nothing.
        assert deliveries_send(ids=ids(activity)).sent == 0
        make_due(activity)

    requests = httpx_mock.get_requests()
    assert len(requests) == 3
    assert {r.content for r in requests} == {bytes(activity.body)}
    assert {r.headers["digest"] for r in requests} == {activity.digest}
    for request in requests:
        assert verify(request, alice) == alice
    (row,) = rows(activity)
    assert row.state == Delivery.State.SENT
    assert row.attempts == 3
    assert 15 <= waits[0] < 17
    assert 16 <= waits[1] < 18


def test_expires_after_the_last_attempt(alice, httpx_mock, monkeypatch):
    queued = []
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda i, **k: queued.append(i))
    httpx_mock.add_response(url=INBOX_A, status_code=500)
    activity = publish(alice, [INBOX_A])
    Delivery.objects.filter(activity=activity).update(attempts=MAX_ATTEMPTS - 1)

    report = deliveries_send(ids=ids(activity))

    assert report.expired == 1
    (row,) = rows(activity)
    assert row.state == Delivery.State.EXPIRED
    assert row.attempts == MAX_ATTEMPTS
    assert queued == []


def test_short_retries_get_a_countdown_task(alice, httpx_mock, monkeypatch):
    sent = []
    monkeypatch.setattr(
        delivery_send, "apply_async", lambda args, countdown=None: sent.append((args, countdown))
    )
    httpx_mock.add_response(url=INBOX_A, status_code=500)
    activity = publish(alice, [INBOX_A])

    deliveries_send(ids=ids(activity))

    assert len(sent) == 1
    (args, countdown) = sent[0]
    assert args == [ids(activity)]
    assert 16 <= countdown < 18


# --- Domain health and policy --------------------------------------------------------------------


def _days_ago(n: int) -> str:
    return (timezone.now() - timedelta(days=n)).date().isoformat()


def test_failures_on_seven_distinct_days_make_a_domain_unavailable(alice, httpx_mock, monkeypatch):
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    Instance.objects.create(
        domain="a.example", failure_days=[_days_ago(n) for n in range(6, 0, -1)]
    )
    httpx_mock.add_response(url=INBOX_A, status_code=502)
    first = publish(alice, [INBOX_A], 1)

    deliveries_send(ids=ids(first))

    instance = Instance.objects.get(domain="a.example")
    assert len(instance.failure_days) == 7
    assert instance.unavailable_since is not None
    # New activities to it are written as skipped; pending retries are skipped at send time.
    second = publish(alice, [INBOX_A], 2)
    assert rows(second)[0].state == Delivery.State.SKIPPED
    make_due(first)
    assert deliveries_send(ids=ids(first)).skipped == 1
    assert rows(first)[0].state == Delivery.State.SKIPPED
    assert rows(first)[0].last_error == "domain unavailable"
    assert len(httpx_mock.get_requests()) == 1


def test_a_failure_is_counted_once_per_day(alice, httpx_mock, monkeypatch):
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda *a, **k: 0)
    httpx_mock.add_response(url=INBOX_A, status_code=500, is_reusable=True)
    activity = publish(alice, [INBOX_A], 1)
    other = publish(alice, [INBOX_A], 2)
    deliveries_send(ids=ids(activity))
    deliveries_send(ids=ids(other))
    assert Instance.objects.get(domain="a.example").failure_days == [
        timezone.now().date().isoformat()
    ]


@pytest.mark.parametrize("status", [202, 404])
def test_an_answer_clears_the_failure_record(alice, httpx_mock, status):
    Instance.objects.create(domain="a.example", failure_days=[_days_ago(2), _days_ago(1)])
    httpx_mock.add_response(url=INBOX_A, status_code=status)
    activity = publish(alice, [INBOX_A])

    deliveries_send(ids=ids(activity))

    instance = Instance.objects.get(domain="a.example")
    assert instance.failure_days == []
    assert instance.unavailable_since is None
    assert (instance.last_success_at is not None) == (status == 202)


def test_admin_or_inbound_reset_makes_a_domain_available_again(alice, httpx_mock):
    Instance.objects.create(
        domain="a.example",
        failure_days=[_days_ago(n) for n in range(7)],
        unavailable_since=timezone.now(),
    )
    assert rows(publish(alice, [INBOX_A], 1))[0].state == Delivery.State.SKIPPED
    assert federation_services.instance_mark_available(domain="A.example") is True
    assert federation_services.instance_mark_available(domain="a.example") is False

    httpx_mock.add_response(url=INBOX_A, status_code=202)
    activity = publish(alice, [INBOX_A], 2)
    assert deliveries_send(ids=ids(activity)).sent == 1
    assert Instance.objects.get(domain="a.example").last_success_at is not None


def test_suspending_a_domain_withholds_its_deliveries(alice, httpx_mock):
    httpx_mock.add_response(url=INBOX_B, status_code=202)
    activity = publish(alice, [INBOX_A, INBOX_B])
    instance = federation_services.instance_get_or_create("A.Example.")
    assert instance.domain == "a.example"

    assert federation_services.instance_set_policy(
        instance=instance, policy=Instance.Policy.SUSPEND
    )
    assert not federation_services.instance_set_policy(
        instance=instance, policy=Instance.Policy.SUSPEND
    )
    report = deliveries_send(ids=ids(activity))

    assert report.sent == 1
    assert [str(r.url) for r in httpx_mock.get_requests()] == [INBOX_B]
    states = {row.inbox: (row.state, row.last_error) for row in rows(activity)}
    assert states[INBOX_A] == (Delivery.State.SKIPPED, "domain suspended")


def test_suspension_is_checked_again_at_send_time(alice, httpx_mock):
    activity = publish(alice, [INBOX_A])
    Instance.objects.filter(domain="a.example").delete()
    Instance.objects.create(domain="a.example", policy=Instance.Policy.SUSPEND)
    assert deliveries_send(ids=ids(activity)).skipped == 1
    assert httpx_mock.get_requests() == []


# --- Exactly once --------------------------------------------------------------------------------


def test_running_the_send_task_twice_sends_each_row_once(alice, httpx_mock):
    httpx_mock.add_response(url=INBOX_A, status_code=202)
    httpx_mock.add_response(url=INBOX_B, status_code=202)
    activity = publish(alice, [INBOX_A, INBOX_B])

    delivery_send.delay(ids(activity))
    delivery_send.delay(ids(activity))
    second = deliveries_send(ids=ids(activity))

    assert len(httpx_mock.get_requests()) == 2
    assert second.sent == 0
    assert second.not_claimed == 2


def test_a_killed_worker_loses_nothing(alice, httpx_mock):
    """A worker claimed one row and died mid-request; the rest of its chunk is picked up at
    once, the claimed row when its lease runs out (by the sweep), each sent exactly once."""
    inboxes = [f"https://i{n}.example/inbox" for n in range(5)]
    for inbox in inboxes:
        httpx_mock.add_response(url=inbox, status_code=202)
    activity = publish(alice, inboxes)
    chunk = ids(activity)
    with connection.cursor() as cursor:
        assert delivery._Writer(cursor).claim(chunk[0], timezone.now())  # then the crash

    report = deliveries_send(ids=chunk)  # the redelivered message
    assert report.sent == 4
    assert report.not_claimed == 1
    assert deliveries_sweep(older_than_seconds=0) == 0  # the lease still holds

    Delivery.objects.filter(pk=chunk[0]).update(
        next_attempt_at=timezone.now() - delivery.CLAIM_LEASE
    )
    assert deliveries_sweep(older_than_seconds=0) == 1  # eager: sent right away

    sent = [str(r.url) for r in httpx_mock.get_requests()]
    assert sorted(sent) == sorted(inboxes)
    assert {row.state for row in rows(activity)} == {Delivery.State.SENT}
    assert rows(activity)[0].attempts == 2  # the crashed attempt counts


def test_sweep_queues_only_overdue_pending_rows(alice, monkeypatch):
    queued = []
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda i, **k: queued.extend(i))
    now = timezone.now()
    activity = publish(alice, [f"https://s{n}.example/inbox" for n in range(4)])
    overdue, fresh, backoff, done = rows(activity)
    Delivery.objects.filter(pk=overdue.pk).update(next_attempt_at=now - timedelta(minutes=5))
    Delivery.objects.filter(pk=backoff.pk).update(
        attempts=3, next_attempt_at=now + timedelta(minutes=5)
    )
    Delivery.objects.filter(pk=done.pk).update(
        state=Delivery.State.SENT, next_attempt_at=now - timedelta(hours=1)
    )

    assert deliveries_sweep() == 1
    assert queued == [overdue.id]
    overdue.refresh_from_db()
    # Touched: queued again only if still pending after another grace period.
    assert overdue.next_attempt_at >= now
    assert deliveries_sweep() == 1 - 1
    assert fresh.id not in queued


def test_sweep_task_is_scheduled_in_beat():
    from ourvoice.celery import app

    entries = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    assert entries["federation.tasks.delivery_sweep"]["schedule"] <= 60
    assert app.amqp.router.route({}, "federation.tasks.delivery_send")["queue"].name == "delivery"


def test_one_long_lived_sender_per_process():
    client = _real_delivery_client()
    assert isinstance(client, DeliverySender)
    assert _real_delivery_client() is client
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_real_delivery_client()))
    thread.start()
    thread.join()
    assert seen == [client]  # one pool per process, shared by its threads
    delivery.delivery_client_reset()
    assert _real_delivery_client() is not client


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_send_each_row_once(httpx_mock, monkeypatch):
    monkeypatch.setattr("federation.outbound.consumers.deliveries_enqueue", lambda ids: 0)
    alice = local_account("alice")
    inboxes = [f"https://c{n}.example/inbox" for n in range(40)]
    seen: list[str] = []
    lock = threading.Lock()

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(str(request.url))
        time.sleep(0.005)
        return httpx.Response(202)

    httpx_mock.add_callback(answer, is_reusable=True)
    activity = publish(alice, inboxes)
    chunk = ids(activity)
    reports = []

    def worker() -> None:
        try:
            reports.append(deliveries_send(ids=chunk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(seen) == sorted(inboxes)
    assert sum(r.sent for r in reports) == 40
    assert {row.state for row in rows(activity)} == {Delivery.State.SENT}


def test_policy_change_clears_the_inbox_policy_cache(django_capture_on_commit_callbacks):
    from federation import policy

    instance = federation_services.instance_get_or_create("cached.example")
    assert policy.instance_for("cached.example").policy == Instance.Policy.NONE
    with django_capture_on_commit_callbacks(execute=True):
        federation_services.instance_set_policy(instance=instance, policy=Instance.Policy.SUSPEND)
    assert policy.instance_for("cached.example").policy == Instance.Policy.SUSPEND


def test_an_unusable_key_fails_the_row_not_the_chunk(alice, httpx_mock):
    httpx_mock.add_response(url=INBOX_B, status_code=202)
    broken = local_account("broken")
    type(broken).objects.filter(pk=broken.pk).update(private_key_pem="not a key")
    first = publish(broken, [INBOX_A], 1)
    second = publish(alice, [INBOX_B], 2)

    report = deliveries_send(ids=ids(first) + ids(second))

    assert report.failed == 1
    assert report.sent == 1
    assert rows(first)[0].state == Delivery.State.FAILED
    assert rows(first)[0].last_error.startswith("ValueError")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sweep_never_waits_for_a_row_being_written(monkeypatch):
    """SKIP LOCKED: the sweep leaves a row a sender holds (no waiting, so no deadlock)."""
    from django.db import transaction

    monkeypatch.setattr("federation.outbound.consumers.deliveries_enqueue", lambda ids: 0)
    queued: list[int] = []
    monkeypatch.setattr(delivery, "deliveries_enqueue", lambda i, **k: queued.extend(i))
    alice = local_account("alice")
    activity = publish(alice, ["https://l1.example/inbox", "https://l2.example/inbox"])
    Delivery.objects.filter(activity=activity).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    locked, free = rows(activity)
    held, release = threading.Event(), threading.Event()

    def sender() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=locked.pk)
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=sender)
    thread.start()
    assert held.wait(10)
    try:
        started = time.monotonic()
        assert deliveries_sweep() == 1
        assert time.monotonic() - started < 5
        assert queued == [free.id]
    finally:
        release.set()
        thread.join()
