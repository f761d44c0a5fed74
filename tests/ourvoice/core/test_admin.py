"""Django admin of the outbox: read-only lists and a "Re-dispatch" action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from ourvoice import events
from ourvoice.core.models import InstanceRule, OutboxEvent, OutboxReceipt
from ourvoice.posts.models import Hashtag

KIND = "test.admin"

pytestmark = pytest.mark.django_db


def effect(event: OutboxEvent) -> None:
    Hashtag.objects.create(name=f"admin-effect-{event.id}")


def broken(event: OutboxEvent) -> None:
    raise RuntimeError("still broken")


@pytest.fixture
def routed(monkeypatch):
    monkeypatch.setitem(events.CONSUMERS, KIND, [effect])
    monkeypatch.setitem(events.CONSUMERS, "test.admin-broken", [broken])


CHANGELIST = "admin:core_outboxevent_changelist"


def test_changelist_shows_events_and_filters_by_state_and_kind(admin_client):
    pending = OutboxEvent.objects.create(kind=KIND, payload={})
    done = OutboxEvent.objects.create(kind="test.other")
    OutboxEvent.objects.filter(pk=done.pk).update(attempts=3, processed_at=timezone.now())

    page = admin_client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    shown = set(page.context["cl"].result_list.values_list("id", flat=True))
    assert {pending.id, done.id} <= shown
    for column in ("Kind", "Created at", "Processed at", "Attempts"):
        assert column in page.content.decode()
    assert '<option value="redispatch">Re-dispatch selected events</option>' in (
        page.content.decode()
    )

    page = admin_client.get(reverse(CHANGELIST), {"processed": "no", "kind": KIND})
    assert list(page.context["cl"].result_list) == [pending]
    page = admin_client.get(reverse(CHANGELIST), {"processed": "yes"})
    ids = set(page.context["cl"].result_list.values_list("id", flat=True))
    assert done.id in ids
    assert pending.id not in ids

    page = admin_client.get(reverse(CHANGELIST), {"q": "not-a-number"})
    assert page.status_code == 200


def test_events_are_read_only(admin_client):
    event = OutboxEvent.objects.create(kind=KIND, payload={"post_id": 1})
    OutboxReceipt.objects.create(event=event, consumer="some.consumer")
    detail = admin_client.get(reverse("admin:core_outboxevent_change", args=[event.pk]))
    assert detail.status_code == 200
    body = detail.content.decode()
    assert 'name="_save"' not in body
    assert "some.consumer" in body  # receipts shown inline
    assert admin_client.get(reverse("admin:core_outboxevent_add")).status_code == 403
    delete_url = reverse("admin:core_outboxevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert OutboxEvent.objects.filter(pk=event.pk).exists()
    # A POST to the detail page changes nothing either.
    response = admin_client.post(
        reverse("admin:core_outboxevent_change", args=[event.pk]), {"kind": "changed"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.kind == KIND


def test_receipts_are_listed_read_only(admin_client):
    event = OutboxEvent.objects.create(kind=KIND)
    OutboxReceipt.objects.create(event=event, consumer="some.consumer")
    page = admin_client.get(reverse("admin:core_outboxreceipt_changelist"))
    assert page.status_code == 200
    assert "some.consumer" in page.content.decode()
    assert admin_client.get(reverse("admin:core_outboxreceipt_add")).status_code == 403


def test_redispatch_action_runs_consumers_once(admin_client, routed):
    event = OutboxEvent.objects.create(kind=KIND)
    failing = OutboxEvent.objects.create(kind="test.admin-broken")
    for _ in range(2):
        response = admin_client.post(
            reverse(CHANGELIST),
            {"action": "redispatch", "_selected_action": [event.pk, failing.pk]},
            follow=True,
        )
        assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert "1 event(s) dispatched." in messages
    assert any("1 event(s) still have a failing consumer" in m for m in messages)
    event.refresh_from_db()
    failing.refresh_from_db()
    assert event.processed_at is not None
    assert Hashtag.objects.filter(name=f"admin-effect-{event.id}").count() == 1
    assert failing.processed_at is None
    assert failing.attempts == 2
    assert "still broken" in failing.last_error


def test_redispatch_needs_the_change_permission(client, django_user_model, routed):
    viewer = django_user_model.objects.create_user(
        username="viewer", email="viewer@example.org", password="pw-not-used-here", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_outboxevent"))
    client.force_login(viewer)
    event = OutboxEvent.objects.create(kind=KIND)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert 'value="redispatch"' not in page.content.decode()
    client.post(reverse(CHANGELIST), {"action": "redispatch", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.processed_at is None
    assert not Hashtag.objects.filter(name=f"admin-effect-{event.id}").exists()


def test_instance_rules_are_edited_in_the_admin(admin_client):
    response = admin_client.post(
        reverse("admin:core_instancerule_add"),
        {"text": "No spam", "hint": "Ads count as spam.", "position": 2},
    )
    assert response.status_code == 302
    rule = InstanceRule.objects.get(text="No spam")
    assert (rule.hint, rule.position) == ("Ads count as spam.", 2)
    page = admin_client.get(reverse("admin:core_instancerule_changelist"))
    assert "No spam" in page.content.decode()
