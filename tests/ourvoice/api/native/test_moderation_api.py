"""Native API: moderation cases, votes, outcomes and appeals through HTTP with real tokens."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation import services
from moderation.models import Case, Vote
from ourvoice.accounts.services import follow_create
from ourvoice.core.models import InstanceRule
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_token
from tests.ourvoice.api.native.conftest import client_for

pytestmark = pytest.mark.django_db

BASE = "/api/ourvoice/v1"
DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CASE_KEYS = {
    "id",
    "state",
    "opened_at",
    "under_review",
    "status",
    "my_vote",
    "is_author",
    "appeal_until",
    "outcome",
}
VOTE_KEYS = {"id", "case_id", "verdict", "reason", "comment", "counted", "created_at"}


def vote(client: ApiClient, post: Post, **data):
    return client.post(f"{BASE}/statuses/{post.id}/moderation_vote", data)


def open_case(post: Post, voter) -> Case:
    services.vote_cast(voter=voter, post=post, verdict="remove", reason_code="spam")
    return Case.objects.get(post=post)


def voters(n: int, prefix: str = "v"):
    return [local_account(f"{prefix}{i}") for i in range(n)]


# --- listing -------------------------------------------------------------------------------


def test_list_shows_votable_cases_with_status_and_no_tally(alice, alice_client, bob, bob_post):
    assert alice_client.get(f"{BASE}/moderation/cases").json() == []
    carol = local_account("carol")
    case = open_case(bob_post, carol)
    own = open_case(post_create(author=alice, text="mine"), carol)
    r = alice_client.get(f"{BASE}/moderation/cases")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    [item] = r.json()
    assert set(item) == CASE_KEYS
    assert item["id"] == str(case.id) and item["state"] == "open"
    assert DT.match(item["opened_at"])
    assert item["status"]["id"] == str(bob_post.id)
    assert item["status"]["content"] == bob_post.content
    assert item["status"]["account"]["id"] == str(bob.id)
    assert item["status"]["favourited"] is False  # rendered for the viewer
    assert item["under_review"] is False and item["my_vote"] is None
    assert item["outcome"] is None and item["is_author"] is False
    body = r.content.decode()
    for secret in ("weight", "carol", str(carol.id), "voter"):
        assert secret not in json.dumps({k: v for k, v in item.items() if k != "status"})
    assert "remove_weight" not in body
    # Alice's own post is never offered to her; it is to Bob.
    ids = [c["id"] for c in ApiClient(make_token(bob.user)).get(f"{BASE}/moderation/cases").json()]
    assert ids == [str(own.id)]


def test_list_hides_posts_the_viewer_cannot_read_and_decided_cases(alice_client, bob):
    carol = local_account("carol")
    follow_create(follower=carol, target=bob)
    private = post_create(author=bob, text="followers only", visibility="private")
    open_case(private, carol)
    assert alice_client.get(f"{BASE}/moderation/cases").json() == []
    public = post_create(author=bob, text="will be removed")
    for v in voters(4):  # bob has a follower: the threshold is a little over 3
        services.vote_cast(voter=v, post=public, verdict="remove")
    assert Case.objects.get(post=public).state == Case.State.REMOVED
    assert alice_client.get(f"{BASE}/moderation/cases").json() == []


def test_under_review_once_enough_distinct_voters(alice_client, bob_post, settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 100.0  # stays open
    [a, b, c] = voters(3)
    services.vote_cast(voter=a, post=bob_post, verdict="remove")
    services.vote_cast(voter=b, post=bob_post, verdict="remove")
    services.vote_cast(voter=c, post=bob_post, verdict="keep")
    [item] = alice_client.get(f"{BASE}/moderation/cases").json()
    assert item["under_review"] is False
    services.vote_cast(voter=c, post=bob_post, verdict="remove")
    [item] = alice_client.get(f"{BASE}/moderation/cases").json()
    assert item["under_review"] is True and item["state"] == "open"
    services.vote_withdraw(voter=a, case=Case.objects.get(post=bob_post))
    [item] = alice_client.get(f"{BASE}/moderation/cases").json()
    assert item["under_review"] is False


def test_pagination_with_link_header(alice_client, bob):
    carol = local_account("carol")
    cases = [open_case(post_create(author=bob, text=f"p{i}"), carol) for i in range(5)]
    newest_first = [str(c.id) for c in sorted(cases, key=lambda c: c.id, reverse=True)]
    r = alice_client.get(f"{BASE}/moderation/cases", {"limit": 2})
    assert [c["id"] for c in r.json()] == newest_first[:2]
    link = r["Link"]
    assert f"max_id={newest_first[1]}" in link and 'rel="next"' in link
    assert f"min_id={newest_first[0]}" in link and 'rel="prev"' in link
    assert link.startswith("<https://testserver/api/ourvoice/v1/moderation/cases?")
    r = alice_client.get(f"{BASE}/moderation/cases", {"limit": 2, "max_id": newest_first[1]})
    assert [c["id"] for c in r.json()] == newest_first[2:4]
    r = alice_client.get(f"{BASE}/moderation/cases", {"min_id": newest_first[0]})
    assert r.json() == [] and "Link" not in r


def test_list_query_count_is_constant(alice, alice_client, bob):
    carol = local_account("carol")
    alice_vote_on = []

    def add(n: int) -> None:
        for i in range(n):
            post = post_create(author=bob, text=f"post {i} #tag @carol")
            open_case(post, carol)
            alice_vote_on.append(post)
            services.vote_cast(voter=alice, post=post, verdict="keep")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            r = alice_client.get(f"{BASE}/moderation/cases", {"limit": 40})
        assert r.status_code == 200
        return len(ctx.captured_queries), len(r.json())

    add(2)
    small, n_small = count()
    add(6)
    large, n_large = count()
    assert (n_small, n_large) == (2, 8)
    assert large == small


# --- detail and outcome --------------------------------------------------------------------


def test_detail_for_voter_and_public_outcome_after_removal(alice_client, bob, bob_post):
    [a, b] = voters(2)
    case = open_case(bob_post, a)
    r = alice_client.get(f"{BASE}/moderation/cases/{case.id}")
    assert r.status_code == 200
    data = r.json()
    assert set(data) == CASE_KEYS and data["outcome"] is None and data["appeal_until"] is None
    assert data["status"]["id"] == str(bob_post.id)
    services.vote_cast(voter=b, post=bob_post, verdict="remove")
    r = alice_client.post(
        f"{BASE}/moderation/cases/{case.id}/vote", {"verdict": "remove", "reason": "spam"}
    )
    assert r.status_code == 200
    case.refresh_from_db()
    assert case.state == Case.State.REMOVED
    data = alice_client.get(f"{BASE}/moderation/cases/{case.id}").json()
    assert data["state"] == "removed" and data["status"] is None  # the post is gone
    assert data["under_review"] is False
    assert data["my_vote"]["verdict"] == "remove" and data["my_vote"]["counted"] is True
    outcome = data["outcome"]
    assert outcome["outcome"] == "remove" and outcome["decided_by"] == "rule"
    assert outcome["rule_version"] == "ov-rule/1" and DT.match(outcome["decided_at"])
    assert outcome["threshold"] == pytest.approx(3.0)
    assert outcome["remove_weight"] == pytest.approx(3.0)
    assert outcome["weight_by_tier"]["local"] == pytest.approx(3.0)
    assert sum(outcome["weight_by_tier"].values()) == pytest.approx(3.0)
    assert outcome["remove_voters"] == 3 and outcome["remote_domains"] == 0
    assert outcome["transparency_url"] == f"https://testserver/transparency/cases/{case.id}"
    assert "voter" not in json.dumps(outcome).replace("remove_voters", "")
    # The author sees the case, with the appeal deadline.
    author = ApiClient(make_token(bob.user)).get(f"{BASE}/moderation/cases/{case.id}").json()
    assert author["is_author"] is True and DT.match(author["appeal_until"])


def test_detail_of_an_unreadable_open_case_is_not_found(alice_client, bob):
    carol = local_account("carol")
    follow_create(follower=carol, target=bob)
    case = open_case(post_create(author=bob, text="private", visibility="private"), carol)
    for path in (f"{case.id}", "999999", "abc"):
        r = alice_client.get(f"{BASE}/moderation/cases/{path}")
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    bob_client = ApiClient(make_token(bob.user))
    assert bob_client.get(f"{BASE}/moderation/cases/{case.id}").status_code == 200


# --- votes ---------------------------------------------------------------------------------


def test_cast_change_and_withdraw_through_the_status(alice, alice_client, bob_post):
    rule = InstanceRule.objects.create(text="No harassment")
    r = vote(alice_client, bob_post, verdict="remove", reason=f"rule:{rule.id}", comment="mean")
    assert r.status_code == 200
    data = r.json()
    assert set(data) == VOTE_KEYS
    row = Vote.objects.get(pk=int(data["id"]))
    assert (row.voter_id, row.verdict, row.reason_code, row.comment) == (
        alice.id,
        "remove",
        f"rule:{rule.id}",
        "mean",
    )
    assert row.active and data["counted"] is True and DT.match(data["created_at"])
    assert data["case_id"] == str(row.case_id)
    r = alice_client.post(
        f"{BASE}/statuses/{bob_post.id}/moderation_vote",
        json.dumps({"verdict": "keep"}),
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["verdict"] == "keep" and r.json()["reason"] == "other"
    assert Vote.objects.filter(voter=alice, active=True).count() == 1
    r = alice_client.delete(f"{BASE}/statuses/{bob_post.id}/moderation_vote")
    assert r.status_code == 200
    assert r.json()["my_vote"] is None and r.json()["id"] == data["case_id"]
    assert not Vote.objects.filter(voter=alice, active=True).exists()
    # Withdrawing again is harmless.
    assert alice_client.delete(f"{BASE}/statuses/{bob_post.id}/moderation_vote").status_code == 200


def test_cast_and_withdraw_through_the_case(alice, alice_client, bob_post):
    case = open_case(bob_post, local_account("carol"))
    r = alice_client.post(
        f"{BASE}/moderation/cases/{case.id}/vote/", {"verdict": "remove", "reason": "legal"}
    )
    assert r.status_code == 200 and r.json()["case_id"] == str(case.id)
    assert Vote.objects.get(voter=alice, active=True).reason_code == "legal"
    r = alice_client.get(f"{BASE}/moderation/cases/{case.id}")
    assert r.json()["my_vote"]["id"] == str(Vote.objects.get(voter=alice, active=True).id)
    r = alice_client.delete(f"{BASE}/moderation/cases/{case.id}/vote")
    assert r.status_code == 200 and r.json()["my_vote"] is None
    assert not Vote.objects.filter(voter=alice, active=True).exists()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"verdict": "maybe"}, 422, "Validation failed: Verdict must be remove or keep"),
        ({}, 422, "Validation failed: Verdict must be remove or keep"),
        ({"verdict": "remove", "reason": "rule:1"}, 422, "Validation failed: Reason must be"),
        ({"verdict": "remove", "comment": "x" * 501}, 422, "Validation failed: Comment is too"),
    ],
)
def test_invalid_votes_write_nothing(alice_client, bob_post, data, status, message):
    r = vote(alice_client, bob_post, **data)
    assert r.status_code == status and r.json()["error"].startswith(message)
    assert not Vote.objects.exists() and not Case.objects.exists()


def test_refusals(alice, alice_client, bob, bob_post, settings):
    own = post_create(author=alice, text="mine")
    r = vote(alice_client, own, verdict="remove")
    assert r.status_code == 403 and r.json() == {"error": "You cannot vote on your own post."}
    private = post_create(author=bob, text="private", visibility="private")
    r = vote(alice_client, private, verdict="remove")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert not Vote.objects.exists()
    settings.MODERATION_VOTES_PER_DAY = 1
    assert vote(alice_client, bob_post, verdict="keep").status_code == 200
    r = vote(alice_client, post_create(author=bob, text="another"), verdict="keep")
    assert r.status_code == 429
    assert r.json() == {"error": "You can cast at most 1 moderation votes per day."}
    r = alice_client.delete(f"{BASE}/statuses/{own.id}/moderation_vote")
    assert r.status_code == 404  # no case on it


def test_decided_cases_keep_late_votes_uncounted_and_refuse_withdrawal(alice_client, bob):
    post = post_create(author=bob, text="borderline")
    [a] = voters(1)
    services.vote_cast(voter=a, post=post, verdict="keep")
    case = Case.objects.get(post=post)
    settings_case = Case.objects.filter(pk=case.pk)
    settings_case.update(state=Case.State.HELD)  # held: votes still count
    r = alice_client.post(f"{BASE}/moderation/cases/{case.id}/vote", {"verdict": "remove"})
    assert r.status_code == 200 and r.json()["counted"] is True
    settings_case.update(state=Case.State.UPHELD)  # decided, the post still readable
    r = alice_client.delete(f"{BASE}/moderation/cases/{case.id}/vote")
    assert r.status_code == 422
    assert r.json() == {"error": "The case is decided: its votes can no longer be withdrawn."}
    r = alice_client.post(f"{BASE}/moderation/cases/{case.id}/vote", {"verdict": "keep"})
    assert r.status_code == 200 and r.json()["counted"] is False
    assert Vote.objects.get(pk=int(r.json()["id"])).not_counted == "late"
    settings_case.update(state=Case.State.CLOSED)
    r = alice_client.post(f"{BASE}/moderation/cases/{case.id}/vote", {"verdict": "keep"})
    assert r.status_code == 422 and "closed" in r.json()["error"]


# --- appeal --------------------------------------------------------------------------------


def test_author_appeals_a_removal_once(alice_client, bob, bob_post):
    for v in voters(3):
        services.vote_cast(voter=v, post=bob_post, verdict="remove")
    case = Case.objects.get(post=bob_post)
    r = alice_client.post(f"{BASE}/moderation/cases/{case.id}/appeal", {"text": "not mine"})
    assert r.status_code == 403
    assert r.json() == {"error": "Only the author of the post can appeal."}
    bob_client = ApiClient(make_token(bob.user))
    r = bob_client.post(f"{BASE}/moderation/cases/{case.id}/appeal", {"text": "It was satire"})
    assert r.status_code == 200 and r.json()["state"] == "appealed"
    case.refresh_from_db()
    assert case.state == Case.State.APPEALED and case.appeal_text == "It was satire"
    r = bob_client.post(f"{BASE}/moderation/cases/{case.id}/appeal", {"text": "again"})
    assert r.status_code == 422
    assert r.json() == {"error": "Only a removed post can be appealed, once."}


# --- auth, scopes, reasons -----------------------------------------------------------------


def test_auth_and_scopes(alice, bob, bob_post):
    case = open_case(bob_post, local_account("carol"))
    anon = ApiClient()
    assert anon.get(f"{BASE}/moderation/cases").status_code == 401
    assert anon.get(f"{BASE}/moderation/cases").json() == {"error": "The access token is invalid"}
    assert vote(anon, bob_post, verdict="remove").status_code == 401
    assert ApiClient("nope").get(f"{BASE}/moderation/cases").status_code == 401
    reader = client_for(alice, "read:statuses")
    assert reader.get(f"{BASE}/moderation/cases").status_code == 200
    assert reader.get(f"{BASE}/moderation/cases/{case.id}").status_code == 200
    r = vote(reader, bob_post, verdict="remove")
    assert r.status_code == 403
    assert r.json() == {"error": "This action is outside the authorized scopes"}
    voter = client_for(alice, "write:reports")
    assert voter.get(f"{BASE}/moderation/cases").status_code == 403
    assert vote(voter, bob_post, verdict="remove").status_code == 200
    assert voter.delete(f"{BASE}/moderation/cases/{case.id}/vote").status_code == 200
    assert (
        client_for(alice, "write:statuses")
        .post(f"{BASE}/moderation/cases/{case.id}/vote", {"verdict": "keep"})
        .status_code
        == 403
    )
    assert vote(client_for(alice, "write"), bob_post, verdict="keep").status_code == 200
    app_only = ApiClient(make_token(None))
    r = app_only.get(f"{BASE}/moderation/cases")
    assert r.status_code == 422
    assert r.json() == {"error": "This method requires an authenticated user"}


def test_reason_codes_include_instance_rules(alice_client):
    first = InstanceRule.objects.create(text="Be kind", hint="No insults", position=1)
    second = InstanceRule.objects.create(text="No spam links", position=0)
    expected = [
        "spam",
        "legal",
        "other",
        f"rule:{second.id}",
        f"rule:{first.id}",
    ]
    for client in (alice_client, ApiClient()):
        r = client.get(f"{BASE}/moderation/rules")
        assert r.status_code == 200
        assert [x["code"] for x in r.json()] == expected
    assert r.json()[4] == {"code": f"rule:{first.id}", "text": "Be kind", "hint": "No insults"}


def test_unknown_native_route_is_json_404(alice_client):
    r = alice_client.get(f"{BASE}/nothing/here")
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}
