"""The inbox view: one verified durable write and 202, or a refusal that stores nothing."""

from __future__ import annotations

import pytest
from django.conf import settings

from federation import policy, processing, signatures, tasks_inbox
from federation.inbound import dispatch
from federation.models import InboxItem
from ourvoice.accounts.models import Account
from tests.factories import local_account
from tests.federation.remote import (
    LD_JSON,
    PRIVATE_KEY,
    PUBLIC_KEY,
    Remote,
    body_of,
    other_keypair,
    post,
    reset_caches,
    snapshot,
    stub_dns,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def remote(httpx_mock, monkeypatch):
    stub_dns(monkeypatch)
    return Remote(httpx_mock)


@pytest.fixture
def kicks(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks_inbox, "inbox_kick", lambda: calls.append(1))
    return calls


def _send(client, remote, activity, *, path="/inbox", username="alice", **sign):
    body = body_of(activity)
    headers = remote.signed_headers(body, username=username, path=path, **sign)
    return post(client, path, body, headers)


def test_signed_create_is_stored_once_and_accepted(client, remote, kicks):
    remote.serve_actor("alice")
    activity = remote.activity("alice")

    response = _send(client, remote, activity)

    assert response.status_code == 202
    item = InboxItem.objects.get()
    assert item.activity_id == activity["id"]
    assert item.activity_type == "Create"
    assert item.actor_uri == remote.actor_id("alice")
    assert item.key_id == remote.key_id("alice")
    assert item.body == activity
    assert item.state == InboxItem.State.PENDING
    assert kicks == [1]
    alice = Account.objects.get(uri=remote.actor_id("alice"))
    assert alice.domain == "remote.example"
    assert alice.public_key_pem.strip() == PUBLIC_KEY.strip()


def test_known_key_is_not_fetched_again(client, remote, kicks, httpx_mock):
    remote.serve_actor("alice")
    assert _send(client, remote, remote.activity("alice")).status_code == 202
    assert _send(client, remote, remote.activity("alice")).status_code == 202
    reset_caches()  # the Account row serves it too
    assert _send(client, remote, remote.activity("alice")).status_code == 202

    assert len(httpx_mock.get_requests()) == 1
    assert InboxItem.objects.count() == 3


def test_replayed_activity_id_is_accepted_and_stored_once(client, remote, kicks):
    remote.serve_actor("alice")
    activity = remote.activity("alice")

    assert _send(client, remote, activity).status_code == 202
    assert _send(client, remote, activity).status_code == 202

    assert InboxItem.objects.filter(activity_id=activity["id"]).count() == 1
    assert kicks == [1]


def test_personal_inbox_of_a_local_user(client, remote, kicks):
    local_account("bob")
    remote.serve_actor("alice")

    response = _send(client, remote, remote.activity("alice"), path="/users/bob/inbox")

    assert response.status_code == 202
    assert InboxItem.objects.count() == 1


def test_personal_inbox_matches_username_case_insensitively(client, remote, kicks):
    local_account("Bob")
    remote.serve_actor("alice")

    response = _send(client, remote, remote.activity("alice"), path="/users/bob/inbox")

    assert response.status_code == 202


def test_instance_actor_inbox(client, remote, kicks):
    remote.serve_actor("alice")
    assert _send(client, remote, remote.activity("alice"), path="/actor/inbox").status_code == 202


def test_unknown_local_inbox_is_404_without_fetching(client, remote, kicks, httpx_mock):
    before = snapshot()
    response = _send(client, remote, remote.activity("alice"), path="/users/nobody/inbox")

    assert response.status_code == 404
    assert httpx_mock.get_requests() == []
    assert snapshot() == before


def test_suspended_local_user_has_no_inbox(client, remote, kicks):
    from ourvoice.accounts.services import account_suspend

    bob = local_account("bob")
    account_suspend(account=bob)
    response = _send(client, remote, remote.activity("alice"), path="/users/bob/inbox")
    assert response.status_code == 404


def test_get_is_not_allowed(client):
    response = client.get("/inbox")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "Create", "actor": "https://remote.example/users/alice"}', "no id"),
        (b'{"id": "https://remote.example/1", "actor": "https://remote.example/users/a"}', "type"),
        (b'{"id": "https://remote.example/1", "type": "Create"}', "no actor"),
        (b'{"id": "urn:x", "type": "Create", "actor": "https://remote.example/users/a"}', "no id"),
        (
            b'{"id": "https://remote.example/1", "type": "Create", "actor": 5}',
            "no actor",
        ),
        (
            b'{"id": "https://remote.example/1", "type": "Note", "actor": "https://r.example/a", '
            b'"content": "\\u0000"}',
            "NUL",
        ),
    ],
)
def test_malformed_bodies_are_400(client, remote, kicks, httpx_mock, body, reason):
    headers = remote.signed_headers(body)
    before = snapshot()

    response = post(client, "/inbox", body, headers)

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert httpx_mock.get_requests() == []
    assert snapshot() == before


def test_actor_given_as_an_object_is_accepted(client, remote, kicks):
    remote.serve_actor("alice")
    activity = remote.activity("alice", actor={"id": remote.actor_id("alice"), "type": "Person"})
    assert _send(client, remote, activity).status_code == 202
    assert InboxItem.objects.get().actor_uri == remote.actor_id("alice")


def test_ld_json_actor_documents_are_accepted(client, remote, kicks):
    remote.serve_actor("alice", content_type=LD_JSON)
    assert _send(client, remote, remote.activity("alice")).status_code == 202


def test_rfc9421_signed_post_is_accepted(client, remote, kicks):
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    headers = signatures.sign_request_rfc9421(
        method="POST",
        url=f"{settings.OURVOICE_BASE_URL}/inbox",
        headers={"Content-Type": "application/activity+json"},
        body=body,
        key_id=remote.key_id("alice"),
        private_key_pem=PRIVATE_KEY,
    )
    assert post(client, "/inbox", body, headers).status_code == 202


def test_rotated_key_is_refetched_once(client, remote, kicks, httpx_mock):
    old_private, old_public = other_keypair()
    Account.objects.create(
        username="alice",
        domain="remote.example",
        uri=remote.actor_id("alice"),
        inbox_uri=f"{remote.actor_id('alice')}/inbox",
        key_id=remote.key_id("alice"),
        public_key_pem=old_public,
    )
    remote.serve_actor("alice")  # now publishes the new key (PUBLIC_KEY)

    response = _send(client, remote, remote.activity("alice"))

    assert response.status_code == 202
    assert len(httpx_mock.get_requests()) == 1
    alice = Account.objects.get(uri=remote.actor_id("alice"))
    assert alice.public_key_pem.strip() == PUBLIC_KEY.strip()
    assert old_private  # the old key is simply replaced


def test_failed_key_refresh_is_rate_limited_per_key(client, remote, kicks, httpx_mock):
    other_private, _ = other_keypair()
    remote.serve_actor("alice")  # publishes PUBLIC_KEY; the requests are signed with another key

    first = _send(client, remote, remote.activity("alice"), private_pem=other_private)
    second = _send(client, remote, remote.activity("alice"), private_pem=other_private)

    assert (first.status_code, second.status_code) == (401, 401)
    assert len(httpx_mock.get_requests()) == 1
    assert InboxItem.objects.count() == 0


def test_flooding_domain_gets_429_with_retry_after(client, remote, kicks, settings, monkeypatch):
    settings.OURVOICE_RATE_LIMITS = True
    monkeypatch.setattr(policy, "INBOX_RATE_LIMIT", 2)
    remote.serve_actor("alice")

    statuses = [_send(client, remote, remote.activity("alice")).status_code for _ in range(2)]
    response = _send(client, remote, remote.activity("alice"))

    assert statuses == [202, 202]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= policy.INBOX_RATE_WINDOW
    assert InboxItem.objects.count() == 2


def test_rate_limit_is_off_unless_configured(client, remote, kicks, settings, monkeypatch):
    settings.OURVOICE_RATE_LIMITS = False
    monkeypatch.setattr(policy, "INBOX_RATE_LIMIT", 1)
    remote.serve_actor("alice")
    statuses = [_send(client, remote, remote.activity("alice")).status_code for _ in range(3)]
    assert statuses == [202, 202, 202]


def test_stored_activity_is_processed_by_the_kicked_batch(client, remote, monkeypatch):
    """Without the kick stub: the (eager) batch task processes what the inbox stored."""
    monkeypatch.setattr(tasks_inbox, "_last_kick", -1.0e9)
    handled: list[tuple[str, str]] = []
    monkeypatch.setattr(
        dispatch,
        "activity_handle",
        lambda activity, *, actor: handled.append((activity["id"], actor.uri)),
    )
    remote.serve_actor("alice")
    # A Like goes through the dispatcher one by one (a Create{Note} takes the batch path).
    activity = remote.activity("alice", kind="Like", object="https://other.example/notes/1")

    assert _send(client, remote, activity).status_code == 202

    assert handled == [(activity["id"], remote.actor_id("alice"))]
    assert InboxItem.objects.get().state == InboxItem.State.DONE


def test_inbox_item_store_reports_duplicates(db):
    kwargs = {
        "activity_id": "https://remote.example/a/1",
        "activity_type": "Like",
        "actor_uri": "https://remote.example/users/alice",
        "key_id": "https://remote.example/users/alice#main-key",
        "body": b'{"id": "https://remote.example/a/1", "type": "Like"}',
    }
    assert processing.inbox_item_store(**kwargs) is True
    assert processing.inbox_item_store(**kwargs) is False
    assert InboxItem.objects.get().body == {"id": "https://remote.example/a/1", "type": "Like"}


def _store_kwargs(number: int) -> dict[str, object]:
    activity_id = f"https://remote.example/a/{number}"
    return {
        "activity_id": activity_id,
        "activity_type": "Like",
        "actor_uri": "https://remote.example/users/alice",
        "key_id": "https://remote.example/users/alice#main-key",
        "body": b'{"id": "%s", "type": "Like"}' % activity_id.encode(),
    }


def _kill_backend_of_this_connection() -> None:
    """Terminate the server process behind Django's connection (as a database restart would)."""
    import psycopg
    from django.db import connection

    pid = connection.connection.info.backend_pid
    settings_dict = connection.get_connection_params()
    with psycopg.connect(**settings_dict, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_inbox_item_store_reconnects_once_when_the_idle_connection_died():
    """No health-check query per request: a connection that died while idle is replaced and
    the INSERT sent again."""
    from django.db import connection

    assert processing.inbox_item_store(**_store_kwargs(1)) is True
    old_pid = connection.connection.info.backend_pid
    _kill_backend_of_this_connection()

    assert processing.inbox_item_store(**_store_kwargs(2)) is True

    assert connection.connection.info.backend_pid != old_pid
    assert sorted(InboxItem.objects.values_list("activity_id", flat=True)) == [
        "https://remote.example/a/1",
        "https://remote.example/a/2",
    ]


@pytest.mark.postgres
def test_inbox_item_store_does_not_retry_inside_a_transaction(db):
    """In a transaction (a test's, or a caller's) a lost connection is the caller's problem:
    the error propagates and nothing is retried on a new connection."""
    from django.db import OperationalError, connection

    _kill_backend_of_this_connection()
    with pytest.raises(OperationalError):
        processing.inbox_item_store(**_store_kwargs(1))
    connection.close()  # pytest-django's rollback needs a live connection again
    connection.ensure_connection()


@pytest.mark.postgres
def test_inbox_item_store_in_a_transaction_prepares_its_statement_once(db):
    """In a transaction (here the test's) psycopg's cursor runs it: only this statement is
    prepared, and Django's own queries keep psycopg's prepares off."""
    from django.db import connection

    for number in range(3):
        assert processing.inbox_item_store(**_store_kwargs(number)) is True
    assert processing.inbox_item_store(**_store_kwargs(0)) is False
    rows = connection.connection.execute(
        "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql"
    ).fetchall()
    assert len(rows) == 1
    assert "federation_inboxitem" in rows[0][0]
    assert connection.connection.prepare_threshold is None  # restored for everything else
    assert InboxItem.objects.count() == 3


def _prepared_statements() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE NOT from_sql ORDER BY name")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_inbox_item_store_in_autocommit_runs_its_own_prepared_statement():
    """The inbox's path (autocommit): one named statement per connection, run through libpq;
    replays store nothing; the query still shows in Django's query log."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    with CaptureQueriesContext(connection) as ctx:
        assert processing.inbox_item_store(**_store_kwargs(1)) is True
        assert processing.inbox_item_store(**_store_kwargs(2)) is True
        assert processing.inbox_item_store(**_store_kwargs(1)) is False

    assert _prepared_statements() == ["ov_inbox_item_store"]
    assert len(ctx.captured_queries) == 3
    assert all(q["sql"].lstrip().startswith("INSERT INTO") for q in ctx.captured_queries)
    item = InboxItem.objects.get(activity_id="https://remote.example/a/2")
    assert item.body == {"id": "https://remote.example/a/2", "type": "Like"}
    assert item.activity_type == "Like"
    assert item.actor_uri == "https://remote.example/users/alice"
    assert item.key_id == "https://remote.example/users/alice#main-key"
    assert item.state == InboxItem.State.PENDING
    assert item.attempts == 0
    assert abs((timezone.now() - item.received_at).total_seconds()) < 60
    assert InboxItem.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_inbox_item_store_prepares_again_when_the_statement_was_deallocated():
    from django.db import connection

    assert processing.inbox_item_store(**_store_kwargs(1)) is True
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would

    assert processing.inbox_item_store(**_store_kwargs(2)) is True
    assert InboxItem.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("activity_id", "https://remote.example/a/\x00x"),  # libpq would cut it at the NUL
        ("body", b'{"id": "https://remote.example/a/1", "content": "\\u0000"}'),  # jsonb refuses
    ],
)
def test_inbox_item_store_in_autocommit_refuses_what_the_columns_cannot_hold(field, value):
    from django.db import DataError

    kwargs = {**_store_kwargs(1), field: value}
    with pytest.raises(DataError):
        processing.inbox_item_store(**kwargs)
    assert InboxItem.objects.count() == 0
    assert processing.inbox_item_store(**_store_kwargs(2)) is True  # the connection still works


# --- Hot path: cached keys, no middleware, unavailable domains ----------------------------------


def test_a_cached_key_costs_one_query_the_insert(client, remote, kicks, monkeypatch):
    """No BEGIN/COMMIT around verification when the key is in the process cache."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from federation import fetch

    remote.serve_actor("alice")
    assert _send(client, remote, remote.activity("alice")).status_code == 202
    owner = Account.objects.get(uri=remote.actor_id("alice"))
    fetch._key_cache_put(remote.key_id("alice"), owner.public_key_pem, owner)
    policy.instance_for(owner.domain)  # the domain's policy into the shared cache

    with CaptureQueriesContext(connection) as ctx:
        assert _send(client, remote, remote.activity("alice")).status_code == 202

    sqls = [q["sql"] for q in ctx.captured_queries]
    assert len(sqls) == 1, sqls
    assert sqls[0].lstrip().startswith("INSERT INTO")
    assert InboxItem.objects.count() == 2


def test_a_refused_signature_with_a_cached_key_still_stores_nothing(client, remote, kicks):
    from federation import fetch

    remote.serve_actor("alice")
    assert _send(client, remote, remote.activity("alice")).status_code == 202
    owner = Account.objects.get(uri=remote.actor_id("alice"))
    fetch._key_cache_put(remote.key_id("alice"), owner.public_key_pem, owner)
    other_private, _ = other_keypair()

    response = _send(client, remote, remote.activity("alice"), private_pem=other_private)

    assert response.status_code == 401
    assert InboxItem.objects.count() == 1


def test_a_verified_request_marks_an_unavailable_domain_available(client, remote, kicks):
    from django.utils import timezone

    from federation.models import Instance

    Instance.objects.create(
        domain="remote.example", unavailable_since=timezone.now(), failure_days=["2026-01-01"]
    )
    policy.policy_cache_clear("remote.example")
    remote.serve_actor("alice")

    assert _send(client, remote, remote.activity("alice")).status_code == 202

    instance = Instance.objects.get(domain="remote.example")
    assert instance.unavailable_since is None
    assert instance.failure_days == []


def test_wsgi_serves_the_inbox_without_middleware_and_the_rest_with_it():
    import io
    import sys

    from ourvoice import wsgi

    def call(method: str, path: str, host: str = "testserver") -> tuple[str, dict[str, str]]:
        seen: dict[str, object] = {}

        def start_response(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, dict(headers)

        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": host,
            "wsgi.input": io.BytesIO(b"not json" if method == "POST" else b""),
            "CONTENT_LENGTH": "8" if method == "POST" else "0",
            "CONTENT_TYPE": "application/activity+json" if method == "POST" else "",
            "wsgi.url_scheme": "http",
            "SCRIPT_NAME": "",
            "wsgi.errors": sys.stderr,
        }
        b"".join(wsgi.application(environ, start_response))
        return seen["status"], seen["headers"]

    for path in ("/inbox", "/actor/inbox", "/users/alice/inbox"):
        assert wsgi.INBOX_PATH.fullmatch(path)
    assert not wsgi.INBOX_PATH.fullmatch("/inbox/")
    assert not wsgi.INBOX_PATH.fullmatch("/users/a/b/inbox")
    status, headers = call("POST", "/inbox")
    assert status.startswith("400")
    assert "X-Frame-Options" not in headers  # no middleware ran
    status, headers = call("GET", "/api/v1/custom_emojis")
    assert status.startswith("200")
    assert "X-Frame-Options" in headers  # the full stack did
    status, _ = call("POST", "/inbox", host="evil.example")
    assert status.startswith("400")  # DisallowedHost, checked by the view itself


def test_wsgi_inbox_routes_personal_inboxes_by_username_without_url_resolution(monkeypatch):
    """The inbox handler calls the view with the username its path pattern captured, as the
    URLconf would (a personal inbox of nobody is 404 before the body is even parsed)."""
    import io
    import sys

    from django.core import signals
    from django.db import close_old_connections
    from django.urls import resolve

    from federation.views import inbox as inbox_view
    from ourvoice import wsgi

    # As Django's test client does: the handler must not close the test's connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    local_account("bob")
    seen: list[str | None] = []
    real = inbox_view.inbox

    def spy(request, username=None):
        seen.append(username)
        return real(request, username=username)

    monkeypatch.setattr(wsgi, "inbox", spy)

    def post(path: str) -> str:
        status: list[str] = []
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.input": io.BytesIO(b"not json"),
            "CONTENT_LENGTH": "8",
            "CONTENT_TYPE": "application/activity+json",
            "wsgi.url_scheme": "http",
            "SCRIPT_NAME": "",
            "wsgi.errors": sys.stderr,
        }
        b"".join(wsgi.application(environ, lambda s, h, e=None: status.append(s)))
        return status[0]

    try:
        assert post("/users/bob/inbox").startswith("400")  # bob exists: on to the body
        assert post("/users/nobody/inbox").startswith("404")
        assert post("/actor/inbox").startswith("400")
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    assert seen == ["bob", "nobody", None]
    for path in ("/users/bob/inbox", "/inbox", "/actor/inbox"):  # the same view and arguments
        match = resolve(path)
        assert match.func is real
        assert match.kwargs.get("username") == wsgi.INBOX_PATH.fullmatch(path)["username"]
