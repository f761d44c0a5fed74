"""The report queue in Django admin: list, filters, read-only pages, "Mark resolved"."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from moderation.models import Report
from moderation.services import report_create
from tests.factories import PASSWORD, local_account

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
