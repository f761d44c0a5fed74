"""Stored inbox activities: the one durable write of the inbox, and batch processing by workers.

The inbox view verifies a request and calls `inbox_item_store` (a single INSERT, idempotent on
the activity id). Workers on the `inbox` queue call `inbox_items_process` (through
`federation.tasks.inbox_process_batch`), which claims pending items with
`SELECT … FOR UPDATE SKIP LOCKED` in one transaction, so concurrent workers never take the same
item, and hands each to `federation.inbound.dispatch.activity_handle` in its own savepoint.

Outcomes: `done`; `ignored` when the handler raises `inbound.errors.Ignore` (or `Reject`), the
actor's domain is suspended or the actor is suspended; `failed` at once for a refused fetch
(`fetch.FetchRefused`: it will not get better); anything else (a fetch that timed out, a 5xx, a
database hiccup, a bug) is retried with backoff — `retry_delay(n)` after the n-th attempt —
and marked `failed` after `MAX_ATTEMPTS`. While an item is pending, `processed_at` holds the time
of its last attempt (the backoff counts from it); once final, the time it was finished.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import psycopg
from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from federation import fetch, policy
from federation.inbound import create, dispatch
from federation.inbound.errors import Ignore
from federation.models import InboxItem
from ourvoice.accounts.models import Account
from ourvoice.core.ids import snowflake_id
from ourvoice.core.rawsql import prepared_cursor

logger = logging.getLogger(__name__)

#: Items one `inbox_items_process` call (one batch task round) claims.
BATCH_SIZE = 200
#: Items claimed per transaction (the set-based Create{Note} path takes them together).
CLAIM_SIZE = 100
#: Attempts before an item that keeps failing is given up.
MAX_ATTEMPTS = 8

_ERROR_LENGTH = 2000


def retry_delay(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: attempts⁴ + 15 s (Mastodon's curve;
    16 s, 31 s, 96 s, 4.5 min, 11 min, 22 min, 40 min: about 80 minutes over 8 attempts)."""
    return timedelta(seconds=attempts**4 + 15)


# --- The inbox's durable write ------------------------------------------------------------------

_PG_INSERT = """
INSERT INTO "{table}"
    (id, activity_id, activity_type, actor_uri, key_id, body, received_at, state, attempts, error)
SELECT %s, %s, %s, %s, %s, %s::jsonb, %s, 'pending', 0, ''
FROM (SELECT set_config('synchronous_commit', 'off', true)) AS _async_commit
ON CONFLICT (activity_id) DO NOTHING
"""

_GENERIC_INSERT = """
INSERT INTO "{table}"
    (id, activity_id, activity_type, actor_uri, key_id, body, received_at, state, attempts, error)
VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending', 0, '')
ON CONFLICT (activity_id) DO NOTHING
"""
_PG_INSERT_SQL = _PG_INSERT.format(table=InboxItem._meta.db_table)
_GENERIC_INSERT_SQL = _GENERIC_INSERT.format(table=InboxItem._meta.db_table)


def inbox_item_store(
    *, activity_id: str, activity_type: str, actor_uri: str, key_id: str, body: bytes
) -> bool:
    """Store a verified activity for processing; False when its id was stored before (replay).

    One statement, in autocommit: `INSERT … ON CONFLICT (activity_id) DO NOTHING`. `body` is
    the request body as received (valid JSON, ≤ 1 MiB), stored as is.

    On PostgreSQL the statement sets `synchronous_commit = off` for its own transaction only
    (`set_config(…, true)` is the function form of `SET LOCAL`), which issue 4 allows for this
    insert: the commit returns before the WAL is flushed, so a crash of the database server (not
    of ours) within about 3 times wal_writer_delay (600 ms by default) can lose activities that were
    already answered with 202. The sender cannot tell; Mastodon's inbox makes the same trade
    with Redis. Raises django.db.DataError for values the column types refuse (e.g. a NUL
    escape, which jsonb does not store).

    On PostgreSQL the statement is prepared once per connection (server-side binding) and runs
    without the per-request connection health check (`CONN_HEALTH_CHECKS`: Django's sends a
    `SELECT 1` round trip, as much CPU as a third of the INSERT; ours in `ourvoice/core/postgres`
    sends nothing, and no check covers a connection that dies just after it). Instead, when the
    INSERT fails because the connection broke while it sat idle (a restarted or failed-over
    database server), the connection is replaced and the INSERT sent once more; it is idempotent
    on the activity id, so a retry after a commit whose answer was lost stores nothing twice.
    """
    params = [
        snowflake_id(),
        activity_id,
        activity_type[:64],
        actor_uri,
        key_id[:2048],
        body.decode("utf-8"),
        connection.ops.adapt_datetimefield_value(timezone.now()),
    ]
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_GENERIC_INSERT_SQL, params)
            return cursor.rowcount > 0
    try:
        return _pg_insert(params)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block or connection.is_usable():
            raise
        logger.warning("inbox insert: database connection lost, reconnecting once")
        connection.close()
        return _pg_insert(params)


def _pg_insert(params: list[Any]) -> bool:
    """The PostgreSQL INSERT, prepared once per connection."""
    connection.ensure_connection()  # connects if needed; no health-check query
    connection.validate_no_broken_transaction()
    start = time.monotonic()
    raw_connection = connection.connection
    if not raw_connection.autocommit or connection.in_atomic_block:
        # Inside a transaction (tests, a caller's atomic block): psycopg keeps managing the
        # transaction; the statement is prepared all the same (and logged by Django's cursor).
        with prepared_cursor() as cursor:
            cursor.execute(_PG_INSERT_SQL, params)
            return cursor.rowcount > 0
    stored = _pg_insert_libpq(raw_connection.pgconn, params)
    if connection.queries_logged:  # what Django's debug cursor records (DEBUG, query counts)
        connection.queries_log.append(
            {"sql": _PG_INSERT_SQL, "time": f"{time.monotonic() - start:.3f}"}
        )
    return stored


#: The name of the prepared INSERT on each connection (the autocommit fast path).
_STATEMENT = b"ov_inbox_item_store"
_PG_INSERT_NUMBERED = (
    _PG_INSERT_SQL.replace(
        "%s, %s, %s, %s, %s, %s::jsonb, %s",
        "$1::bigint, $2, $3, $4, $5, $6::jsonb, $7::timestamptz",
    )
).encode()


def _pg_insert_libpq(pgconn: Any, params: list[Any]) -> bool:
    """In autocommit (the inbox view): the prepared statement run straight through libpq,
    about a third of the client CPU of a psycopg cursor (no cursor object, no adaptation, no
    result machinery for an INSERT that returns nothing). Parameters go as text; libpq cuts
    text at a NUL, so a NUL is refused here as psycopg would (DataError)."""
    values = [str(params[0]).encode()]
    for value in params[1:6]:
        encoded = value.encode("utf-8")
        if b"\x00" in encoded:
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        values.append(encoded)
    values.append(params[6].isoformat().encode())
    with connection.wrap_database_errors:
        if getattr(connection, "_ov_inbox_statement_on", None) is not pgconn:
            _raise_for(pgconn, pgconn.prepare(_STATEMENT, _PG_INSERT_NUMBERED))
            connection._ov_inbox_statement_on = pgconn
        result = pgconn.exec_prepared(_STATEMENT, values)
        if result.error_field(_SQLSTATE) == b"26000":  # deallocated behind our back: again
            _raise_for(pgconn, pgconn.prepare(_STATEMENT, _PG_INSERT_NUMBERED))
            result = pgconn.exec_prepared(_STATEMENT, values)
        _raise_for(pgconn, result)
    return bool(result.command_tuples)


_SQLSTATE = psycopg.pq.DiagnosticField.SQLSTATE


def _raise_for(pgconn: Any, result: Any) -> None:
    if result.status == psycopg.pq.ExecStatus.COMMAND_OK:
        return
    if pgconn.status == psycopg.pq.ConnStatus.BAD:  # as psycopg reports a lost connection
        message = result.error_message.decode("utf-8", "replace").strip()
        raise psycopg.OperationalError(f"connection lost: {message}")
    raise psycopg.errors.error_from_result(result, encoding="utf-8")  # Django connects in UTF8


# --- Processing ---------------------------------------------------------------------------------


class _Skip(Exception):
    """The item is dropped without calling a handler (suspended actor or domain)."""


def _due(now: Any) -> Q:
    due = Q(attempts=0)
    for attempts in range(1, MAX_ATTEMPTS):
        due |= Q(attempts=attempts, processed_at__lte=now - retry_delay(attempts))
    return due


def inbox_items_due_exist() -> bool:
    """True if some pending item may be processed now (for the periodic sweep)."""
    return (
        InboxItem.objects.filter(state=InboxItem.State.PENDING)
        .filter(_due(timezone.now()))
        .exists()
    )


def _actor_for(item: InboxItem, known: dict[str, Account]) -> Account:
    account = known.get(item.actor_uri)
    if account is None:
        if policy.domain_is_suspended(item.actor_uri):
            raise _Skip("the actor's domain is suspended")
        account = fetch.actor_resolve(item.actor_uri)
        known[item.actor_uri] = account
    if account.is_suspended:
        raise _Skip("the actor is suspended")
    return account


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH]


def inbox_items_process(limit: int = BATCH_SIZE) -> int:
    """Process up to `limit` due pending inbox items; returns how many were claimed.

    Items are claimed `CLAIM_SIZE` at a time (SKIP LOCKED, so other workers take other
    items). In the claiming transaction, the plain `Create{Note}` items among them go through
    the set-based path (`inbound.create.handle_batch`: a fixed number of queries for the lot)
    and are marked done in the same commit; if that path fails for any reason its writes are
    rolled back and its items join the others. Every other item is then claimed again, applied
    and marked in its own short transaction: an item is applied and marked together or not at
    all, one bad item never takes others with it, and row locks taken while applying it (an
    author's counters, say) are released at once, so workers handling the same authors never
    hold each other up for a whole batch or deadlock. A worker that dies leaves its current
    items pending; handlers are idempotent on the activity id. Policy look-ups are memoised
    for the call (`policy.policy_memo`).
    """
    actors: dict[str, Account] = {}
    claimed = 0
    with policy.policy_memo():
        while claimed < limit:
            now = timezone.now()
            with transaction.atomic():
                items = list(
                    InboxItem.objects.select_for_update(skip_locked=True)
                    .filter(state=InboxItem.State.PENDING)
                    .filter(_due(now))
                    .order_by("id")[: min(CLAIM_SIZE, limit - claimed)]
                )
                if not items:
                    break
                claimed += len(items)
                rest = _apply_creates(items, actors)
            for item_id in rest:
                with transaction.atomic():
                    item = (
                        InboxItem.objects.select_for_update(skip_locked=True)
                        .filter(pk=item_id, state=InboxItem.State.PENDING)
                        .first()
                    )
                    if item is not None:  # else another worker has it, or finished it
                        _apply(item, actors, now)
    return claimed


def _apply_creates(items: list[InboxItem], actors: dict[str, Account]) -> list[int]:
    """Apply the plain Create{Note} items of a claimed batch set-based, in a savepoint, and
    mark them done; returns the ids of the items left to apply one by one."""
    creates = [i for i in items if i.activity_type == "Create" and isinstance(i.body, dict)]
    if not creates:
        return [i.id for i in items]
    unknown = {i.actor_uri for i in creates} - actors.keys()
    if unknown:
        actors.update({a.uri: a for a in Account.objects.filter(uri__in=unknown)})
    entries = [(i.id, i.body, actors[i.actor_uri]) for i in creates if i.actor_uri in actors]
    done: set[int] = set()
    try:
        with transaction.atomic():
            done = create.handle_batch(entries)
            if done:
                InboxItem.objects.filter(pk__in=done).update(
                    state=InboxItem.State.DONE,
                    processed_at=timezone.now(),
                    error="",
                    attempts=F("attempts") + 1,
                )
    except Exception:
        logger.warning("inbox batch path failed; applying its items one by one", exc_info=True)
        done = set()
    return [i.id for i in items if i.id not in done]


def _apply(item: InboxItem, actors: dict[str, Account], now: Any) -> None:
    """Apply one claimed item in a savepoint and record its outcome (caller's transaction)."""
    try:
        with transaction.atomic():
            actor = _actor_for(item, actors)
            dispatch.activity_handle(activity=item.body, actor=actor)
    except (Ignore, _Skip, policy.DomainBlocked) as exc:
        item.state = InboxItem.State.IGNORED
        item.error = _error_text(exc)
        logger.debug("inbox item ignored id=%s reason=%s", item.id, item.error)
    except fetch.FetchRefused as exc:
        item.state = InboxItem.State.FAILED
        item.error = _error_text(exc)
        logger.info("inbox item failed id=%s error=%s", item.id, item.error)
    except Exception as exc:
        item.error = _error_text(exc)
        if item.attempts + 1 >= MAX_ATTEMPTS:
            item.state = InboxItem.State.FAILED
            logger.warning("inbox item given up id=%s error=%s", item.id, item.error)
        else:
            logger.info(
                "inbox item will be retried id=%s attempt=%s error=%s",
                item.id,
                item.attempts + 1,
                item.error,
                exc_info=not isinstance(exc, fetch.FetchTransient),
            )
    else:
        InboxItem.objects.filter(pk=item.pk).update(
            state=InboxItem.State.DONE,
            processed_at=timezone.now(),
            error="",
            attempts=F("attempts") + 1,
        )
        return
    item.attempts += 1
    item.processed_at = now
    item.save(update_fields=["state", "error", "attempts", "processed_at"])
