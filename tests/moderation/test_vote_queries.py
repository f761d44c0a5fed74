"""Queries per `vote_cast`: pinned so the vote path (bench/votes.py) does not grow silently.

The limits are the counts measured when the pin was set (see docs/benchmarks.md, "Votes"); a
change that lowers them should lower the pins too. Counted with Django's query capture inside
the test transaction, so the counts include the service's SAVEPOINT/RELEASE pair (BEGIN/COMMIT
in production) and not the Redis round trip of the tally (1 per plain vote: a scripted add that
answers the sums). A plain vote is: lock the case and read the vote context (previous vote,
audit head, prior interaction) in one statement, write vote + audit event + case in another.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from moderation import selectors, services, tally
from moderation.audit import audit_append, audit_chain_verify
from moderation.models import AuditEvent, Case, Vote
from ourvoice.posts.services import post_create
from tests.factories import local_account

# The pins are PostgreSQL's (one combined write statement); SQLite runs the writes one by one.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

#: Queries of a vote that opens the post's case (first vote on the post; its one-statement
#: read finds no case, then the locking path opens one).
FIRST_VOTE_MAX = 12
#: Queries of a vote on an open case whose Redis sums exist and cannot pass the rule.
PLAIN_VOTE_MAX = 4


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 100.0  # no vote here can pass the rule
    settings.MODERATION_MIN_DISTINCT_VOTERS = 5
    settings.MODERATION_VOTES_PER_DAY = 0


def _queries(fn) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


def test_queries_per_vote_are_pinned():
    author = local_account("qauthor")
    voters = [local_account(f"qvoter{i}") for i in range(4)]
    post = post_create(author=author, text="a contested post")
    tally.tally_forget_all()

    first = _queries(lambda: services.vote_cast(voter=voters[0], post=post, verdict="remove"))
    case = Case.objects.get(post=post)
    assert tally.tally_read(case) is not None, "the first vote leaves the sums in the cache"
    # Warm steady state: every later vote finds the case open and its sums cached.
    services.vote_cast(voter=voters[1], post=post, verdict="remove")
    plain = _queries(lambda: services.vote_cast(voter=voters[2], post=post, verdict="keep"))
    assert Vote.objects.filter(case=case, active=True).count() == 3

    detail = "\n".join(plain)
    assert len(first) <= FIRST_VOTE_MAX, f"first vote: {len(first)} queries\n" + "\n".join(first)
    assert len(plain) <= PLAIN_VOTE_MAX, f"plain vote: {len(plain)} queries\n{detail}"


def test_a_stale_optimistic_read_is_refused_and_the_vote_retried_with_the_lock(monkeypatch):
    """The one-statement read may see a snapshot older than its lock (a writer committed in
    between). Simulated here by appending an audit event after the read: the vote's write then
    repeats that event's sequence number, `audit_case_seq` refuses it, nothing of the first try
    is kept, and the vote is stored by the locking path on an intact chain."""
    author = local_account("sauthor")
    first, second = local_account("svoter1"), local_account("svoter2")
    post = post_create(author=author, text="a contested post")
    services.vote_cast(voter=first, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    real = selectors.case_live_try_lock_with_context
    calls = []

    def stale(**kwargs):
        found = real(**kwargs)
        calls.append(found is not None)
        if found is not None:  # another writer's event lands after the read
            audit_append(case=found[0], kind="test.interleaved", actor="test")
        return found

    monkeypatch.setattr(selectors, "case_live_try_lock_with_context", stale)
    events_before = AuditEvent.objects.filter(case=case).count()
    vote = services.vote_cast(voter=second, post=post, verdict="keep")

    assert calls == [True], "the optimistic read ran once, then the locking path"
    assert Vote.objects.filter(case=case, active=True).count() == 2
    assert vote.verdict == "keep" and Vote.objects.filter(voter=second).count() == 1
    kinds = list(
        AuditEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True)
    )
    assert len(kinds) == events_before + 1 and kinds[-1] == "vote.cast"
    assert "test.interleaved" not in kinds, "the failed try left nothing behind"
    assert audit_chain_verify(case_ids=[case.id]) == []
    assert tally.tally_read(case) == tally.sums_from_db(case)


@pytest.mark.django_db(transaction=True)
def test_a_locked_case_is_skipped_not_waited_for():
    """SKIP LOCKED: while another transaction holds the case, the one-statement read answers
    None at once (it never waits, so it never reads a snapshot older than its lock), and the
    vote then waits on the locking path and is stored."""

    author = local_account("lauthor")
    voter = local_account("lvoter")
    post = post_create(author=author, text="a contested post")
    services.vote_cast(voter=local_account("lvoter0"), post=post, verdict="remove")
    query = selectors.VoteContextQuery(
        voter_key=str(voter.pk), voter_id=voter.pk, author_id=author.pk, now=post.published_at
    )
    locked, release = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                Case.objects.select_for_update().get(post=post)
                locked.set()
                release.wait(10)
        finally:
            close_old_connections()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():
            started = time.monotonic()
            assert selectors.case_live_try_lock_with_context(post_id=post.pk, query=query) is None
            assert time.monotonic() - started < 2
        threading.Timer(0.3, release.set).start()
        vote = services.vote_cast(voter=voter, post=post, verdict="keep")  # waits, then stores
    finally:
        release.set()
        thread.join(10)
    assert vote.counts and Vote.objects.filter(case__post=post, active=True).count() == 2
    with transaction.atomic():
        found = selectors.case_live_try_lock_with_context(post_id=post.pk, query=query)
    assert found is not None and found[1].previous.pk == vote.pk
