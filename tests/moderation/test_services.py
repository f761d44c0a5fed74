"""moderation.services: report_create and report_resolve on real rows."""

from __future__ import annotations

import pytest

from moderation import selectors
from moderation.models import Report
from moderation.services import report_create, report_resolve
from ourvoice.core.errors import Invalid, NotAllowed, NotFound
from ourvoice.core.models import InstanceRule, OutboxEvent
from ourvoice.posts.services import post_create, post_delete
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return local_account("alice")


@pytest.fixture
def bob():
    return local_account("bob")


def test_report_create_records_row_and_event(alice, bob):
    post = post_create(author=bob, text="bad")
    report = report_create(
        reporter=alice, target_account=bob, post_ids=[str(post.id)], comment="see this"
    )
    assert report.status_ids == [post.id] and report.category == Report.Category.OTHER
    assert report.rule_ids == [] and report.forward is False and report.state == "open"
    event = OutboxEvent.objects.get(kind="report.created")
    assert event.payload["report_id"] == report.id
    assert event.payload["post_ids"] == [post.id]


def test_report_keeps_evidence_after_deletion(alice, bob):
    post = post_create(author=bob, text="bad")
    report = report_create(reporter=alice, target_account=bob, post_ids=[post.id])
    post_delete(post=post, actor=bob)
    report.refresh_from_db()
    assert report.status_ids == [post.id]


def test_report_create_refusals(alice, bob):
    with pytest.raises(Invalid):
        report_create(reporter=alice, target_account=alice)
    with pytest.raises(Invalid):
        report_create(reporter=alice, target_account=bob, comment="x" * 1001)
    with pytest.raises(Invalid):
        report_create(reporter=alice, target_account=bob, category="bogus")
    with pytest.raises(Invalid):
        report_create(reporter=alice, target_account=bob, post_ids=list(range(1, 102)))
    with pytest.raises(NotFound):
        report_create(reporter=alice, target_account=bob, post_ids=["nope"])
    with pytest.raises(NotAllowed):
        report_create(reporter=RemoteAccountFactory(), target_account=bob)
    alice.suspended_at = alice.created_at
    with pytest.raises(NotAllowed):
        report_create(reporter=alice, target_account=bob)
    assert not Report.objects.exists()
    assert not OutboxEvent.objects.filter(kind="report.created").exists()


def test_rules_force_violation(alice, bob):
    rule = InstanceRule.objects.create(text="Be kind")
    report = report_create(reporter=alice, target_account=bob, rule_ids=[rule.id, rule.id])
    assert report.category == "violation" and report.rule_ids == [rule.id]


def test_report_resolve_is_compare_and_set(alice, bob):
    report = report_create(reporter=alice, target_account=bob)
    admin = local_account("chief", is_admin=True).user
    assert report_resolve(report=report, resolved_by=admin) is True
    report.refresh_from_db()
    assert report.state == "resolved" and report.resolved_at is not None
    assert report.resolved_by == admin
    first = report.resolved_at
    assert report_resolve(report=report) is False
    report.refresh_from_db()
    assert report.resolved_at == first and report.resolved_by == admin


def test_rule_config_is_built_once_per_set_of_knobs_and_follows_changes(settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 7.0
    first = selectors.rule_config()
    assert first.removal_threshold == 7.0
    assert selectors.rule_config() is first, "unchanged knobs: the same checked config"
    settings.MODERATION_REMOVAL_THRESHOLD = 9.0
    settings.MODERATION_TIER_WEIGHTS = {**first.tier_weights, "trusted": 0.9}
    changed = selectors.rule_config()
    assert changed.removal_threshold == 9.0 and changed.tier_weights["trusted"] == 0.9
