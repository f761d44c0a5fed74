"""The read-only Django admin list of notifications and its "Dismiss" action."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ourvoice.notifications.models import Notification
from ourvoice.notifications.services import notification_create

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:notifications_notification_changelist")


@pytest.fixture
def rows(alice, bob, carol, post_of):
    post = post_of(alice)
    return [
        notification_create(
            recipient=alice, from_account=bob, type="favourite", dedupe_key="1", post=post
        ),
        notification_create(recipient=alice, from_account=carol, type="follow", dedupe_key="2"),
        notification_create(recipient=bob, from_account=carol, type="follow", dedupe_key="3"),
    ]


def listed(response) -> list[Notification]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_changelist_filters_and_search(admin_client, rows):
    assert len(listed(admin_client.get(CHANGELIST))) == 3
    assert listed(admin_client.get(CHANGELIST, {"type__exact": "favourite"})) == [rows[0]]
    assert listed(admin_client.get(CHANGELIST, {"dismissed__exact": "1"})) == []
    assert listed(admin_client.get(CHANGELIST, {"q": "bob"})) == [rows[2], rows[0]]


def test_dismiss_action_dismisses_the_selected_rows(admin_client, rows):
    response = admin_client.post(
        CHANGELIST,
        {"action": "dismiss", "_selected_action": [rows[0].pk, rows[2].pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Dismissed 2 notification(s)." in response.content.decode()
    assert {n.pk: n.dismissed for n in Notification.objects.all()} == {
        rows[0].pk: True,
        rows[1].pk: False,
        rows[2].pk: True,
    }
    assert listed(admin_client.get(CHANGELIST, {"dismissed__exact": "1"})) == [rows[2], rows[0]]


def test_read_only(admin_client, rows):
    change = reverse("admin:notifications_notification_change", args=[rows[0].pk])
    delete = reverse("admin:notifications_notification_delete", args=[rows[0].pk])

    assert admin_client.get(reverse("admin:notifications_notification_add")).status_code == 403
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"dismissed": "on"}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()
    rows[0].refresh_from_db()
    assert rows[0].dismissed is False


def test_changelist_query_count_does_not_grow_with_rows(admin_client, alice, bob, post_of):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(CHANGELIST).status_code == 200
        return len(ctx.captured_queries)

    post = post_of(alice)
    notification_create(
        recipient=alice, from_account=bob, type="favourite", dedupe_key="0", post=post
    )
    one = queries()
    for n in range(10):
        notification_create(
            recipient=alice, from_account=bob, type="favourite", dedupe_key=f"{n + 1}", post=post
        )
    assert queries() == one
