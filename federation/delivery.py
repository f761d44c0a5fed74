"""Sending outgoing activities: one Delivery row per (activity, inbox), signed at send time.

Flow (decisions.md core rule 4, federation.md §6). The outbound consumers store the activity
body once (`OutgoingActivity.body`, with its Digest) and one `Delivery` row per inbox, then queue
`federation.tasks.delivery_send` with chunks of row ids (`deliveries_enqueue`). A task
(`deliveries_send`) sends its rows one after the other over this worker process's keep-alive
connection pool (`delivery_client`, a `federation.transport.DeliverySender`: a thin HTTP/1.1
sender behind the same SSRF guard and address pinning as `ourvoice.core.http.SafeClient`),
signing each request with the actor's cached key.

Exactly once per (activity, inbox):

- A row is sent only by the task that CLAIMS it: one conditional UPDATE
  (`state = 'pending' AND next_attempt_at <= now`) that counts the attempt and moves
  `next_attempt_at` forward by `CLAIM_LEASE`, longer than any request may take. A second run of
  the same chunk (a redelivered message, a sweep) finds the row claimed or finished and skips
  it, so running a task twice, even concurrently, sends nothing twice.
- The outcome is written right after the response, row by row (autocommit). If the worker is
  killed, the rows it had not claimed yet are still due and are picked up at once by the
  redelivered message or by the sweep; the single row in flight is due again when its lease
  runs out and is re-sent then. That one row may have reached the peer before the kill, the
  one case where a peer can see an activity twice, as with any HTTP sender: receivers drop a
  repeated activity id (Mastodon does, and so does our inbox).
- On PostgreSQL the state writes use asynchronous commit (`synchronous_commit = off` for the
  duration of a chunk). A database crash can then forget the last fraction of a second of
  claims and outcomes; those rows are sent again (at-least-once), never lost.

Outcomes, as Mastodon classifies them: 2xx sent; 501 and every 4xx except 401, 408 and 429
failed for good; anything else (other 3xx/5xx, 401, 408, 429, timeouts, connection errors)
retried after `count⁴ + 15 + rand(0.5·count⁴)` seconds (Sidekiq's schedule), up to
`MAX_RETRIES` (16) retries after the first attempt, as Mastodon, then expired. Short retries are
queued with a countdown; longer ones are picked up by `deliveries_sweep` (beat, every 30 s),
which also re-queues anything a lost broker message or a killed worker left behind.

Domain health (Mastodon's DeliveryFailureTracker): a retryable failure adds today's date to
`Instance.failure_days`; failures on `UNAVAILABLE_AFTER_DAYS` distinct days mark the domain
unavailable (`unavailable_since`) and its deliveries are skipped; any answer from the domain
that is not a retryable failure clears both, and a 2xx also sets `last_success_at` (written at
most once a minute per domain). Deliveries to suspended or unavailable domains are marked
`skipped` when they come up.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from federation.models import Delivery, Instance, OutgoingActivity
from federation.signatures import ACTIVITY_JSON, sign_request
from federation.transport import DeliverySender, http_date, resolver_cache_clear, target_parse
from ourvoice.core import http as core_http
from ourvoice.core.http import (
    BadUrl,
    ConnectionFailed,
    FetchError,
    ForbiddenAddress,
    Timeout,
)
from ourvoice.core.rawsql import prepared_cursor

logger = logging.getLogger(__name__)

#: Task names (routed to the `delivery` queue by ourvoice/celery.py).
SEND_TASK = "federation.tasks.delivery_send"
SWEEP_TASK = "federation.tasks.delivery_sweep"

#: Rows per `delivery_send` task: a Celery task costs ~1.35 ms, about five RSA signatures
#: (performance.md §2.5), so one task per inbox would triple the cost of a delivery; a chunk
#: also pays a few queries (rows, activities, domain health) once.
DELIVERY_CHUNK = 200
#: Retries after the first attempt (Mastodon's DeliveryWorker: `retry: 16`, ~50 h of base
#: delays); a row expires when its last attempt fails.
MAX_RETRIES = 16
MAX_ATTEMPTS = 1 + MAX_RETRIES
#: A claimed row is not due again before this; longer than one request's total deadline.
CLAIM_LEASE = timedelta(seconds=2 * core_http.TOTAL_TIMEOUT)
#: The sweep re-queues pending rows overdue by more than this (normal tasks run well before).
SWEEP_GRACE_SECONDS = 60.0
#: Rows per sweep run.
SWEEP_LIMIT = 20_000
#: Retries due within this many seconds get a countdown task; later ones wait for the sweep.
RETRY_COUNTDOWN_MAX = 600.0
#: Failures on this many distinct days mark a domain unavailable.
UNAVAILABLE_AFTER_DAYS = 7
#: `Instance.last_success_at` is refreshed at most this often per domain.
SUCCESS_MARK_INTERVAL = timedelta(seconds=60)
#: Response bodies are not used; a peer answering with more than this is treated as broken.
RESPONSE_MAX_BYTES = 64 * 1024


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


def classify_status(status: int) -> Outcome:
    """Mastodon's rules: 2xx sent; 501 and 4xx except 401/408/429 final; the rest retried."""
    if 200 <= status < 300:
        return Outcome.SENT
    if status == 501 or (400 <= status < 500 and status not in (401, 408, 429)):
        return Outcome.FAILED
    return Outcome.RETRY


def classify_error(exc: FetchError) -> Outcome:
    """Timeouts and connection errors are retried; a refused or invalid target is final."""
    if isinstance(exc, Timeout | ConnectionFailed):
        return Outcome.RETRY
    if isinstance(exc, ForbiddenAddress | BadUrl):
        return Outcome.FAILED
    return Outcome.FAILED  # TooLarge, TooManyRedirects: the peer is broken, not down


def retry_delay(count: int, *, rng: random.Random | None = None) -> float:
    """Seconds before retry number `count` (0 for the first retry): count⁴ + 15 + rand(0.5·count⁴).

    Gaps run 15 s, 16 s, 31 to 39 s, 1.6 to 2.3 min, 4.5 to 6.6 min … 14 to 21 h at count 15.
    """
    base = count**4
    return base + 15 + (rng or random).uniform(0, 0.5 * base)


# --- The per-process sender ----------------------------------------------------------------------

_client: DeliverySender | None = None
_client_pid = 0
_client_lock = threading.Lock()


def delivery_client() -> DeliverySender:
    """This process's delivery sender (one connection pool, shared by its threads); rebuilt
    after a fork."""
    global _client, _client_pid
    client = _client
    if client is None or _client_pid != os.getpid():
        with _client_lock:
            if _client is None or _client_pid != os.getpid():
                _client, _client_pid = DeliverySender(), os.getpid()
            client = _client
    return client


def delivery_client_reset() -> None:
    """Close the process's sender and forget the resolver cache (tests, settings changes)."""
    global _client
    with _client_lock:
        if _client is not None and _client_pid == os.getpid():
            _client.close()
        _client = None
    resolver_cache_clear()


# --- Queueing ------------------------------------------------------------------------------------


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def deliveries_enqueue(ids: Sequence[int], *, countdown: float | None = None) -> int:
    """Queue `delivery_send` tasks for these row ids, `DELIVERY_CHUNK` at a time.

    Call it after commit (`transaction.on_commit`). A broker failure is logged, not raised:
    the sweep finds the rows. Returns the number of tasks queued.
    """
    from federation.tasks_delivery import delivery_send

    queued = 0
    for chunk in _chunks(list(ids), DELIVERY_CHUNK):
        try:
            delivery_send.apply_async(args=[chunk], countdown=countdown)
        except Exception:  # the broker is down: the sweep will pick the rows up
            logger.exception("delivery enqueue failed rows=%s first_id=%s", len(chunk), chunk[0])
            continue
        queued += 1
    return queued


# --- Sending -------------------------------------------------------------------------------------


@dataclass
class SendReport:
    """What one `deliveries_send` call did (per row outcome counts)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    skipped: int = 0
    #: Rows not sent because they were not pending, not due or claimed by another run.
    not_claimed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Activity:
    uri: str
    body: bytes
    digest: str
    key_id: str
    private_key_pem: str


class _Writer:
    """Raw, parameterised state writes (the ORM would cost more than the HTTP request).

    Give it a `rawsql.prepared_cursor()`: on PostgreSQL the statements are prepared once per
    connection, so the server stops parsing and planning the per-row statement (~110 µs of
    PostgreSQL CPU per delivery on the 2-core box, more than the statement's execution).
    """

    def __init__(self, cursor: Any) -> None:
        self.postgres = connection.vendor == "postgresql"
        # On PostgreSQL, the driver's cursor itself: Django's wrapper adds ~40 µs per
        # statement, a third of the statement's client cost (same %s placeholders).
        self.cursor = cursor.cursor if self.postgres else cursor
        self.table = connection.ops.quote_name(Delivery._meta.db_table)
        self.adapt = connection.ops.adapt_datetimefield_value

    def claim(self, row_id: int, now: datetime) -> bool:
        self.cursor.execute(
            f"UPDATE {self.table} SET attempts = attempts + 1, next_attempt_at = %s "
            "WHERE id = %s AND state = 'pending' AND next_attempt_at <= %s",
            [self.adapt(now + CLAIM_LEASE), row_id, self.adapt(now)],
        )
        return self.cursor.rowcount == 1

    def sent(
        self, row_id: int, status: int, now: datetime, *, claim_next: int | None = None
    ) -> bool | None:
        """Mark a row sent; with `claim_next`, also claim that row (one round trip on
        PostgreSQL) and return whether the claim succeeded."""
        mark = (
            f"UPDATE {self.table} SET state = 'sent', sent_at = %s, last_status = %s, "
            "last_error = '' WHERE id = %s AND state = 'pending'"
        )
        params = [self.adapt(now), status, row_id]
        if claim_next is None:
            self.cursor.execute(mark, params)
            return None
        if not self.postgres:
            self.cursor.execute(mark, params)
            return self.claim(claim_next, timezone.now())
        # Both writes in one statement: the mark commits exactly as early as before, and the
        # next row's claim rides along (a data-modifying CTE always runs).
        try:
            self.cursor.execute(
                f"WITH done AS ({mark}) UPDATE {self.table} SET attempts = attempts + 1, "
                "next_attempt_at = %s WHERE id = %s AND state = 'pending' "
                "AND next_attempt_at <= %s",
                [*params, self.adapt(now + CLAIM_LEASE), claim_next, self.adapt(now)],
            )
        except connection.Database.Error:
            # E.g. chosen as a deadlock victim by a bulk update of other rows: the request
            # went out, so the mark must not be lost; write it on its own.
            logger.warning("delivery mark retried row=%s", row_id, exc_info=True)
            self.cursor.execute(mark, params)
            return self.claim(claim_next, timezone.now())
        return self.cursor.rowcount == 1

    def retry(self, row_id: int, status: int | None, error: str, due: datetime) -> None:
        self.cursor.execute(
            f"UPDATE {self.table} SET next_attempt_at = %s, last_status = %s, last_error = %s "
            "WHERE id = %s AND state = 'pending'",
            [self.adapt(due), status, error[:2000], row_id],
        )

    def final(self, row_id: int, state: str, status: int | None, error: str) -> None:
        self.cursor.execute(
            f"UPDATE {self.table} SET state = %s, last_status = %s, last_error = %s "
            "WHERE id = %s AND state = 'pending'",
            [state, status, error[:2000], row_id],
        )


def _activities(activity_ids: set[int]) -> dict[int, _Activity]:
    rows = OutgoingActivity.objects.filter(pk__in=activity_ids).values_list(
        "id", "uri", "body", "digest", "actor__key_id", "actor__private_key_pem", "actor__uri"
    )
    return {
        pk: _Activity(
            uri=uri,
            body=bytes(body),
            digest=digest,
            key_id=key_id or f"{actor_uri}#main-key",
            private_key_pem=pem,
        )
        for pk, uri, body, digest, key_id, pem, actor_uri in rows
    }


@dataclass
class _DomainState:
    blocked: str = ""
    failure_days: list[str] = field(default_factory=list)
    unavailable: bool = False
    last_success_at: datetime | None = None


def _domain_states(domains: set[str]) -> dict[str, _DomainState]:
    """Health and policy of each domain, creating the Instance rows not seen before."""
    states: dict[str, _DomainState] = {}
    rows = Instance.objects.filter(domain__in=domains).values_list(
        "domain", "policy", "unavailable_since", "failure_days", "last_success_at"
    )
    for domain, policy, unavailable_since, failure_days, last_success_at in rows:
        blocked = ""
        if policy == Instance.Policy.SUSPEND:
            blocked = "domain suspended"
        elif unavailable_since is not None:
            blocked = "domain unavailable"
        states[domain] = _DomainState(
            blocked=blocked,
            failure_days=list(failure_days or []),
            unavailable=unavailable_since is not None,
            last_success_at=last_success_at,
        )
    missing = domains - states.keys()
    if missing:
        Instance.objects.bulk_create(
            [Instance(domain=domain) for domain in sorted(missing)], ignore_conflicts=True
        )
        states.update({domain: _DomainState() for domain in missing})
    return states


def _post(
    client: DeliverySender, inbox: str, activity: _Activity, user_agent: str
) -> tuple[Outcome, int | None, str]:
    """Sign and POST the stored body to one inbox; (outcome, status, error text)."""
    try:
        target = target_parse(inbox)
        headers = sign_request(
            method="POST",
            url=target.url,
            headers={
                "Host": target.authority,
                "Date": http_date(),
                "Digest": activity.digest,
                "Content-Type": ACTIVITY_JSON,
            },
            body=activity.body,
            key_id=activity.key_id,
            private_key_pem=activity.private_key_pem,
        )
        headers["User-Agent"] = user_agent
        status = client.post(
            target, headers=headers, body=activity.body, max_bytes=RESPONSE_MAX_BYTES
        ).status
    except FetchError as exc:
        return classify_error(exc), None, f"{type(exc).__name__}: {exc}"
    except (ValueError, TypeError) as exc:  # an unusable key or URL: no retry can fix it
        logger.exception("delivery unsendable activity=%s inbox=%s", activity.uri, inbox)
        return Outcome.FAILED, None, f"{type(exc).__name__}: {exc}"
    outcome = classify_status(status)
    error = "" if outcome is Outcome.SENT else f"HTTP {status}"
    return outcome, status, error


def deliveries_send(*, ids: Sequence[int], client: DeliverySender | None = None) -> SendReport:
    """Send the due, pending rows among `ids`; safe to call twice or concurrently.

    Returns what happened to each row. Rows of suspended or unavailable domains are marked
    skipped without a request.
    """
    report = SendReport()
    now = timezone.now()
    rows = list(
        Delivery.objects.filter(
            pk__in=list(ids), state=Delivery.State.PENDING, next_attempt_at__lte=now
        )
        .order_by("domain", "inbox")
        .values_list("id", "activity_id", "inbox", "domain", "attempts")
    )
    report.not_claimed = len(set(ids)) - len(rows)
    if not rows:
        return report
    activities = _activities({row[1] for row in rows})
    domains = _domain_states({row[3] for row in rows})

    skipped: dict[str, list[int]] = defaultdict(list)
    todo = []
    for row in rows:
        reason = domains[row[3]].blocked
        if row[1] not in activities:  # deleted meanwhile (cascade): nothing to send
            report.not_claimed += 1
        elif reason:
            skipped[reason].append(row[0])
        else:
            todo.append(row)
    for reason, skip_ids in skipped.items():
        report.skipped += Delivery.objects.filter(
            pk__in=skip_ids, state=Delivery.State.PENDING
        ).update(state=Delivery.State.SKIPPED, last_error=reason)

    client = client or delivery_client()
    user_agent = core_http.user_agent()
    reachable: set[str] = set()
    succeeded: set[str] = set()
    failing: set[str] = set()
    retries: list[tuple[int, float]] = []
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor, prepared_cursor() as prepared:
        if postgres and not connection.in_atomic_block:
            cursor.execute("SET synchronous_commit TO off")
        try:
            writer = _Writer(prepared)
            claimed_ahead: bool | None = None
            for index, (row_id, activity_id, inbox, domain, attempts) in enumerate(todo):
                activity = activities[activity_id]
                if claimed_ahead is None:
                    claimed_ahead = writer.claim(row_id, timezone.now())
                claimed, claimed_ahead = claimed_ahead, None
                if not claimed:
                    report.not_claimed += 1
                    continue
                attempt = attempts + 1
                if not activity.private_key_pem:
                    writer.final(row_id, Delivery.State.FAILED, None, "actor has no private key")
                    report.failed += 1
                    continue
                outcome, status, error = _post(client, inbox, activity, user_agent)
                done = timezone.now()
                if status is not None:
                    report.statuses[row_id] = status
                if outcome is Outcome.SENT:
                    following = todo[index + 1][0] if index + 1 < len(todo) else None
                    claimed_ahead = writer.sent(row_id, status or 0, done, claim_next=following)
                    report.sent += 1
                    reachable.add(domain)
                    succeeded.add(domain)
                    logger.debug(
                        "delivery sent activity=%s inbox=%s status=%s attempt=%s",
                        activity.uri,
                        inbox,
                        status,
                        attempt,
                    )
                    continue
                if outcome is Outcome.FAILED:
                    writer.final(row_id, Delivery.State.FAILED, status, error)
                    report.failed += 1
                    if status is not None:
                        reachable.add(domain)
                    logger.info(
                        "delivery failed activity=%s inbox=%s status=%s attempt=%s error=%s",
                        activity.uri,
                        inbox,
                        status,
                        attempt,
                        error,
                    )
                    continue
                failing.add(domain)
                if attempt >= MAX_ATTEMPTS:
                    writer.final(row_id, Delivery.State.EXPIRED, status, error)
                    report.expired += 1
                    logger.warning(
                        "delivery expired activity=%s inbox=%s attempts=%s error=%s",
                        activity.uri,
                        inbox,
                        attempt,
                        error,
                    )
                    continue
                delay = retry_delay(attempt - 1)
                writer.retry(row_id, status, error, done + timedelta(seconds=delay))
                report.retried += 1
                retries.append((row_id, delay))
                logger.info(
                    "delivery retry activity=%s inbox=%s status=%s attempt=%s in=%.0fs error=%s",
                    activity.uri,
                    inbox,
                    status,
                    attempt,
                    delay,
                    error,
                )
        finally:
            if postgres and not connection.in_atomic_block:
                cursor.execute("SET synchronous_commit TO DEFAULT")

    domains_record_outcomes(
        states=domains, reachable=reachable, succeeded=succeeded, failing=failing - reachable
    )
    soon = [(row_id, delay) for row_id, delay in retries if delay <= RETRY_COUNTDOWN_MAX]
    if soon:
        deliveries_enqueue([row_id for row_id, _ in soon], countdown=max(d for _, d in soon) + 1)
    logger.info(
        "delivery chunk rows=%s sent=%s retried=%s failed=%s expired=%s skipped=%s not_claimed=%s",
        len(ids),
        report.sent,
        report.retried,
        report.failed,
        report.expired,
        report.skipped,
        report.not_claimed,
    )
    return report


# --- Domain health -------------------------------------------------------------------------------


def domains_record_outcomes(
    *,
    states: dict[str, _DomainState],
    reachable: set[str],
    succeeded: set[str],
    failing: set[str],
) -> None:
    """Update per-domain failure tracking after a chunk (DeliveryFailureTracker).

    `reachable`: domains that answered (2xx or a final 4xx): their failure days and
    unavailability are cleared. `succeeded` (2xx) also refreshes `last_success_at`.
    `failing`: domains with only retryable failures in this chunk: today is added to their
    failure days; the domain becomes unavailable after `UNAVAILABLE_AFTER_DAYS` distinct days.
    """
    now = timezone.now()
    to_clear = [d for d in reachable if states[d].failure_days or states[d].unavailable]
    if to_clear:
        Instance.objects.filter(domain__in=to_clear).update(failure_days=[], unavailable_since=None)
        logger.info("delivery domains recovered domains=%s", ",".join(sorted(to_clear)))
    stale = [
        d
        for d in succeeded
        if states[d].last_success_at is None
        or now - states[d].last_success_at >= SUCCESS_MARK_INTERVAL
    ]
    if stale:
        Instance.objects.filter(domain__in=stale).update(last_success_at=now)
    today = now.date().isoformat()
    for domain in sorted(failing):
        if today in states[domain].failure_days and (
            states[domain].unavailable or len(states[domain].failure_days) < UNAVAILABLE_AFTER_DAYS
        ):
            continue  # nothing new to record today
        instance_record_failure(domain=domain, now=now)


@transaction.atomic
def instance_record_failure(*, domain: str, now: datetime | None = None) -> Instance | None:
    """Add today to a domain's failure days; mark it unavailable after enough distinct days."""
    now = now or timezone.now()
    instance = Instance.objects.select_for_update().filter(domain=domain).first()
    if instance is None:
        return None
    today = now.date().isoformat()
    days = sorted(set(instance.failure_days or []) | {today})
    fields = []
    if days != instance.failure_days:
        instance.failure_days = days
        fields.append("failure_days")
    if len(days) >= UNAVAILABLE_AFTER_DAYS and instance.unavailable_since is None:
        instance.unavailable_since = now
        fields.append("unavailable_since")
        logger.warning("delivery domain unavailable domain=%s failure_days=%s", domain, len(days))
    if fields:
        instance.save(update_fields=fields)
    return instance


# --- Sweep ---------------------------------------------------------------------------------------


def deliveries_sweep(
    *, older_than_seconds: float = SWEEP_GRACE_SECONDS, limit: int = SWEEP_LIMIT
) -> int:
    """Queue pending rows overdue by more than `older_than_seconds`; returns how many.

    Catches retries due for longer than the countdown window, rows whose task message was
    lost (broker down at commit time) and rows a killed worker claimed or never reached. The
    rows' `next_attempt_at` is set to now, so a row still waiting in a long broker backlog is
    queued again at most once per grace period; the claim keeps any extra task harmless.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    with transaction.atomic():
        # SKIP LOCKED: rows a sender is writing right now are left alone, so the sweep never
        # waits for a sender (and can never be half of a deadlock with one).
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(state=Delivery.State.PENDING, next_attempt_at__lte=cutoff)
            .order_by("next_attempt_at")
            .values_list("id", "domain", "inbox")[:limit]
        )
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 1000):
            Delivery.objects.filter(pk__in=ids[start : start + 1000]).update(next_attempt_at=now)
    rows.sort(key=lambda row: (row[1], row[2]))
    deliveries_enqueue([row[0] for row in rows])
    logger.info("delivery sweep queued=%s", len(rows))
    return len(rows)
