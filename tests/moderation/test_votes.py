"""moderation.services: votes, the decision flow, removal, appeals and admin actions (real rows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from federation.models import Instance
from moderation import services, tally
from moderation.audit import audit_chain_verify
from moderation.models import AuditEvent, Case, Decision, Report, Vote
from moderation.selectors import prior_interaction
from ourvoice.accounts.models import Account, User
from ourvoice.accounts.services import follow_create
from ourvoice.core.errors import Conflict, Invalid, LimitReached, NotAllowed
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.services import like_create
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create, post_delete, post_update
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _knobs(small_moderation_rule, settings):
    """The small rule of tests/conftest.py."""


@pytest.fixture
def author():
    return local_account("author")


@pytest.fixture
def post(author):
    return post_create(author=author, text="something contested")


def voters(n: int, prefix: str = "v") -> list[Account]:
    return [local_account(f"{prefix}{i}") for i in range(n)]


def removed_events(post: Post) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(kind="post.removed", payload__post_id=post.id))


def test_first_vote_opens_case_with_frozen_weight(post):
    [v] = voters(1)
    vote = services.vote_cast(voter=v, post=post, verdict="remove", reason_code="spam")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.OPEN and case.scope == Case.Scope.LOCAL
    assert vote.weight == 1.0 and vote.tier == "local" and vote.counts
    assert vote.rule_version == "ov-rule/1" and vote.content_version.startswith("sha256:")
    assert vote.uri.endswith(f"/users/v0/modvotes/{vote.id}")
    kinds = list(
        AuditEvent.objects.filter(case=case).order_by("seq").values_list("kind", flat=True)
    )
    assert kinds == ["case.opened", "vote.cast"]


def test_changing_a_vote_keeps_one_active(post):
    [v] = voters(1)
    first = services.vote_cast(voter=v, post=post, verdict="remove")
    second = services.vote_cast(voter=v, post=post, verdict="keep")
    first.refresh_from_db()
    assert not first.active and first.replaced_at is not None
    assert second.active and Vote.objects.filter(active=True).count() == 1


def test_refusals(post, author, settings):
    with pytest.raises(NotAllowed):
        services.vote_cast(voter=author, post=post, verdict="remove")
    [v] = voters(1)
    with pytest.raises(Invalid):
        services.vote_cast(voter=v, post=post, verdict="maybe")
    with pytest.raises(Invalid):
        services.vote_cast(voter=v, post=post, verdict="remove", reason_code="rule:999999")
    with pytest.raises(Invalid):
        services.vote_cast(voter=v, post=post, verdict="remove", comment="x" * 501)
    with pytest.raises(NotAllowed):
        services.vote_cast(voter=RemoteAccountFactory(), post=post, verdict="remove")
    assert not Vote.objects.exists() and not Case.objects.exists()
    settings.MODERATION_VOTES_PER_DAY = 2
    other = [post_create(author=author, text=f"p{i}") for i in range(3)]
    services.vote_cast(voter=v, post=other[0], verdict="keep")
    services.vote_cast(voter=v, post=other[1], verdict="keep")
    with pytest.raises(LimitReached):
        services.vote_cast(voter=v, post=other[2], verdict="keep")


def test_crossing_vote_removes_with_one_delete_and_messages_author(post, author, outbox):
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove", reason_code="spam")
    post.refresh_from_db()
    case = Case.objects.get(post=post)
    assert case.state == Case.State.REMOVED and post.state == Post.State.REMOVED
    assert case.appeal_until > timezone.now() + timedelta(days=13)
    [event] = removed_events(post)
    assert event.payload["activity_id"].endswith(f"/mod/cases/{case.id}/delete")
    assert event.payload["extra"]["decision"].endswith(f"/mod/decisions/{case.id}")
    decision = Decision.objects.get(case=case, outcome="remove")
    assert decision.tally["remove_weight"] == pytest.approx(3.0)
    assert decision.rule_version == "ov-rule/1"
    outbox.drain()
    dm = Post.objects.get(author__role=Account.Role.MODERATION, visibility="direct")
    assert f"/transparency/cases/{case.id}" in dm.content
    assert Notification.objects.filter(recipient=author, type="mention", post=dm).exists()
    assert audit_chain_verify() == []


def test_late_votes_are_recorded_not_counted(post):
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    late = local_account("late")
    case = Case.objects.get(post=post)
    vote = services._record_vote(
        case=Case.objects.get(pk=case.pk),
        post=post,
        voter=late,
        voter_key=str(late.pk),
        source=Vote.Source.LOCAL,
        verdict="keep",
        reason_code="other",
        comment="",
        content_version="",
        uri="",
        facts=lambda interacted: services.selectors.voter_facts(
            voter=late, now=timezone.now(), interacted=interacted
        ),
        now=timezone.now(),
        actor_label="test",
    )
    assert vote.counts is False and vote.not_counted == "late"
    assert len(removed_events(post)) == 1


def test_grace_period_then_finalize(post, settings):
    settings.MODERATION_GRACE_SECONDS = 600
    vs = voters(3)
    for v in vs:
        services.vote_cast(voter=v, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    post.refresh_from_db()
    assert case.state == Case.State.PENDING and post.collapsed_at is not None
    assert post.state == Post.State.ACTIVE and not removed_events(post)
    assert services.case_finalize(case=case) == Case.State.PENDING  # not due yet
    later = timezone.now() + timedelta(seconds=601)
    assert services.case_finalize(case=case, now=later) == Case.State.REMOVED
    assert len(removed_events(post)) == 1
    assert services.case_finalize(case=case, now=later) == Case.State.REMOVED
    assert len(removed_events(post)) == 1


def test_withdrawal_during_grace_reopens(post, settings):
    settings.MODERATION_GRACE_SECONDS = 600
    vs = voters(3)
    for v in vs:
        services.vote_cast(voter=v, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    assert services.vote_withdraw(voter=vs[0], case=case)
    later = timezone.now() + timedelta(seconds=601)
    assert services.cases_sweep(now=later)["finalized"] == 1
    case.refresh_from_db()
    post.refresh_from_db()
    assert case.state == Case.State.OPEN and post.collapsed_at is None
    assert not removed_events(post)


def test_burst_alarm_holds_for_review(post, settings, outbox):
    settings.MODERATION_BURST_FRACTION = 0.6
    admin = local_account("chief")
    admin_user = admin.user
    User.objects.filter(pk=admin_user.pk).update(is_staff=True)
    admin_user.is_staff = True
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.HELD and not removed_events(post)
    outbox.drain()
    # The case is in the admin queue as a report by the moderation account, with a notification
    # whose Mastodon entity carries that report.
    report = Report.objects.get(reporter__role=Account.Role.MODERATION, status_ids=[post.id])
    assert f"Case {case.id} held for review" in report.comment
    client = ApiClient(make_token(admin_user))
    [entity] = [
        n for n in client.get("/api/v1/notifications").json() if n["type"] == "admin.report"
    ]
    assert entity["report"]["id"] == str(report.id)
    assert entity["report"]["target_account"]["id"] == str(post.author_id)
    services.case_admin_release(case=case, admin=admin_user)
    case.refresh_from_db()
    assert case.state == Case.State.REMOVED and len(removed_events(post)) == 1


def test_keep_votes_block_by_supermajority(post):
    for v in voters(3, "r"):
        services.vote_cast(voter=v, post=post, verdict="remove")
    # Removal happened at the third vote; start over with keep votes first.
    other = post_create(author=post.author, text="other")
    for v in voters(2, "k"):
        services.vote_cast(voter=v, post=other, verdict="keep")
    for v in voters(3, "s"):
        services.vote_cast(voter=v, post=other, verdict="remove")
    assert Case.objects.get(post=other).state == Case.State.OPEN


def test_author_deleting_makes_case_moot(post, author, outbox):
    [v] = voters(1)
    services.vote_cast(voter=v, post=post, verdict="remove")
    post_delete(post=post, actor=author)
    outbox.drain()
    assert Case.objects.get(post=post).state == Case.State.MOOT


def test_appeal_and_admin_restore(post, author):
    admin_user = User.objects.create_user(username="boss", password="x", is_staff=True)
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    with pytest.raises(NotAllowed):
        services.case_appeal(author=local_account("x"), case=case)
    services.case_appeal(author=author, case=case, text="It was satire.")
    with pytest.raises(Conflict):
        services.case_appeal(author=author, case=case)
    services.case_admin_resolve_appeal(case=case, admin=admin_user, restore=True, note="ok")
    case.refresh_from_db()
    post.refresh_from_db()
    assert case.state == Case.State.RESTORED and post.state == Post.State.ACTIVE
    assert audit_chain_verify() == []


def test_void_by_domain_recomputes(post, settings):
    settings.MODERATION_GRACE_SECONDS = 600
    settings.MODERATION_MIN_DOMAINS_IF_REMOTE_HEAVY = 0
    settings.MODERATION_DOMAIN_CAP_FRACTION = 0
    settings.MODERATION_DOMAIN_TIER_DEFAULT = "trusted"
    admin_user = User.objects.create_user(username="boss", password="x", is_staff=True)
    remotes = [RemoteAccountFactory(domain="brigade.example") for _ in range(3)]
    for i, r in enumerate(remotes):
        services.vote_receive_remote(
            voter=r, post=post, verdict="remove", uri=f"https://brigade.example/v/{i}"
        )
    case = Case.objects.get(post=post)
    assert case.state == Case.State.PENDING
    n = services.votes_admin_void(admin=admin_user, domain="brigade.example", note="raid")
    case.refresh_from_db()
    assert n == 3 and case.state == Case.State.OPEN and case.tally_version == 2
    assert tally.tally_current(case).rc == 0
    assert audit_chain_verify() == []


def test_remote_vote_replay_and_own_post(post, author):
    r = RemoteAccountFactory()
    uri = f"https://{r.domain}/votes/1"
    assert services.vote_receive_remote(voter=r, post=post, verdict="remove", uri=uri)
    assert services.vote_receive_remote(voter=r, post=post, verdict="remove", uri=uri) is None
    assert Vote.objects.filter(uri=uri).count() == 1
    remote_post = Post.objects.create(author=r, uri=f"https://{r.domain}/notes/1", local=False)
    with pytest.raises(NotAllowed):
        services.vote_receive_remote(
            voter=r, post=remote_post, verdict="remove", uri=f"https://{r.domain}/votes/2"
        )
    assert not Case.objects.filter(post=remote_post).exists()


def test_flag_counts_as_one_domain_voter(post):
    r1 = RemoteAccountFactory(domain="masto.example")
    votes = services.flag_receive(actor=r1, posts=[post], activity_id="https://masto.example/f/1")
    votes2 = services.flag_receive(actor=r1, posts=[post], activity_id="https://masto.example/f/2")
    assert votes[0].voter_key == votes2[0].voter_key == "domain:masto.example"
    assert Vote.objects.filter(case__post=post, active=True).count() == 1


def test_audit_chain_detects_tampering(post):
    [v] = voters(1)
    services.vote_cast(voter=v, post=post, verdict="remove")
    assert audit_chain_verify() == []
    event = AuditEvent.objects.filter(kind="vote.cast").get()
    AuditEvent.objects.filter(pk=event.pk).update(payload={**event.payload, "weight": 99})
    problems = audit_chain_verify()
    assert problems and problems[0].problem == "hash does not match the event"


def test_prior_interaction_sees_likes_replies_and_follows(post, author):
    now = timezone.now()
    liker, replier, follower, stranger = voters(4, "pi")
    like_create(account=liker, post=post)
    post_create(author=replier, text="@author no", in_reply_to=post)
    follow_create(follower=follower, target=author)
    for v in (liker, replier, follower):
        assert prior_interaction(voter=v, author=author, now=now + timedelta(seconds=1))
    assert not prior_interaction(voter=stranger, author=author, now=now)
    assert not prior_interaction(voter=liker, author=author, now=now + timedelta(days=91))


def _remote_post(domain: str, *, ourvoice: bool) -> Post:
    """A remote post whose origin is already known (no discovery request is made)."""
    author = RemoteAccountFactory(domain=domain)
    inbox = ""
    if ourvoice:
        service = RemoteAccountFactory(domain=domain, username="moderation")
        inbox = service.inbox_uri
    Instance.objects.create(
        domain=domain,
        software="ourvoice" if ourvoice else "mastodon",
        moderation_inbox=inbox,
        nodeinfo_fetched_at=timezone.now(),
    )
    return Post.objects.create(
        author=author, uri=f"https://{domain}/notes/{author.pk}", local=False, content="x"
    )


def test_votes_on_an_ourvoice_peers_post_are_forwarded_never_decided():
    post = _remote_post("peer.example", ourvoice=True)
    for v in voters(4):
        vote = services.vote_cast(voter=v, post=post, verdict="remove")
        assert not vote.counts and vote.not_counted == "forwarded"
    case = Case.objects.get(post=post)
    assert case.scope == Case.Scope.FORWARDED and case.state == Case.State.OPEN
    forwards = OutboxEvent.objects.filter(kind="moderation.vote.forward")
    assert forwards.count() == 4 and forwards.first().payload["post_uri"] == post.uri
    services.vote_withdraw(voter=v, case=case)
    assert OutboxEvent.objects.filter(kind="moderation.vote.withdraw").count() == 1


def test_other_softwares_post_is_hidden_here_and_flagged_once():
    post = _remote_post("masto.example", ourvoice=False)
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    post.refresh_from_db()
    assert case.scope == Case.Scope.REMOTE and case.state == Case.State.REMOVED
    assert post.state == Post.State.REMOVED
    [flag] = OutboxEvent.objects.filter(kind="moderation.flag")
    assert flag.payload["flag_uri"].endswith(f"/mod/cases/{case.id}/flag")
    assert "3 voters" in flag.payload["content"]


def test_removed_post_is_gone_from_api_and_serves_a_tombstone(post, client):
    assert client.get(f"/api/v1/statuses/{post.id}").status_code == 200
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    assert client.get(f"/api/v1/statuses/{post.id}").status_code == 404
    response = client.get(post.uri, HTTP_ACCEPT="application/activity+json")
    assert response.status_code == 410 and response.json()["type"] == "Tombstone"
    public = client.get("/api/v1/timelines/public").json()
    assert str(post.id) not in {s["id"] for s in public}


def test_pending_post_is_collapsed_behind_a_warning(post, client, settings):
    settings.MODERATION_GRACE_SECONDS = 600
    for v in voters(3):
        services.vote_cast(voter=v, post=post, verdict="remove")
    status = client.get(f"/api/v1/statuses/{post.id}").json()
    assert status["sensitive"] is True
    assert status["spoiler_text"] == "Under community moderation review"


def test_votes_cast_before_an_edit_count_half(post, author, settings):
    settings.MODERATION_MIN_DISTINCT_VOTERS = 1
    settings.MODERATION_REMOVAL_THRESHOLD = 2.0
    first, second = voters(2)
    services.vote_cast(voter=first, post=post, verdict="remove")
    post_update(post=post, editor=author, text="something else entirely")
    services.vote_cast(voter=second, post=post, verdict="remove")
    case = Case.objects.get(post=post)
    assert case.state == Case.State.OPEN  # 0.5 + 1.0 < 2
    services.vote_cast(voter=first, post=post, verdict="remove")  # re-vote on the new version
    case.refresh_from_db()
    assert case.state == Case.State.REMOVED
