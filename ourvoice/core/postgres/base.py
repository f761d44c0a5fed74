"""Django's PostgreSQL backend with a per-request connection health check without a query."""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from psycopg import pq


class DatabaseWrapper(PostgresDatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        """Close a persistent connection that died since its last request, without a query.

        Django's check (`CONN_HEALTH_CHECKS`) sends `SELECT 1` at the first database use of
        every request: a full round trip to the server on every API request. It exists for a
        persistent connection (`CONN_MAX_AGE`) that the server closed while it sat idle between
        requests: PostgreSQL restarted or failed over, `pg_terminate_backend`,
        `idle_session_timeout`. In each of these the server sends an error message and closes
        the socket (or the kernel answers with a reset), so the idle socket becomes readable.

        Here the connection counts as healthy, with no network traffic, when psycopg has not
        seen it closed or broken, libpq's status is OK, no transaction is open (IDLE) and a
        zero-timeout `poll` finds nothing to read on its socket (the server owes an idle
        connection nothing). A connection psycopg or libpq already knows to be bad is closed.
        Every other case falls back to Django's `SELECT 1` (`is_usable()`), so this never
        closes a connection Django's check would have kept: something to read (a dead
        connection then fails at once, on the error or EOF already received; a NOTICE or a
        NOTIFY is harmless and the connection stays), or a transaction open (only inside an
        atomic block, never between requests). Django reopens a closed connection at its next
        use.

        Not caught, by this check or by Django's: a network path that went away silently (no
        FIN, no reset) is noticed only when TCP gives up; Django's `SELECT 1` blocks just the
        same. Nor a connection that dies between the check and the request's first query.
        With TLS (`sslmode`) the poll sees the socket, not OpenSSL's buffer: an idle connection
        has read the server's last message (ReadyForQuery) in full, so anything the server
        sends later arrives on the socket; TLS-only bytes would merely trigger the fallback.

        The guards are Django's: a pool checks its own connections, and nothing is done without
        a connection, with checks disabled, or when already done for this request.
        """
        if (
            self.pool
            or self.connection is None
            or not self.health_check_enabled
            or self.health_check_done
        ):
            return
        alive = _idle_connection_alive(self.connection)
        if alive is None:
            alive = self.is_usable()
        if not alive:
            self.close()
        self.health_check_done = True


def _idle_connection_alive(connection: psycopg.Connection) -> bool | None:
    """True/False when the connection's state answers it without I/O, None when only a query can."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK:
        return False
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return None
    try:
        fd = pgconn.socket
    except psycopg.OperationalError:
        return False
    return None if _readable(fd) else True


def _readable(fd: int) -> bool:
    """Whether the socket has data, EOF or an error pending, without waiting (no I/O)."""
    if hasattr(select, "poll"):  # not limited to descriptors below FD_SETSIZE, as select is
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])
