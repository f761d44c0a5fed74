"""Exactly one removal under racing votes, and decisions that survive a wiped Redis.

PostgreSQL only (real row locks), in real transactions, each thread on its own connection.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import OperationalError, connection

from federation.models import Delivery, OutgoingActivity, PostInbox
from moderation import services, tally
from moderation.models import Case, Decision, Vote
from ourvoice.accounts.models import Account, Follow
from ourvoice.core import outbox as outbox_module
from ourvoice.core.errors import NotFound
from ourvoice.core.models import OutboxEvent
from ourvoice.events import outbox_drain
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

RACERS = 50
ROUNDS = 20


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py, with unlimited votes per day."""
    settings.MODERATION_VOTES_PER_DAY = 0


@pytest.fixture
def no_network(monkeypatch):
    """Keep events and deliveries as rows: dispatch by hand, never send HTTP."""
    monkeypatch.setattr(outbox_module, "_send_dispatch", lambda event_id: None)
    from federation import tasks_delivery

    monkeypatch.setattr(tasks_delivery.delivery_send, "apply_async", lambda *a, **k: None)
    monkeypatch.setattr(tasks_delivery.delivery_send, "delay", lambda *a, **k: None)


def run_together(workers: list[Callable[[], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=60)
            for attempt in range(50):
                try:
                    work()
                    break
                except OperationalError as exc:
                    # A busy shared server may refuse the 51st connection; retry the vote.
                    if "too many clients" not in str(exc) or attempt == 49:
                        raise
                    connection.close()
                    time.sleep(0.05)
        except BaseException as exc:  # collected and asserted by the caller
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a voter hung"
    return errors


def test_racing_crossing_votes_give_one_decision_one_delete_one_delivery_per_inbox(no_network):
    author = local_account("author")
    followers = [RemoteAccountFactory(domain=f"peer{i}.example") for i in range(6)]
    Follow.objects.bulk_create(
        Follow(follower=f, target=author, state=Follow.State.ACCEPTED) for f in followers
    )
    early = [local_account(f"early{i}") for i in range(2)]
    racers = [local_account(f"racer{i}") for i in range(RACERS)]
    for round_ in range(ROUNDS):
        post = post_create(author=author, text=f"round {round_}")
        outbox_drain()
        inboxes = set(PostInbox.objects.filter(post=post).values_list("inbox", flat=True))
        assert len(inboxes) == 6
        for voter in early:  # two remove votes: any one more crosses T = 3 with 3 voters
            services.vote_cast(voter=voter, post=post, verdict="remove")
        assert Case.objects.get(post=post).state == Case.State.OPEN

        def vote(voter: Account, post: Post = post) -> Callable[[], None]:
            return lambda: services.vote_cast(voter=voter, post=post, verdict="remove")

        errors = run_together([vote(v) for v in racers])
        # A racer that reads the post after the removal committed cannot see it any more.
        assert all(isinstance(e, NotFound) for e in errors), errors
        case = Case.objects.get(post=post)
        assert case.state == Case.State.REMOVED
        assert Decision.objects.filter(case=case, outcome="remove").count() == 1
        assert (
            OutboxEvent.objects.filter(kind="post.removed", payload__post_id=post.id).count() == 1
        )
        outbox_drain()
        deletes = OutgoingActivity.objects.filter(post=post, type="Delete")
        assert deletes.count() == 1
        per_inbox = Counter(
            Delivery.objects.filter(activity__in=deletes).values_list("inbox", flat=True)
        )
        assert set(per_inbox) == inboxes and set(per_inbox.values()) == {1}
        # Every other racing vote is stored; those after the removal are kept, not counted.
        assert Vote.objects.filter(case=case).count() == RACERS + 2 - len(errors)
        assert Vote.objects.filter(case=case, counts=True).count() == 3
        assert Post.objects.get(pk=post.pk).state == Post.State.REMOVED


def _voting_run(posts: list[Post], voters: list[Account], *, wipe_at: int | None) -> list[str]:
    """Cast the same scripted votes; optionally wipe every tally key after vote `wipe_at`."""
    script = [
        (i, j, "keep" if i >= 3 and j < 2 else "remove")
        for j in range(len(voters))
        for i in range(len(posts))
    ]
    for n, (i, j, verdict) in enumerate(script):
        try:
            services.vote_cast(voter=voters[j], post=posts[i], verdict=verdict)
        except NotFound:  # removed already: nobody can read it to vote
            assert Post.objects.get(pk=posts[i].pk).state == Post.State.REMOVED
        if n == wipe_at:
            tally.tally_forget_all()
    return [Case.objects.get(post=p).state for p in posts]


def test_redis_wipe_mid_run_changes_no_decision_and_rebuild_matches(no_network):
    authors = [local_account(f"a{i}") for i in range(2)]
    voters = [local_account(f"w{i}") for i in range(6)]
    runs = []
    for wipe_at in (None, 7):
        posts = [post_create(author=authors[i % 2], text=f"p{i} {wipe_at}") for i in range(5)]
        # Posts 0-2 get only remove votes (removed at the third); posts 3-4 get two keep
        # votes first, so 4 remove against 2 keep stays under the 2/3 supermajority.
        runs.append((posts, _voting_run(posts, voters, wipe_at=wipe_at)))
    (_, states_plain), (posts_wiped, states_wiped) = runs
    assert states_plain == states_wiped
    assert states_plain == ["removed"] * 3 + ["open"] * 2
    open_cases = Case.objects.filter(post__in=posts_wiped, state=Case.State.OPEN)
    before = {c.pk: tally.tally_current(c) for c in open_cases}
    tally.tally_forget_all()
    for case in open_cases:
        assert tally.tally_read(case) is None
        assert tally.tally_rebuild(case) == before[case.pk] == tally.sums_from_db(case)
