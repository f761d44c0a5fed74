"""The server-rendered moderation page with the Django test client (session login, CSRF)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from moderation import services
from moderation.models import Case, Vote
from ourvoice.core.models import InstanceRule
from ourvoice.posts.services import post_create
from tests.factories import local_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(bob):
    post = post_create(author=bob, text="<b>bold</b> claim")
    services.vote_cast(voter=local_account("carol"), post=post, verdict="remove")
    return Case.objects.get(post=post)


@pytest.fixture
def browser(alice) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    return client


def csrf(client: Client, path: str) -> str:
    page = client.get(path).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_login_required(case):
    r = Client().get("/moderation")
    assert r.status_code == 302 and r["Location"].startswith("/auth/login?next=/moderation")
    r = Client().post(f"/moderation/cases/{case.id}/vote", {"verdict": "remove"})
    assert r.status_code == 302 and not Vote.objects.exclude(voter__username="carol").exists()


def test_list_shows_the_sanitised_post_and_the_vote_form(browser, case):
    InstanceRule.objects.create(text="No harassment")
    page = browser.get("/moderation").content.decode()
    assert f'id="case-{case.id}"' in page
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in page  # local text is escaped when stored
    assert 'value="remove"' in page and 'value="keep"' in page
    assert ">No harassment</option>" in page and 'value="spam"' in page
    assert 'class="badge review"' not in page  # one remove voter: not under review yet


def test_vote_and_withdraw(alice, browser, case):
    token = csrf(browser, "/moderation")
    r = browser.post(
        f"/moderation/cases/{case.id}/vote",
        {
            "verdict": "remove",
            "reason": "legal",
            "comment": "illegal",
            "csrfmiddlewaretoken": token,
        },
    )
    assert r.status_code == 302 and r["Location"] == f"/moderation#case-{case.id}"
    vote = Vote.objects.get(voter=alice, active=True)
    assert (vote.case_id, vote.verdict, vote.reason_code, vote.comment) == (
        case.id,
        "remove",
        "legal",
        "illegal",
    )
    page = browser.get("/moderation").content.decode()
    assert "Your vote (Remove) was recorded." in page
    assert f'id="my-vote-{case.id}"' in page and 'data-verdict="remove"' in page
    r = browser.post(
        f"/moderation/cases/{case.id}/withdraw",
        {"csrfmiddlewaretoken": token, "back": "detail"},
    )
    assert r.status_code == 302 and r["Location"] == f"/moderation/cases/{case.id}"
    assert not Vote.objects.filter(voter=alice, active=True).exists()
    page = browser.get(f"/moderation/cases/{case.id}").content.decode()
    assert "Your vote was withdrawn." in page and f'id="my-vote-{case.id}"' not in page


def test_post_without_csrf_token_is_refused(alice, browser, case):
    r = browser.post(f"/moderation/cases/{case.id}/vote", {"verdict": "remove"})
    assert r.status_code == 403
    assert not Vote.objects.filter(voter=alice).exists()


def test_errors_are_shown(alice, browser, case):
    token = csrf(browser, "/moderation")
    r = browser.post(
        f"/moderation/cases/{case.id}/vote",
        {"verdict": "maybe", "csrfmiddlewaretoken": token},
        follow=True,
    )
    assert "Verdict must be remove or keep" in r.content.decode()
    assert not Vote.objects.filter(voter=alice).exists()


def test_detail_page_and_unknown_case(browser, bob, case):
    page = browser.get(f"/moderation/cases/{case.id}").content.decode()
    assert f"Case {case.id}" in page and "vote-form" in page
    assert browser.get("/moderation/cases/12345").status_code == 404
    author = Client()
    author.force_login(bob.user)
    page = author.get(f"/moderation/cases/{case.id}").content.decode()
    assert "vote-form" not in page  # no voting on one's own post
    assert f'id="case-{case.id}"' not in author.get("/moderation").content.decode()


def test_decided_case_shows_the_public_outcome(browser, bob):
    post = post_create(author=bob, text="to be removed")
    for i in range(3):
        services.vote_cast(voter=local_account(f"v{i}"), post=post, verdict="remove")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.REMOVED
    page = browser.get(f"/moderation/cases/{case.id}").content.decode()
    assert 'id="outcome"' in page and "ov-rule/1" in page
    assert "Remove voters</dt><dd>3</dd>" in page
    assert f"/transparency/cases/{case.id}" in page
    assert "vote-form" not in page and "v0" not in page
