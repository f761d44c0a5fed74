"""Queries per `vote_cast`: pinned so the vote path (bench/votes.py) does not grow silently.

The limits are the counts measured when the pin was set (see docs/benchmarks.md, "Votes"); a
change that lowers them should lower the pins too. Counted with Django's query capture inside
the test transaction, so the counts include the service's SAVEPOINT/RELEASE pair (BEGIN/COMMIT
in production) and not the Redis round trip of the tally (1 per plain vote: a scripted add that
answers the sums). A plain vote is: lock the case, read the vote context (previous vote, audit
head, prior interaction), write vote + audit event + case in one statement.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation import services, tally
from moderation.models import Case, Vote
from ourvoice.posts.services import post_create
from tests.factories import local_account

# The pins are PostgreSQL's (one combined write statement); SQLite runs the writes one by one.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

#: Queries of a vote that opens the post's case (first vote on the post).
FIRST_VOTE_MAX = 11
#: Queries of a vote on an open case whose Redis sums exist and cannot pass the rule.
PLAIN_VOTE_MAX = 5


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
