"""federation.processing and the inbox tasks: batches, outcomes, retries with backoff."""

from __future__ import annotations

import threading
from datetime import timedelta

import orjson
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from federation import fetch, processing, tasks_inbox
from federation.inbound import dispatch
from federation.inbound.errors import Ignore, Reject
from federation.models import InboxItem, Instance
from federation.processing import MAX_ATTEMPTS, inbox_item_store, inbox_items_process, retry_delay
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import account_suspend
from tests.factories import RemoteAccountFactory
from tests.federation.remote import Remote, reset_caches, stub_dns

ALICE = "https://remote.example/users/alice"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def alice(db):
    return RemoteAccountFactory(username="alice", domain="remote.example", uri=ALICE)


class Handler:
    """Stand-in for dispatch.activity_handle: records calls, raises what a test asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.raises: dict[str, BaseException] = {}

    def __call__(self, activity, *, actor):
        self.calls.append((activity["id"], actor.uri))
        error = self.raises.get(activity["id"])
        if error is not None:
            raise error


@pytest.fixture
def handler(monkeypatch):
    fake = Handler()
    monkeypatch.setattr(dispatch, "activity_handle", fake)
    return fake


def _store(number: int, actor: str = ALICE, kind: str = "Like") -> str:
    activity_id = f"{actor}/activities/{number}"
    body = {"id": activity_id, "type": kind, "actor": actor, "object": "https://x.example/1"}
    assert inbox_item_store(
        activity_id=activity_id,
        activity_type=kind,
        actor_uri=actor,
        key_id=f"{actor}#main-key",
        body=orjson.dumps(body),
    )
    return activity_id


def _item(activity_id: str) -> InboxItem:
    return InboxItem.objects.get(activity_id=activity_id)


def test_pending_items_are_handled_in_order_and_marked_done(alice, handler):
    ids = [_store(n) for n in range(3)]

    assert inbox_items_process() == 3

    assert handler.calls == [(i, ALICE) for i in ids]
    for activity_id in ids:
        item = _item(activity_id)
        assert (item.state, item.attempts, item.error) == (InboxItem.State.DONE, 1, "")
        assert item.processed_at is not None
    assert inbox_items_process() == 0


def test_limit_bounds_a_batch(alice, handler):
    for n in range(5):
        _store(n)
    assert inbox_items_process(limit=2) == 2
    assert InboxItem.objects.filter(state=InboxItem.State.PENDING).count() == 3


@pytest.mark.parametrize("error", [Ignore("unknown type"), Reject("cross-origin")])
def test_ignore_marks_ignored(alice, handler, error):
    activity_id = _store(1)
    handler.raises[activity_id] = error

    inbox_items_process()

    item = _item(activity_id)
    assert item.state == InboxItem.State.IGNORED
    assert type(error).__name__ in item.error


def test_refused_fetch_fails_at_once(alice, handler):
    activity_id = _store(1)
    handler.raises[activity_id] = fetch.FetchRefused("404")
    inbox_items_process()
    item = _item(activity_id)
    assert (item.state, item.attempts) == (InboxItem.State.FAILED, 1)


@pytest.mark.parametrize("error", [fetch.FetchTransient("timeout"), RuntimeError("bug")])
def test_other_errors_are_retried_with_backoff(alice, handler, error):
    activity_id = _store(1)
    handler.raises[activity_id] = error

    inbox_items_process()

    item = _item(activity_id)
    assert (item.state, item.attempts) == (InboxItem.State.PENDING, 1)
    assert type(error).__name__ in item.error
    assert inbox_items_process() == 0  # not due yet
    InboxItem.objects.filter(pk=item.pk).update(
        processed_at=timezone.now() - retry_delay(1) - timedelta(seconds=1)
    )
    del handler.raises[activity_id]
    assert inbox_items_process() == 1
    assert _item(activity_id).state == InboxItem.State.DONE


def test_items_are_given_up_after_max_attempts(alice, handler):
    activity_id = _store(1)
    handler.raises[activity_id] = RuntimeError("always")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        InboxItem.objects.filter(activity_id=activity_id).update(
            processed_at=timezone.now() - timedelta(days=1)
        )
        assert inbox_items_process() == 1
        assert _item(activity_id).attempts == attempt
    item = _item(activity_id)
    assert item.state == InboxItem.State.FAILED
    assert inbox_items_process() == 0


def test_backoff_grows():
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS)]
    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=16)


def test_a_failing_item_rolls_back_only_its_own_writes(alice, handler, monkeypatch):
    first, second = _store(1), _store(2)

    def handle(activity, *, actor):
        Instance.objects.create(domain=f"d{activity['id'][-1]}.example")
        if activity["id"] == first:
            raise RuntimeError("after a write")

    monkeypatch.setattr(dispatch, "activity_handle", handle)

    inbox_items_process()

    assert list(Instance.objects.values_list("domain", flat=True)) == ["d2.example"]
    assert _item(first).state == InboxItem.State.PENDING
    assert _item(second).state == InboxItem.State.DONE


def test_suspended_domain_items_are_ignored_without_handling(alice, handler):
    activity_id = _store(1)
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    inbox_items_process()
    assert _item(activity_id).state == InboxItem.State.IGNORED
    assert handler.calls == []


def test_suspended_actor_items_are_ignored(alice, handler):
    account_suspend(account=alice)
    activity_id = _store(1)
    inbox_items_process()
    assert _item(activity_id).state == InboxItem.State.IGNORED
    assert handler.calls == []


def test_unknown_actor_is_fetched_once_per_batch(db, handler, httpx_mock, monkeypatch):
    stub_dns(monkeypatch)
    remote = Remote(httpx_mock)
    remote.serve_actor("carol")
    carol = remote.actor_id("carol")
    _store(1, actor=carol)
    _store(2, actor=carol)

    inbox_items_process()

    assert len(httpx_mock.get_requests()) == 1
    assert [uri for _, uri in handler.calls] == [carol, carol]
    assert Account.objects.get(uri=carol).username == "carol"


def test_unresolvable_actor_is_retried(db, handler, httpx_mock, monkeypatch):
    stub_dns(monkeypatch)
    remote = Remote(httpx_mock)
    remote.serve(remote.actor_id("carol"), {"error": "x"}, status=503)
    activity_id = _store(1, actor=remote.actor_id("carol"))
    inbox_items_process()
    item = _item(activity_id)
    assert (item.state, item.attempts) == (InboxItem.State.PENDING, 1)
    assert "FetchTransient" in item.error


def test_the_real_dispatcher_ignores_unknown_types(alice):
    activity_id = _store(1, kind="Wave")
    inbox_items_process()
    assert _item(activity_id).state == InboxItem.State.IGNORED


@pytest.mark.postgres
def test_stored_item_commit_is_asynchronous_on_postgres(db):
    _store(1)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"  # for this transaction only (SET LOCAL)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_skip_items_locked_by_another_worker(handler):
    RemoteAccountFactory(username="alice", domain="remote.example", uri=ALICE)
    first, second = _store(1), _store(2)
    locked = threading.Event()
    release = threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                InboxItem.objects.select_for_update().filter(activity_id=first).get()
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert locked.wait(10)
    try:
        assert inbox_items_process() == 1
    finally:
        release.set()
        thread.join(10)
    assert handler.calls == [(second, ALICE)]
    assert _item(first).state == InboxItem.State.PENDING


# --- Tasks --------------------------------------------------------------------------------------


def test_batch_task_drains_everything(alice, handler, monkeypatch):
    monkeypatch.setattr(tasks_inbox, "BATCH_SIZE", 2)
    for n in range(5):
        _store(n)
    assert tasks_inbox.inbox_process_batch() == 5
    assert not InboxItem.objects.filter(state=InboxItem.State.PENDING).exists()


def test_sweep_processes_due_items_only(alice, handler):
    assert tasks_inbox.inbox_sweep() == 0
    _store(1)
    assert tasks_inbox.inbox_sweep() == 1


def test_kick_queues_at_most_one_batch_per_interval(monkeypatch):
    queued: list[dict] = []
    monkeypatch.setattr(tasks_inbox, "_last_kick", -1.0e9)
    monkeypatch.setattr(
        tasks_inbox.inbox_process_batch, "apply_async", lambda **kw: queued.append(kw)
    )
    for _ in range(50):
        tasks_inbox.inbox_kick()
    assert queued == [{"countdown": tasks_inbox.KICK_INTERVAL}]
    monkeypatch.setattr(tasks_inbox, "_last_kick", -1.0e9)  # the interval has passed
    tasks_inbox.inbox_kick()
    assert len(queued) == 2


def test_kick_survives_a_broker_failure(monkeypatch):
    monkeypatch.setattr(tasks_inbox, "_last_kick", -1.0e9)

    def fail(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks_inbox.inbox_process_batch, "apply_async", fail)
    tasks_inbox.inbox_kick()  # logged, not raised


def test_task_names_route_to_the_inbox_queue():
    from ourvoice.celery import route_task

    for task in (tasks_inbox.inbox_process_batch, tasks_inbox.inbox_sweep):
        assert route_task(task.name, (), {}, {}) == {"queue": "inbox"}


def test_processing_module_exposes_the_store_function():
    assert processing.inbox_item_store is inbox_item_store
