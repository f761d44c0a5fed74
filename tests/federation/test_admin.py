"""Django admin of federation: instance policy and health, read-only logs, delivery backlog."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from federation.models import Delivery, InboxItem, Instance, OutgoingActivity
from tests.factories import local_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity():
    alice = local_account("alice")
    body = orjson.dumps({"id": f"{alice.uri}#x", "type": "Create"})
    stored = OutgoingActivity.objects.create(
        uri=f"{alice.uri}#x", type="Create", actor=alice, body=body, digest="SHA-256=x"
    )
    now = timezone.now()
    Delivery.objects.bulk_create(
        [
            Delivery(activity=stored, inbox="https://a.example/inbox", domain="a.example"),
            Delivery(
                activity=stored,
                inbox="https://a.example/users/b/inbox",
                domain="a.example",
                attempts=3,
                next_attempt_at=now + timedelta(minutes=5),
            ),
            Delivery(activity=stored, inbox="https://b.example/inbox", domain="b.example"),
            Delivery(
                activity=stored,
                inbox="https://c.example/inbox",
                domain="c.example",
                state=Delivery.State.SKIPPED,
                last_error="domain unavailable",
            ),
            Delivery(
                activity=stored,
                inbox="https://d.example/inbox",
                domain="d.example",
                state=Delivery.State.SENT,
                last_status=202,
            ),
        ]
    )
    return stored


def test_instance_changelist_links_the_backlog(admin_client):
    Instance.objects.create(domain="a.example", software="mastodon")
    page = admin_client.get(reverse("admin:federation_instance_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "a.example" in text
    assert reverse("admin:federation_delivery_backlog") in text
    for action in ("suspend", "silence", "clear_policy", "mark_available"):
        assert f'value="{action}"' in text


def test_health_filter(admin_client):
    Instance.objects.create(domain="ok.example")
    Instance.objects.create(domain="failing.example", failure_days=["2026-11-01"])
    Instance.objects.create(
        domain="dead.example", failure_days=["2026-11-01"], unavailable_since=timezone.now()
    )
    url = reverse("admin:federation_instance_changelist")
    for value, expected in (
        ("ok", ["ok.example"]),
        ("failing", ["failing.example"]),
        ("unavailable", ["dead.example"]),
    ):
        page = admin_client.get(url, {"health": value})
        assert [i.domain for i in page.context["cl"].result_list] == expected


def test_actions_set_the_policy_through_the_service(admin_client, activity):
    instance = Instance.objects.create(domain="a.example")
    url = reverse("admin:federation_instance_changelist")

    admin_client.post(url, {"action": "suspend", "_selected_action": [instance.pk]})
    instance.refresh_from_db()
    assert instance.policy == Instance.Policy.SUSPEND
    # Suspending withholds the domain's pending deliveries.
    assert set(Delivery.objects.filter(domain="a.example").values_list("state", flat=True)) == {
        Delivery.State.SKIPPED
    }

    admin_client.post(url, {"action": "silence", "_selected_action": [instance.pk]})
    instance.refresh_from_db()
    assert instance.policy == Instance.Policy.SILENCE
    admin_client.post(url, {"action": "clear_policy", "_selected_action": [instance.pk]})
    instance.refresh_from_db()
    assert instance.policy == Instance.Policy.NONE


def test_mark_available_action(admin_client):
    instance = Instance.objects.create(
        domain="dead.example", failure_days=["2026-11-01"], unavailable_since=timezone.now()
    )
    admin_client.post(
        reverse("admin:federation_instance_changelist"),
        {"action": "mark_available", "_selected_action": [instance.pk]},
    )
    instance.refresh_from_db()
    assert instance.failure_days == []
    assert instance.unavailable_since is None


def test_change_form_edits_policy_tier_and_flags(admin_client, activity):
    instance = Instance.objects.create(domain="a.example")
    url = reverse("admin:federation_instance_change", args=[instance.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    response = admin_client.post(
        url,
        {
            "note": "spam source",
            "policy": "suspend",
            "moderation_tier": "new",
            "reject_media": "on",
            "reject_reports": "on",
            "software": "misskey",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    instance.refresh_from_db()
    assert instance.domain == "a.example"
    assert instance.policy == Instance.Policy.SUSPEND
    assert instance.moderation_tier == "new"
    assert instance.reject_media and instance.reject_reports
    assert instance.software == "misskey"
    assert instance.note == "spam source"
    assert not Delivery.objects.filter(domain="a.example", state=Delivery.State.PENDING).exists()


def test_adding_an_instance_normalises_its_domain(admin_client):
    response = admin_client.post(
        reverse("admin:federation_instance_add"),
        {"domain": "Bad.Example.", "note": "", "policy": "suspend", "moderation_tier": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    instance = Instance.objects.get()
    assert instance.domain == "bad.example"
    assert instance.policy == Instance.Policy.SUSPEND


def test_backlog_view_lists_pending_per_domain_and_failing_domains(admin_client, activity):
    Instance.objects.create(
        domain="c.example", failure_days=["2026-11-01"] * 1, unavailable_since=timezone.now()
    )
    Instance.objects.create(domain="b.example", failure_days=["2026-11-02"])
    page = admin_client.get(reverse("admin:federation_delivery_backlog"))
    assert page.status_code == 200
    per_domain = {row["domain"]: row for row in page.context["per_domain"]}
    assert set(per_domain) == {"a.example", "b.example"}
    assert per_domain["a.example"]["count"] == 2
    assert per_domain["a.example"]["retrying"] == 1
    assert per_domain["a.example"]["due"] == 1
    assert page.context["pending_total"] == 3
    failing = {instance.domain: pending for instance, _days, pending in page.context["failing"]}
    assert failing == {"c.example": 0, "b.example": 1}
    assert [(r["domain"], r["count"]) for r in page.context["skipped"]] == [("c.example", 1)]
    text = page.content.decode()
    assert "Delivery backlog" in text
    assert "domain unavailable" in text


def test_backlog_needs_staff(client):
    page = client.get(reverse("admin:federation_delivery_backlog"))
    assert page.status_code == 302  # to the admin login


def test_logs_are_read_only_and_render(admin_client, activity):
    InboxItem.objects.create(
        activity_id="https://r.example/a/1",
        activity_type="Like",
        actor_uri="https://r.example/users/r",
        body={"type": "Like"},
    )
    for name in ("inboxitem", "outgoingactivity", "delivery", "postinbox", "remotetombstone"):
        assert admin_client.get(reverse(f"admin:federation_{name}_changelist")).status_code == 200
    detail = admin_client.get(
        reverse("admin:federation_outgoingactivity_change", args=[activity.pk])
    )
    assert detail.status_code == 200
    assert "pending: 3" in detail.content.decode()
    assert "&quot;type&quot;: &quot;Create&quot;" in detail.content.decode()
    item = InboxItem.objects.get()
    assert (
        admin_client.get(reverse("admin:federation_inboxitem_change", args=[item.pk])).status_code
        == 200
    )
    for name in ("inboxitem", "outgoingactivity", "delivery", "postinbox", "remotetombstone"):
        assert admin_client.get(reverse(f"admin:federation_{name}_add")).status_code == 403


def test_retry_now_rearms_unsent_rows(admin_client, activity, monkeypatch):
    queued = []
    monkeypatch.setattr("federation.admin.deliveries_enqueue", lambda ids: queued.extend(ids))
    Delivery.objects.filter(domain="b.example").update(state=Delivery.State.EXPIRED, attempts=17)
    selected = list(Delivery.objects.values_list("pk", flat=True))
    admin_client.post(
        reverse("admin:federation_delivery_changelist"),
        {"action": "retry_now", "_selected_action": selected},
    )
    expired = Delivery.objects.get(domain="b.example")
    assert expired.state == Delivery.State.PENDING
    assert expired.attempts == 0
    sent = Delivery.objects.get(domain="d.example")
    assert sent.state == Delivery.State.SENT
    assert sent.pk not in queued
    assert expired.pk in queued
