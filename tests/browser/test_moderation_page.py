"""The moderation page in headless Chromium: log in, see a case, vote remove, withdraw."""

from __future__ import annotations

import pytest

from moderation import services
from moderation.models import Case, Vote
from ourvoice.core.models import InstanceRule
from ourvoice.posts.services import post_create
from tests.factories import PASSWORD, local_account


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""


def log_in(page, username: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


@pytest.mark.django_db(transaction=True)
def test_vote_remove_with_a_reason_then_withdraw(page, live_server):
    alice = local_account("alice")
    bob = local_account("bob")
    rule = InstanceRule.objects.create(text="No harassment")
    post = post_create(author=bob, text="You are all idiots")
    services.vote_cast(voter=local_account("carol"), post=post, verdict="remove")
    case = Case.objects.get(post=post)
    card = f"#case-{case.id}"

    page.goto("/moderation")
    assert "/auth/login" in page.url
    log_in(page, "alice")
    page.wait_for_selector(card)
    assert "/moderation" in page.url
    assert "You are all idiots" in page.inner_text(f"{card} .post .content")
    assert "@bob" in page.inner_text(f"{card} .post")
    assert page.locator(f"#my-vote-{case.id}").count() == 0

    page.select_option(f"#reason-{case.id}", f"rule:{rule.id}")
    page.fill(f"#comment-{case.id}", "insults everyone")
    page.click(f"{card} button.vote-remove")
    page.wait_for_selector(f"#my-vote-{case.id}")
    assert "Your vote (Remove) was recorded." in page.inner_text("#messages")
    mine = page.locator(f"#my-vote-{case.id}")
    assert mine.get_attribute("data-verdict") == "remove"
    assert "No harassment" in mine.inner_text()
    vote = Vote.objects.get(voter=alice, active=True)
    assert (vote.case_id, vote.verdict, vote.reason_code, vote.comment) == (
        case.id,
        "remove",
        f"rule:{rule.id}",
        "insults everyone",
    )
    assert vote.counts and vote.source == Vote.Source.LOCAL

    page.click(f"{card} button.withdraw")
    page.wait_for_selector("#messages")
    page.wait_for_function(f"!document.querySelector('#my-vote-{case.id}')", timeout=15_000)
    assert "Your vote was withdrawn." in page.inner_text("#messages")
    assert not Vote.objects.filter(voter=alice, active=True).exists()
    withdrawn = Vote.objects.get(voter=alice)
    assert withdrawn.withdrawn_at is not None

    # The detail page of the same case, reached by its link.
    page.click(f"{card} a[href='/moderation/cases/{case.id}']")
    page.wait_for_selector("h1")
    assert page.inner_text("h1") == f"Case {case.id}"
    page.click(f"{card} button.vote-keep")
    page.wait_for_selector(f"#my-vote-{case.id}")
    assert f"/moderation/cases/{case.id}" in page.url
    assert Vote.objects.get(voter=alice, active=True).verdict == "keep"
