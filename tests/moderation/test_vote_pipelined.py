"""The plain vote outside a transaction (`services._vote_cast_pipelined`): BEGIN travels with
the statement that locks the case and reads the vote context, COMMIT with the write, and the
Redis sums are added under the lock in between. Every way off the plain path (a vote change,
missing sums, a vote that could pass the rule, a stale read, an error) ends with nothing of
the try kept, the connection back in autocommit, and the `atomic` path storing the vote.

These tests run outside the test transaction (`transaction=True`), as requests do: inside one,
the pipelined path steps aside by design.
"""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from moderation import services, tally
from moderation.audit import audit_append, audit_chain_verify
from moderation.models import AuditEvent, Case, Decision, Vote
from ourvoice.core import rawsql
from ourvoice.core.errors import LimitReached
from ourvoice.posts.services import post_create
from tests.factories import local_account

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 100.0  # no vote here passes, unless a test says so
    settings.MODERATION_MIN_DISTINCT_VOTERS = 3


@pytest.fixture
def calls(monkeypatch):
    """How often each half of the pipelined transaction ran."""
    seen = {"begin": 0, "commit": 0}
    begin = rawsql.PipelinedTransaction.begin_fetchone
    commit = rawsql.PipelinedTransaction.execute_commit

    def counted_begin(self, sql, params):
        seen["begin"] += 1
        return begin(self, sql, params)

    def counted_commit(self, sql, params):
        seen["commit"] += 1
        return commit(self, sql, params)

    monkeypatch.setattr(rawsql.PipelinedTransaction, "begin_fetchone", counted_begin)
    monkeypatch.setattr(rawsql.PipelinedTransaction, "execute_commit", counted_commit)
    return seen


def _open_case(voters: int = 2):
    author = local_account("pauthor")
    post = post_create(author=author, text="a contested post")
    for i in range(voters):
        services.vote_cast(voter=local_account(f"pvoter{i}"), post=post, verdict="remove")
    return post, Case.objects.get(post=post)


def _idle_autocommit() -> bool:
    return (
        connection.get_autocommit()
        and not connection.in_atomic_block
        and connection.connection.pgconn.transaction_status == TransactionStatus.IDLE
    )


def _consistent(case: Case) -> None:
    assert audit_chain_verify(case_ids=[case.id]) == []
    cached = tally.tally_read(case)
    assert cached is None or cached == tally.sums_from_db(case)
    assert _idle_autocommit()


def test_a_plain_vote_is_two_statements_with_begin_and_commit_riding_along(calls):
    post, case = _open_case()
    calls.update(begin=0, commit=0)
    voter = local_account("plain")
    with CaptureQueriesContext(connection) as ctx:
        vote = services.vote_cast(voter=voter, post=post, verdict="keep", reason_code="spam")

    assert calls == {"begin": 1, "commit": 1}
    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) == 2, statements  # lock + context, write (BEGIN/COMMIT unlogged)
    stored = Vote.objects.get(pk=vote.pk)
    assert (stored.verdict, stored.reason_code, stored.active, stored.counts) == (
        "keep",
        "spam",
        True,
        True,
    )
    assert AuditEvent.objects.filter(case=case, kind="vote.cast").count() == 3
    assert tally.tally_read(case) == tally.sums_from_db(case)
    _consistent(case)


def test_inside_a_transaction_the_atomic_path_is_taken(calls):
    post, case = _open_case()
    calls.update(begin=0, commit=0)
    with transaction.atomic():
        services.vote_cast(voter=local_account("inner"), post=post, verdict="remove")
    assert calls == {"begin": 0, "commit": 0}
    assert Vote.objects.filter(case=case, active=True).count() == 3
    _consistent(case)


def test_a_changed_vote_goes_the_atomic_way(calls):
    post, case = _open_case()
    voter = local_account("changer")
    services.vote_cast(voter=voter, post=post, verdict="remove")
    calls.update(begin=0, commit=0)
    services.vote_cast(voter=voter, post=post, verdict="keep")

    assert calls == {"begin": 1, "commit": 0}, "it read the previous vote, then stepped aside"
    mine = Vote.objects.filter(case=case, voter=voter)
    assert [v.verdict for v in mine.filter(active=True)] == ["keep"]
    assert mine.count() == 2
    assert tally.tally_current(case) == tally.sums_from_db(case)
    _consistent(case)


def test_missing_sums_are_rebuilt_on_the_atomic_path(calls):
    post, case = _open_case()
    tally.tally_forget_all()
    calls.update(begin=0, commit=0)
    services.vote_cast(voter=local_account("rebuild"), post=post, verdict="remove")

    assert calls == {"begin": 1, "commit": 0}
    assert tally.tally_read(case) == tally.sums_from_db(case)
    assert tally.sums_from_db(case).rc == 3
    _consistent(case)


def test_a_vote_that_could_pass_is_decided_on_the_atomic_path(calls, settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 3.0
    post, case = _open_case()
    calls.update(begin=0, commit=0)
    services.vote_cast(voter=local_account("crossing"), post=post, verdict="remove")

    assert calls == {"begin": 1, "commit": 0}
    case.refresh_from_db()
    assert case.state == Case.State.REMOVED
    assert Decision.objects.filter(case=case, outcome=Decision.Outcome.REMOVE).count() == 1
    assert Vote.objects.filter(case=case, active=True).count() == 3
    assert audit_chain_verify(case_ids=[case.id]) == []
    assert _idle_autocommit()


def test_a_stale_read_keeps_nothing_drops_the_sums_and_is_stored_with_the_lock(calls, monkeypatch):
    """Another writer appends to the case's audit chain after the pipelined read (simulated
    from a second connection while the read's transaction is open): the write repeats that
    event's sequence number, `audit_case_seq` refuses it, the sums the try added are dropped,
    and the locking path stores the vote on an intact chain with exact sums."""
    post, case = _open_case()
    real_add = tally.tally_add_before_write

    def add_then_interleave(case_, delta):
        after = real_add(case_, delta)

        def other_writer():
            try:
                with transaction.atomic():
                    audit_append(case=case_, kind="test.interleaved", actor="test")
            finally:
                close_old_connections()

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(10)
        return after

    monkeypatch.setattr(tally, "tally_add_before_write", add_then_interleave)
    calls.update(begin=0, commit=0)
    voter = local_account("stale")
    vote = services.vote_cast(voter=voter, post=post, verdict="remove")

    assert calls == {"begin": 1, "commit": 1}
    assert list(Vote.objects.filter(voter=voter).values_list("pk", flat=True)) == [vote.pk]
    kinds = list(
        AuditEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True)
    )
    assert kinds[-2:] == ["test.interleaved", "vote.cast"]
    assert kinds.count("vote.cast") == 3
    assert tally.tally_current(case) == tally.sums_from_db(case)
    assert tally.sums_from_db(case).rc == 3
    _consistent(case)


def test_an_error_inside_rolls_back_and_leaves_the_connection_usable(calls, settings):
    post, case = _open_case()
    voter = local_account("quota")
    settings.MODERATION_VOTES_PER_DAY = 1
    other_post = post_create(author=local_account("otherauthor"), text="another post")
    services.vote_cast(voter=voter, post=other_post, verdict="remove")
    calls.update(begin=0, commit=0)
    with pytest.raises(LimitReached):
        services.vote_cast(voter=voter, post=post, verdict="remove")

    assert calls == {"begin": 1, "commit": 0}
    assert not Vote.objects.filter(case=case, voter=voter).exists()
    assert _idle_autocommit()
    assert Case.objects.filter(pk=case.pk, last_vote_at__isnull=False).exists()
    _consistent(case)


def test_pipelined_transaction_commits_both_halves_and_rolls_back_what_it_leaves_open():
    table = rawsql.quoted_table(Case)
    _, case = _open_case(voters=1)
    with rawsql.pipelined_transaction() as tx:
        assert tx is not None
        row = tx.begin_fetchone(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [case.pk])
        assert row == (case.pk,)
        assert connection.connection.pgconn.transaction_status == TransactionStatus.INTRANS
        tx.execute_commit(f"UPDATE {table} SET tally_version = 7 WHERE id = %s", [case.pk])
    assert _idle_autocommit()
    assert Case.objects.get(pk=case.pk).tally_version == 7

    def leave_open():
        with rawsql.pipelined_transaction() as tx:
            tx.begin_fetchone(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [case.pk])
            raise RuntimeError("left open")

    with pytest.raises(RuntimeError):
        leave_open()
    assert _idle_autocommit()

    with transaction.atomic(), rawsql.pipelined_transaction() as tx:
        assert tx is None
