"""POST /api/v1/reports as decisions.md defines it: status reports cast "remove" votes.

Always 200 with the Report entity; an ineligible vote is kept as a report only.
"""

from __future__ import annotations

import pytest

from moderation.models import Case, Report, Vote
from ourvoice.core.models import InstanceRule
from ourvoice.posts.services import post_create, post_create_remote
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.native.conftest import client_for

pytestmark = pytest.mark.django_db


def report(client, target, posts, **extra):
    data = {"account_id": str(target.id), "status_ids[]": [str(p.id) for p in posts], **extra}
    return client.post("/api/v1/reports", data)


def test_status_report_casts_one_remove_vote_per_status(alice, alice_client, bob):
    posts = [post_create(author=bob, text=f"spam {i}") for i in range(2)]
    r = report(alice_client, bob, posts, category="spam", comment="buy now")
    assert r.status_code == 200
    data = r.json()
    assert data["category"] == "spam" and data["status_ids"] == sorted(
        (str(p.id) for p in posts), key=int
    )
    assert Report.objects.filter(pk=int(data["id"]), reporter=alice).exists()
    votes = Vote.objects.filter(voter=alice, active=True).order_by("case__post_id")
    assert [(v.case.post_id, v.verdict, v.reason_code, v.counts) for v in votes] == [
        (p.id, "remove", "spam", True) for p in sorted(posts, key=lambda p: p.id)
    ]
    assert all(v.case.scope == Case.Scope.LOCAL and v.source == "local" for v in votes)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, "other"),
        ({"category": "other"}, "other"),
        ({"category": "legal"}, "legal"),
        ({"category": "spam"}, "spam"),
        ({"category": "violation"}, "other"),
    ],
)
def test_category_maps_to_reason(alice, alice_client, bob, extra, reason):
    post = post_create(author=bob, text="reported")
    r = report(alice_client, bob, [post], **extra)
    assert r.status_code == 200
    assert Vote.objects.get(voter=alice, case__post=post, active=True).reason_code == reason


def test_rule_ids_map_to_the_first_rule(alice, alice_client, bob):
    rules = [InstanceRule.objects.create(text=f"rule {i}") for i in range(2)]
    post = post_create(author=bob, text="rude")
    r = report(alice_client, bob, [post], **{"rule_ids[]": [str(r.id) for r in reversed(rules)]})
    assert r.status_code == 200 and r.json()["category"] == "violation"
    vote = Vote.objects.get(voter=alice, case__post=post, active=True)
    assert vote.reason_code == f"rule:{min(r.id for r in rules)}"


def test_reports_from_several_voters_decide_the_case(bob):
    post = post_create(author=bob, text="removed by reports")
    for i in range(3):
        reporter = local_account(f"reporter{i}")
        assert report(client_for(reporter), bob, [post], category="spam").status_code == 200
    post.refresh_from_db()
    assert Case.objects.get(post=post).state == Case.State.REMOVED
    assert post.state == post.State.REMOVED
    assert Report.objects.count() == 3


def test_ineligible_vote_is_kept_as_report_only(alice, alice_client, bob, settings):
    settings.MODERATION_VOTES_PER_DAY = 1
    first, second = (post_create(author=bob, text=f"p{i}") for i in range(2))
    assert report(alice_client, bob, [first]).status_code == 200
    r = report(alice_client, bob, [second], category="spam")  # quota used up
    assert r.status_code == 200 and r.json()["status_ids"] == [str(second.id)]
    assert Report.objects.filter(reporter=alice).count() == 2
    assert Vote.objects.filter(voter=alice).count() == 1
    assert not Case.objects.filter(post=second).exists()


def test_account_report_casts_no_vote(alice, alice_client, bob):
    r = alice_client.post("/api/v1/reports", {"account_id": str(bob.id), "comment": "rude"})
    assert r.status_code == 200 and r.json()["status_ids"] == []
    assert not Vote.objects.exists() and not Case.objects.exists()


def test_report_on_a_remote_post_votes_on_a_remote_case(alice, alice_client):
    author = RemoteAccountFactory()
    post = post_create_remote(
        author=author,
        uri=f"{author.uri}/statuses/1",
        content="<p>remote spam</p>",
        visibility="public",
    )
    r = report(alice_client, author, [post], category="spam")
    assert r.status_code == 200
    vote = Vote.objects.get(voter=alice, active=True)
    assert vote.case.post_id == post.id and vote.case.scope == Case.Scope.REMOTE
    assert vote.counts and vote.reason_code == "spam"


def test_report_scope_is_write_reports(alice, bob):
    post = post_create(author=bob, text="x")
    assert report(client_for(alice, "read write:statuses"), bob, [post]).status_code == 403
    assert report(client_for(alice, "write:reports"), bob, [post]).status_code == 200
    assert Vote.objects.filter(voter=alice).count() == 1
