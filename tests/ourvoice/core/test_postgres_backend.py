"""`ourvoice.core.postgres`: the per-request connection health check costs no round trip and
still replaces a connection that the server closed while it sat idle."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection, connections

from ourvoice.accounts.models import Account
from ourvoice.core.postgres import base as backend

pytestmark = pytest.mark.postgres


# Monkeypatching goes to `connections["default"]`, not to the `connection` proxy: undoing an
# attribute set through the proxy deletes the wrapper's own attribute.


def _admin_connection() -> psycopg.Connection:
    """A second connection to the same database, outside Django."""
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


def _backend_pid() -> int:
    return connection.connection.info.backend_pid


def _terminate_backend(pid: int) -> None:
    """`pg_terminate_backend` from another connection (as a server restart does to every
    connection), then wait until the backend process is gone."""
    with _admin_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        _wait_until(
            lambda: (
                not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            ),
            "the terminated backend to exit",
        )


def _new_request() -> None:
    """What a request's start does to the connection: Django's `close_old_connections`, which
    makes the next database use run the health check."""
    request_started.send(sender=None)
    assert connection.health_check_done is False


def _wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def is_usable_calls(monkeypatch) -> list[None]:
    """Calls of Django's `SELECT 1` check (`is_usable`), which still answers them."""
    calls: list[None] = []
    original = connection.is_usable

    def counted() -> bool:
        calls.append(None)
        return original()

    monkeypatch.setattr(connections["default"], "is_usable", counted)
    return calls


def test_settings_select_this_backend_with_health_checks():
    assert connection.settings_dict["ENGINE"] == "ourvoice.core.postgres"
    assert isinstance(connections["default"], backend.DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


@pytest.mark.django_db(transaction=True)
def test_a_healthy_idle_connection_passes_without_any_query(monkeypatch):
    Account.objects.count()
    pid = _backend_pid()
    raw = connection.connection
    _new_request()

    def no_query(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(raw, "cursor", no_query)
    monkeypatch.setattr(raw, "execute", no_query)
    connection.close_if_health_check_failed()
    monkeypatch.undo()

    assert connection.health_check_done is True
    assert connection.connection is raw
    assert Account.objects.count() >= 0
    assert _backend_pid() == pid


@pytest.mark.django_db(transaction=True)
def test_a_request_on_a_healthy_connection_sends_no_select_1(is_usable_calls):
    Account.objects.count()
    pid = _backend_pid()
    for _ in range(3):
        _new_request()
        assert Account.objects.count() >= 0  # the check runs before this query
        assert connection.health_check_done is True
    assert is_usable_calls == []
    assert _backend_pid() == pid


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_terminated_is_closed_and_replaced():
    Account.objects.count()
    pid = _backend_pid()
    raw = connection.connection
    assert not backend._readable(raw.pgconn.socket)
    _terminate_backend(pid)
    # The server's goodbye (an error message, then EOF) waits on the idle socket.
    _wait_until(lambda: backend._readable(raw.pgconn.socket), "the socket to become readable")
    _new_request()

    connection.close_if_health_check_failed()

    assert connection.connection is None
    assert connection.health_check_done is True
    assert Account.objects.count() >= 0  # Django connects again at the next use
    assert _backend_pid() != pid


@pytest.mark.django_db(transaction=True)
def test_a_request_after_the_server_terminated_the_connection_just_works():
    Account.objects.count()
    pid = _backend_pid()
    _terminate_backend(pid)
    _new_request()
    assert Account.objects.count() >= 0
    assert _backend_pid() != pid


@pytest.mark.django_db(transaction=True)
def test_a_connection_psycopg_knows_is_closed_is_dropped(is_usable_calls):
    Account.objects.count()
    connection.connection.close()  # e.g. after psycopg saw the socket fail
    _new_request()
    connection.close_if_health_check_failed()
    assert connection.connection is None
    assert is_usable_calls == []
    assert Account.objects.count() >= 0


@pytest.mark.django_db(transaction=True)
def test_something_to_read_that_is_harmless_falls_back_to_select_1(is_usable_calls):
    """A NOTIFY (or a NOTICE) also makes the idle socket readable: Django's query decides,
    and the connection stays."""
    Account.objects.count()
    pid = _backend_pid()
    raw = connection.connection
    raw.execute("LISTEN ov_test_health_check")
    try:
        with _admin_connection() as admin:
            admin.execute("NOTIFY ov_test_health_check")
        _wait_until(lambda: backend._readable(raw.pgconn.socket), "the notification")
        _new_request()

        connection.close_if_health_check_failed()

        assert is_usable_calls == [None]
        assert connection.connection is raw
        assert _backend_pid() == pid
    finally:
        raw.execute("UNLISTEN *")


@pytest.mark.django_db
def test_inside_a_transaction_the_check_falls_back_to_select_1(is_usable_calls):
    """Only reached inside an atomic block (here the test's): Django's query decides, so an
    open transaction is never closed under its owner."""
    raw = connection.connection
    assert raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    connection.health_check_done = False

    connection.close_if_health_check_failed()

    assert is_usable_calls == [None]
    assert connection.connection is raw
    assert connection.health_check_done is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", ["disabled", "done", "no connection"])
def test_the_check_is_skipped(monkeypatch, state):
    Account.objects.count()
    raw = connection.connection

    def no_check(*args, **kwargs):
        raise AssertionError("the health check ran")

    monkeypatch.setattr(backend, "_idle_connection_alive", no_check)
    monkeypatch.setattr(connections["default"], "is_usable", no_check)
    connection.health_check_done = state == "done"
    if state == "disabled":
        monkeypatch.setattr(connections["default"], "health_check_enabled", False)
    if state == "no connection":
        connection.close()
        connection.health_check_done = False

    connection.close_if_health_check_failed()

    assert connection.health_check_done is (state == "done")
    assert connection.connection is (None if state == "no connection" else raw)
    monkeypatch.undo()
    connection.health_check_done = True
    assert Account.objects.count() >= 0
