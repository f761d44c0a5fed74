"""Moderation in Django admin: the report queue, cases with live tallies and voters, admin
actions through the services (each audited), void votes, domain tiers, the audit chain check."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from federation.models import Instance
from moderation import tally
from moderation.audit import audit_chain_verify, audit_head
from moderation.models import AuditEvent, Case, Decision, Report, Vote
from moderation.services import case_appeal, report_create, vote_cast
from ourvoice.accounts.models import Account
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import PASSWORD, RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    admin = local_account("chief", is_admin=True)
    client = Client()
    assert client.login(username=admin.user.username, password=PASSWORD)
    return client


@pytest.fixture
def reports():
    alice, bob, carol = (local_account(n) for n in ("alice", "bob", "carol"))
    return [
        report_create(reporter=alice, target_account=bob, comment="one", category="spam"),
        report_create(reporter=carol, target_account=bob, comment="two"),
    ]


def test_list_filters_and_detail(admin_client, reports):
    url = reverse("admin:moderation_report_changelist")
    r = admin_client.get(url)
    assert r.status_code == 200
    assert str(reports[0].id) in r.content.decode()
    r = admin_client.get(url, {"category__exact": "spam"})
    body = r.content.decode()
    assert str(reports[0].id) in body and str(reports[1].id) not in body
    r = admin_client.get(url, {"state__exact": "open", "q": "carol"})
    assert r.status_code == 200 and str(reports[1].id) in r.content.decode()
    r = admin_client.get(reverse("admin:moderation_report_change", args=[reports[0].id]))
    assert r.status_code == 200 and "one" in r.content.decode()
    assert admin_client.get(reverse("admin:moderation_report_add")).status_code == 403


def test_mark_resolved_action(admin_client, reports):
    url = reverse("admin:moderation_report_changelist")
    r = admin_client.post(
        url,
        {"action": "mark_resolved", "_selected_action": [str(r.id) for r in reports]},
        follow=True,
    )
    assert r.status_code == 200
    assert "2 report(s) marked resolved." in r.content.decode()
    assert set(Report.objects.values_list("state", flat=True)) == {"resolved"}
    assert all(r.resolved_by is not None for r in Report.objects.all())
    r = admin_client.post(
        url, {"action": "mark_resolved", "_selected_action": [str(reports[0].id)]}, follow=True
    )
    assert "already resolved" in r.content.decode()


def test_non_admin_cannot_see_queue(reports):
    user = local_account("plain")
    client = Client()
    client.login(username=user.user.username, password=PASSWORD)
    r = client.get(reverse("admin:moderation_report_changelist"))
    assert r.status_code == 302  # to the admin login page


# --- Cases, votes, decisions and the audit log ----------------------------------------------


@pytest.fixture
def knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""
    return settings


def _case_with_votes(n_remove: int, *, name: str = "p", n_keep: int = 0) -> Case:
    author = local_account(f"author_{name}")
    post = post_create(author=author, text=f"contested {name}")
    for i in range(n_remove):
        vote_cast(voter=local_account(f"{name}_r{i}"), post=post, verdict="remove")
    for i in range(n_keep):
        vote_cast(voter=local_account(f"{name}_k{i}"), post=post, verdict="keep")
    return Case.objects.get(post=post)


def _act(client: Client, action: str, cases: list[Case], note: str = "reviewed") -> str:
    url = reverse("admin:moderation_case_changelist")
    selected = [str(c.pk) for c in cases]
    # first the intermediate page asking for the reason
    page = client.post(url, {"action": action, "_selected_action": selected})
    assert page.status_code == 200 and 'name="note"' in page.content.decode()
    done = client.post(
        url,
        {"action": action, "_selected_action": selected, "apply": "1", "note": note},
        follow=True,
    )
    assert done.status_code == 200
    return done.content.decode()


def _kinds(case: Case) -> list[str]:
    return list(AuditEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True))


def test_case_list_and_detail_show_live_tally_and_voters(admin_client, knobs):
    case = _case_with_votes(2, name="p", n_keep=1)
    url = reverse("admin:moderation_case_changelist")
    body = admin_client.get(url, {"state__exact": "open", "scope__exact": "local"}).content
    assert str(case.id) in body.decode()
    assert str(case.id) not in admin_client.get(url, {"state__exact": "removed"}).content.decode()
    r = admin_client.get(reverse("admin:moderation_case_change", args=[case.pk]))
    body = r.content.decode()
    assert r.status_code == 200
    assert "Redis running sums" in body and "remove weight 2.000 from 2 voters" in body
    assert "T_eff = 3.000" in body and "does not pass" in body and "min_voters" in body
    # admins see who voted (the public page never does)
    assert "p_r0" in body and "p_r1" in body and "p_k0" in body
    assert reverse("admin:moderation_auditevent_changelist") in body


def test_veto_action_goes_through_the_service(admin_client, knobs):
    case = _case_with_votes(2)
    body = _act(admin_client, "veto", [case], note="not a violation")
    assert "Veto: 1 case(s) done." in body
    case.refresh_from_db()
    assert case.state == Case.State.CLOSED
    decision = Decision.objects.get(case=case, outcome=Decision.Outcome.KEEP)
    assert decision.by_admin is not None and decision.note == "not a violation"
    event = AuditEvent.objects.get(case=case, kind="decision.keep")
    assert event.actor == f"admin:{decision.by_admin_id}"
    assert event.payload["note"] == "not a violation"
    # a second veto is refused by the service, and says so
    body = _act(admin_client, "veto", [case])
    assert "Refused: case" in body and "0 case(s) done" in body


def test_reason_is_required(admin_client, knobs):
    case = _case_with_votes(1)
    url = reverse("admin:moderation_case_changelist")
    r = admin_client.post(
        url, {"action": "veto", "_selected_action": [str(case.pk)], "apply": "1", "note": ""}
    )
    assert r.status_code == 200 and "This field is required" in r.content.decode()
    case.refresh_from_db()
    assert case.state == Case.State.OPEN


def test_force_remove_then_restore(admin_client, knobs, outbox):
    case = _case_with_votes(1)
    _act(admin_client, "force_remove", [case], note="court order")
    case.refresh_from_db()
    case.post.refresh_from_db()
    assert case.state == Case.State.REMOVED and case.post.state == Post.State.REMOVED
    assert "decision.remove" in _kinds(case)
    assert (
        OutboxEvent.objects.filter(kind="post.removed", payload__post_id=case.post_id).count() == 1
    )
    _act(admin_client, "restore", [case], note="order lifted")
    case.refresh_from_db()
    case.post.refresh_from_db()
    assert case.state == Case.State.RESTORED and case.post.state == Post.State.ACTIVE
    assert _kinds(case)[-1] == "decision.restore"
    assert audit_chain_verify() == []


def test_release_held_case(admin_client, knobs):
    knobs.MODERATION_BURST_FRACTION = 0.5
    case = _case_with_votes(3)
    assert case.state == Case.State.HELD
    _act(admin_client, "release", [case], note="looked fine")
    case.refresh_from_db()
    assert case.state == Case.State.REMOVED
    assert "admin.release" in _kinds(case)


def test_appeal_uphold_and_restore(admin_client, knobs):
    one, two = _case_with_votes(3, name="a"), _case_with_votes(3, name="b")
    for case in (one, two):
        assert case.state == Case.State.REMOVED
        case_appeal(author=case.author, case=case, text="please")
    _act(admin_client, "appeal_uphold", [one])
    _act(admin_client, "appeal_restore", [two])
    one.refresh_from_db()
    two.refresh_from_db()
    assert one.state == Case.State.UPHELD and two.state == Case.State.RESTORED
    assert Decision.objects.filter(case=one, outcome="uphold").exists()
    assert Decision.objects.filter(case=two, outcome="restore", by_admin__isnull=False).exists()


def test_void_votes_view_previews_then_voids(admin_client, knobs):
    case = _case_with_votes(2, name="v")
    voter = Account.objects.get(username="v_r0", domain="")
    url = reverse("admin:moderation_void_votes")
    assert admin_client.get(url).status_code == 200
    r = admin_client.post(url, {"voter": "v_r0", "domain": "x.example", "note": "n"})
    assert "exactly one" in r.content.decode()
    r = admin_client.post(url, {"voter": str(voter.pk), "note": "sockpuppet"})
    assert "1 vote(s) on 1 case(s) would be voided" in r.content.decode()
    assert not Vote.objects.filter(voided_at__isnull=False).exists()
    r = admin_client.post(
        url, {"voter": "v_r0", "note": "sockpuppet", "_confirm": "1"}, follow=True
    )
    assert "1 vote(s) voided" in r.content.decode()
    assert Vote.objects.get(voter=voter).voided_at is not None
    glob = AuditEvent.objects.get(case=None, kind="admin.void")
    assert glob.payload["voter"] == voter.pk and glob.payload["note"] == "sockpuppet"
    assert "admin.void" in _kinds(case)
    case.refresh_from_db()
    assert case.tally_version == 2
    assert tally.tally_current(case).rn == 1
    r = admin_client.post(url, {"cohort": "last week", "note": "x"})
    assert "2025-W07" in r.content.decode()


def test_domain_tier_view(admin_client):
    url = reverse("admin:moderation_domain_tier")
    r = admin_client.post(url, {"domain": "Brigade.Example", "tier": "limited", "note": "spam"})
    assert r.status_code == 302
    assert Instance.objects.get(domain="brigade.example").moderation_tier == "limited"
    event = AuditEvent.objects.get(case=None, kind="admin.domain_tier")
    assert event.payload["to"] == "limited" and event.payload["note"] == "spam"
    page = admin_client.get(url).content.decode()
    assert "brigade.example" in page and "limited" in page
    admin_client.post(url, {"domain": "brigade.example", "tier": "", "note": "reset"})
    assert Instance.objects.get(domain="brigade.example").moderation_tier == ""


def test_remove_post_view(admin_client, knobs):
    post = post_create(author=local_account("poster"), text="illegal")
    url = reverse("admin:moderation_remove_post")
    assert admin_client.get(url).status_code == 200
    r = admin_client.post(url, {"post": "999", "note": "x"})
    assert "No such post" in r.content.decode()
    r = admin_client.post(url, {"post": post.uri, "note": "legal request"})
    case = Case.objects.get(post=post)
    assert r.status_code == 302 and case.state == Case.State.REMOVED
    assert Decision.objects.get(case=case, outcome="remove").note == "legal request"


def test_verify_chain_button(admin_client, knobs):
    case = _case_with_votes(2)
    changelist = admin_client.get(reverse("admin:moderation_auditevent_changelist"))
    verify = reverse("admin:moderation_audit_verify")
    assert verify in changelist.content.decode()
    body = admin_client.get(verify).content.decode()
    assert "Chain intact" in body and audit_head(case=None) in body
    # tamper with one event: the check names the chain and the sequence number
    event = AuditEvent.objects.filter(case=case, kind="vote.cast").order_by("seq").first()
    AuditEvent.objects.filter(pk=event.pk).update(payload={"forged": True})
    body = admin_client.get(verify).content.decode()
    assert "problem(s) found" in body and "hash does not match the event" in body
    body = admin_client.get(verify, {"case": case.pk}).content.decode()
    assert "problem(s) found" in body
    # the action verifies the chains of the selected events
    r = admin_client.post(
        reverse("admin:moderation_auditevent_changelist"),
        {"action": "verify_chains", "_selected_action": [str(event.pk)]},
    )
    assert "hash does not match the event" in r.content.decode()


def test_audit_search_by_case_and_read_only_pages(admin_client, knobs):
    case = _case_with_votes(1)
    other = _case_with_votes(1, name="o")
    url = reverse("admin:moderation_auditevent_changelist")
    body = admin_client.get(url, {"q": str(case.pk)}).content.decode()
    assert "vote.cast" in body
    ids = set(AuditEvent.objects.filter(case=other).values_list("pk", flat=True))
    assert all(f'value="{i}"' not in body for i in ids)
    event = AuditEvent.objects.filter(case=case).first()
    assert (
        admin_client.get(reverse("admin:moderation_auditevent_change", args=[event.pk])).status_code
        == 200
    )
    vote = Vote.objects.filter(case=case).first()
    assert (
        admin_client.get(reverse("admin:moderation_vote_change", args=[vote.pk])).status_code == 200
    )
    assert admin_client.get(reverse("admin:moderation_vote_add")).status_code == 403
    assert admin_client.get(reverse("admin:moderation_case_add")).status_code == 403


def test_report_origin_filter(admin_client, reports):
    remote = RemoteAccountFactory()
    flag = Report.objects.create(
        reporter=remote,
        target_account=reports[0].target_account,
        uri="https://remote.example/flags/1",
    )
    url = reverse("admin:moderation_report_changelist")
    body = admin_client.get(url, {"origin": "remote"}).content.decode()
    assert str(flag.id) in body and str(reports[0].id) not in body
    body = admin_client.get(url, {"origin": "local"}).content.decode()
    assert str(flag.id) not in body and str(reports[0].id) in body


def test_non_admin_cannot_use_forms():
    user = local_account("plain2")
    client = Client()
    client.login(username=user.user.username, password=PASSWORD)
    for name in ("moderation_void_votes", "moderation_domain_tier", "moderation_audit_verify"):
        assert client.get(reverse(f"admin:{name}")).status_code == 302
