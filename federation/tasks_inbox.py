"""Celery tasks of the `inbox` queue: thin wrappers around `federation.processing`.

The inbox view does not publish one task per request (a publish costs ~0.45 ms, more than the
rest of the request: performance.md §3.5). It calls `inbox_kick()`, which publishes at most one
`inbox_process_batch` per `KICK_INTERVAL` per web process, delayed by that same interval, so
every item stored in the window is already committed when the batch task runs. The beat task
`inbox_sweep` picks up anything left (a broker outage, retries that came due, a kick that was
debounced at the end of a burst).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import shared_task

from federation.processing import BATCH_SIZE, inbox_items_due_exist, inbox_items_process

logger = logging.getLogger(__name__)

#: Seconds between two batch tasks queued by one web process.
KICK_INTERVAL = 0.1
#: Seconds one batch task keeps claiming batches before handing over to a fresh task.
TIME_BUDGET = 20.0

_kick_lock = threading.Lock()
_last_kick = -1.0e9


def inbox_kick() -> None:
    """Make sure a batch task runs soon (called by the inbox after each stored activity).

    Cheap: a monotonic clock read, and a publish at most every KICK_INTERVAL seconds. A
    broker failure is logged, never raised (the sweep catches up).
    """
    global _last_kick
    now = time.monotonic()
    with _kick_lock:
        if now - _last_kick < KICK_INTERVAL:
            return
        _last_kick = now
    try:
        inbox_process_batch.apply_async(countdown=KICK_INTERVAL)
    except Exception:
        logger.warning("inbox batch task could not be queued; the sweep will run it", exc_info=True)


def _process_until_empty() -> int:
    deadline = time.monotonic() + TIME_BUDGET
    total = 0
    while True:
        claimed = inbox_items_process(limit=BATCH_SIZE)
        total += claimed
        if claimed < BATCH_SIZE:
            return total
        if time.monotonic() > deadline:
            inbox_process_batch.apply_async()
            return total


@shared_task(name="federation.tasks.inbox_process_batch", acks_late=True, ignore_result=True)
def inbox_process_batch() -> int:
    """Process due inbox items in batches until none are left (or the time budget is spent,
    then queue a successor); returns how many items were claimed."""
    return _process_until_empty()


@shared_task(name="federation.tasks.inbox_sweep", ignore_result=True)
def inbox_sweep() -> int:
    """Beat: process whatever is due (stragglers and retries); returns how many items."""
    if not inbox_items_due_exist():
        return 0
    return _process_until_empty()
