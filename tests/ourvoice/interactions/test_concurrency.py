"""Counters stay exact when many accounts like, unlike, boost and unboost at the same time.

These run on PostgreSQL only (real row locks and READ COMMITTED; SQLite serialises writers), in
real transactions, each thread on its own connection.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest
from django.db import connection

from ourvoice.accounts.models import Account
from ourvoice.core.errors import Conflict
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Like, Repost
from ourvoice.interactions.services import like_create, like_delete, repost_create, repost_delete
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import local_account

THREADS = 20
ROUNDS = 10

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Start every worker at the same instant (a barrier); return what they raised."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=60)
            work()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    return errors


@pytest.fixture
def post() -> Post:
    author = local_account("author")
    return post_create(author=author, text="a popular post")


@pytest.fixture
def accounts() -> list[Account]:
    return [local_account(f"fan{n}") for n in range(THREADS)]


def test_concurrent_like_unlike_and_boost_unboost_keep_counters_exact(post, accounts):
    finally_liked: dict[int, bool] = {}
    finally_boosted: dict[int, bool] = {}

    def worker(account: Account, seed: int) -> Callable[[], None]:
        rng = random.Random(seed)

        def work() -> None:
            liked = boosted = False
            for _ in range(ROUNDS):
                steps = ["like", "unlike", "boost", "unboost"]
                rng.shuffle(steps)
                for step in steps[: rng.randint(1, 4)]:
                    if step == "like":
                        like_create(account=account, post=post)
                        liked = True
                    elif step == "unlike":
                        like_delete(account=account, post=post)
                        liked = False
                    elif step == "boost":
                        repost_create(account=account, post=post)
                        boosted = True
                    else:
                        repost_delete(account=account, post=post)
                        boosted = False
            finally_liked[account.pk] = liked
            finally_boosted[account.pk] = boosted

        return work

    errors = run_together([worker(a, seed) for seed, a in enumerate(accounts)])

    assert errors == []
    post.refresh_from_db()
    likers = set(Like.objects.filter(post=post).values_list("account_id", flat=True))
    boosters = set(Repost.objects.filter(post=post).values_list("account_id", flat=True))
    assert post.likes_count == Like.objects.filter(post=post).count() == len(likers)
    assert post.reposts_count == Repost.objects.filter(post=post).count() == len(boosters)
    # Each account's last action decided its state.
    assert likers == {pk for pk, liked in finally_liked.items() if liked}
    assert boosters == {pk for pk, boosted in finally_boosted.items() if boosted}
    # Every change recorded its event: creations minus undos equals what is left.
    kinds = list(OutboxEvent.objects.values_list("kind", flat=True))
    assert kinds.count("like.created") - kinds.count("like.deleted") == len(likers)
    assert kinds.count("repost.created") - kinds.count("repost.deleted") == len(boosters)


def test_same_account_liking_at_once_adds_one_like(post, accounts):
    fan = accounts[0]
    results: list[int] = []

    def work() -> None:
        results.append(like_create(account=fan, post=post).pk)

    errors = run_together([work] * THREADS)

    assert errors == []
    post.refresh_from_db()
    assert Like.objects.filter(post=post).count() == 1
    assert post.likes_count == 1
    assert set(results) == {Like.objects.get(post=post).pk}
    assert OutboxEvent.objects.filter(kind="like.created").count() == 1
    # The eager dispatch after each commit notified the author exactly once.
    assert Notification.objects.filter(type="favourite", post=post).count() == 1


def test_same_account_boosting_at_once_adds_one_boost(post, accounts):
    fan = accounts[0]

    errors = run_together([lambda: repost_create(account=fan, post=post)] * THREADS)

    assert errors == []
    post.refresh_from_db()
    assert Repost.objects.filter(post=post).count() == 1
    assert post.reposts_count == 1
    assert OutboxEvent.objects.filter(kind="repost.created").count() == 1


def test_same_account_liking_and_unliking_at_once_stays_consistent(post, accounts):
    fan = accounts[0]

    def worker(seed: int) -> Callable[[], None]:
        rng = random.Random(seed)

        def work() -> None:
            for _ in range(ROUNDS):
                if rng.random() < 0.5:
                    like_create(account=fan, post=post)
                else:
                    like_delete(account=fan, post=post)

        return work

    errors = run_together([worker(seed) for seed in range(THREADS)])

    # Under this pathological churn a like may lose the insert race and then find the winning
    # row already undone several times in a row: it gives up with a clean Conflict (HTTP 409),
    # never with a database error, and the counter stays exact either way.
    assert all(isinstance(e, Conflict) for e in errors), errors
    post.refresh_from_db()
    rows = Like.objects.filter(post=post).count()
    assert rows in (0, 1)
    assert post.likes_count == rows
    kinds = list(OutboxEvent.objects.values_list("kind", flat=True))
    assert kinds.count("like.created") - kinds.count("like.deleted") == rows
