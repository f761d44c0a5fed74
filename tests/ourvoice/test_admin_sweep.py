"""Every model has a Django admin whose list and (read-only or editable) detail pages load."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import local_account

OURS = {
    "core",
    "accounts",
    "posts",
    "interactions",
    "notifications",
    "mastodon_api",
    "federation",
    "moderation",
}


def test_every_model_of_ours_is_in_the_admin():
    missing = [
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in OURS and m not in admin.site._registry
    ]
    assert missing == []


@pytest.mark.django_db
def test_every_changelist_loads(client):
    boss = local_account("boss", is_admin=True)
    client.force_login(boss.user)
    for model in admin.site._registry:
        if model._meta.app_label not in OURS:
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, url
