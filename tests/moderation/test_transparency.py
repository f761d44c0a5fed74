"""Public moderation documents: transparency pages, the ModerationDecision notice, the case."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from moderation import links
from moderation.audit import audit_head
from moderation.models import Case
from moderation.services import case_admin_veto, case_appeal, vote_cast
from ourvoice.accounts.models import Account
from ourvoice.posts.services import post_create
from tests.factories import local_account

pytestmark = pytest.mark.django_db

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""


SECRET_TEXT = "the removed words nobody should read again"


@pytest.fixture
def removed_case() -> Case:
    author = local_account("writer")
    post = post_create(author=author, text=SECRET_TEXT)
    vote_cast(voter=local_account("keeper"), post=post, verdict="keep")
    for name in ("voter_alpha", "voter_beta", "voter_gamma"):
        vote_cast(voter=local_account(name), post=post, verdict="remove", reason_code="spam")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.REMOVED
    return case


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def test_case_page_has_numbers_and_no_identities(client: Client, removed_case: Case):
    r = client.get(_path(links.transparency_url(removed_case.id)))
    assert r.status_code == 200 and r["Vary"] == "Accept"
    body = r.content.decode()
    assert "Removed" in body and "ov-rule/1" in body
    assert 'id="voters">3<' in body and 'id="domains">0<' in body
    assert "Remove weight" in body and "3.00" in body  # three local votes of weight 1
    assert "Keep weight" in body and "1.00" in body
    assert "Threshold T" in body and "3.00" in body
    assert "local" in body  # weight by tier
    assert "spam" in body and "open" in body  # main reason, appeal window open
    assert audit_head(case=removed_case) in body
    # never voter identities, never the removed content
    for name in ("voter_alpha", "voter_beta", "voter_gamma", "keeper"):
        assert name not in body
    assert SECRET_TEXT not in body
    for account in Account.objects.filter(username__startswith="voter_"):
        assert str(account.pk) not in body


def test_undecided_and_unknown_cases_are_404(client: Client):
    post = post_create(author=local_account("w2"), text="fine")
    vote_cast(voter=local_account("x1"), post=post, verdict="remove")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.OPEN
    assert client.get(f"/transparency/cases/{case.id}").status_code == 404
    assert client.get("/transparency/cases/12345").status_code == 404
    assert client.get(f"/mod/decisions/{case.id}", HTTP_ACCEPT=AP).status_code == 404
    assert client.get("/mod/cases/12345", HTTP_ACCEPT=AP).status_code == 404
    # the case itself exists as an AP document (the target of votes)
    r = client.get(f"/mod/cases/{case.id}", HTTP_ACCEPT=AP)
    assert r.status_code == 200 and r.json()["caseState"] == "open"
    assert "decision" not in r.json()


def test_decision_document_shape(client: Client, removed_case: Case):
    r = client.get(f"/mod/decisions/{removed_case.id}", HTTP_ACCEPT=AP)
    assert r.status_code == 200
    assert r["Content-Type"] == AP and "Accept" in r["Vary"]
    doc = json.loads(r.content)
    assert doc["type"] == "ModerationDecision"
    assert doc["id"] == links.decision_uri(removed_case.id)
    assert doc["target"] == links.case_uri(removed_case.id)
    assert doc["object"] == removed_case.post.uri
    assert doc["url"] == links.transparency_url(removed_case.id)
    assert doc["attributedTo"].endswith("/users/moderation")
    assert doc["verdict"] == "remove" and doc["reasonCode"] == "spam"
    assert doc["ruleVersion"] == "ov-rule/1"
    assert doc["tally"] == {
        "removeWeight": 3.0,
        "keepWeight": 1.0,
        "threshold": 3.0,
        "voters": 3,
        "domains": 0,
    }
    assert doc["published"].endswith("Z") and doc["endTime"] > doc["published"]
    assert any(isinstance(c, dict) and c.get("ModerationDecision") for c in doc["@context"])
    assert SECRET_TEXT not in r.content.decode()
    assert "voter_alpha" not in r.content.decode()
    # the ld+json profile gets exactly that type back
    r = client.get(f"/mod/decisions/{removed_case.id}", HTTP_ACCEPT=LD)
    assert r.status_code == 200 and r["Content-Type"] == LD


def test_decision_redirects_browsers(client: Client, removed_case: Case):
    r = client.get(f"/mod/decisions/{removed_case.id}", HTTP_ACCEPT="text/html")
    assert r.status_code == 302 and r["Location"] == links.transparency_url(removed_case.id)
    assert r["Vary"] == "Accept"
    r = client.get(f"/mod/cases/{removed_case.id}", HTTP_ACCEPT="text/html")
    assert r.status_code == 302 and r["Location"] == links.transparency_url(removed_case.id)


def test_case_document(client: Client, removed_case: Case):
    r = client.get(f"/mod/cases/{removed_case.id}", HTTP_ACCEPT=AP)
    doc = r.json()
    assert doc["id"] == links.case_uri(removed_case.id) and doc["type"] == "ModerationCase"
    assert doc["object"] == removed_case.post.uri and doc["caseState"] == "removed"
    assert doc["decision"] == links.decision_uri(removed_case.id)


def test_appeal_and_veto_outcomes(client: Client, removed_case: Case):
    case_appeal(author=removed_case.author, case=removed_case, text="I disagree")
    body = client.get(f"/transparency/cases/{removed_case.id}").content.decode()
    assert "Appealed" in body and "under review" in body
    assert "I disagree" not in body  # the appeal text stays with the admins
    # a vetoed case: kept by an administrator, numbers recomputed from the votes
    post = post_create(author=local_account("w3"), text="contested")
    for name in ("k1", "k2"):
        vote_cast(voter=local_account(name), post=post, verdict="remove")
    case = Case.objects.get(post=post)
    admin = local_account("boss", is_admin=True).user
    case_admin_veto(case=case, admin=admin, note="private note about k1")
    r = client.get(f"/transparency/cases/{case.id}")
    body = r.content.decode()
    assert r.status_code == 200 and "Closed" in body and "administrators" in body
    assert 'id="voters">2<' in body and "private note" not in body and "k1" not in body
    doc = client.get(f"/mod/decisions/{case.id}", HTTP_ACCEPT=AP).json()
    assert doc["verdict"] == "keep" and doc["tally"]["voters"] == 2 and "endTime" not in doc


def test_index_lists_decisions_paginated(client: Client, removed_case: Case, monkeypatch):
    from moderation import views

    r = client.get("/transparency")
    assert r.status_code == 200
    assert f"/transparency/cases/{removed_case.id}" in r.content.decode()
    second = post_create(author=local_account("w4"), text="again")
    for i in range(3):
        vote_cast(voter=local_account(f"s{i}"), post=second, verdict="remove")
    newer = Case.objects.get(post=second)
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    page1 = client.get("/transparency").content.decode()
    page2 = client.get("/transparency", {"page": 2}).content.decode()
    assert f"/cases/{newer.id}" in page1 and f"/cases/{removed_case.id}" not in page1
    assert f"/cases/{removed_case.id}" in page2 and 'rel="prev"' in page2
    assert client.get("/transparency", {"page": "zzz"}).status_code == 200
