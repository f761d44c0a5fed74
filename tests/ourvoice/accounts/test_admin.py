"""Admin tests for ourvoice/accounts/admin.py: pages load, forms are read-only, actions work."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute, User
from ourvoice.accounts.services import (
    account_silence,
    account_suspend,
    block_create,
    follow_create,
    mute_create,
    system_actor_get,
)
from tests.factories import local_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    """A test client logged in as a local superuser (created through `user_create`)."""
    admin = local_account("boss", is_admin=True)
    client.force_login(admin.user)
    return client


@pytest.fixture
def rows(alice, bob, carol, remote):
    """One row of every model the admin shows."""
    follow = follow_create(follower=alice, target=bob)
    block = block_create(account=carol, target=alice)
    mute = mute_create(account=bob, target=carol)
    domain_block = AccountDomainBlock.objects.create(account=alice, domain=remote.domain)
    return {
        User: alice.user,
        Account: alice,
        Follow: follow,
        Block: block,
        Mute: mute,
        AccountDomainBlock: domain_block,
    }


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:accounts_{model._meta.model_name}_{view}", args=args)


def run_action(client, model, action: str, objects) -> list[str]:
    """POST an admin action to the changelist; return the messages shown after the redirect."""
    response = client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(o.pk) for o in objects]},
        follow=True,
    )
    assert response.redirect_chain == [(admin_url(model, "changelist"), 302)]
    return [m.message for m in response.context["messages"]]


MODELS = [User, Account, Follow, Block, Mute, AccountDomainBlock]


# --- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_pages_load(admin_client, rows, model):
    obj = rows[model]

    changelist = admin_client.get(admin_url(model, "changelist"))
    change = admin_client.get(admin_url(model, "change", obj.pk))

    assert changelist.status_code == 200
    assert obj in list(changelist.context["cl"].result_list)
    assert change.status_code == 200
    assert change.context["original"] == obj


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_search_and_filters_load(admin_client, rows, model):
    response = admin_client.get(admin_url(model, "changelist"), {"q": "alice"})
    assert response.status_code == 200


def test_account_filters_and_acct_search(admin_client, alice, remote):
    account_suspend(account=alice)
    url = admin_url(Account, "changelist")

    suspended = admin_client.get(url, {"suspended": "yes"})
    remote_only = admin_client.get(url, {"origin": "remote"})
    by_acct = admin_client.get(url, {"q": "@ZED@social.example"})

    assert list(suspended.context["cl"].result_list) == [alice]
    assert list(remote_only.context["cl"].result_list) == [remote]
    assert list(by_acct.context["cl"].result_list) == [remote]


def test_account_change_page_never_shows_the_private_key(admin_client, alice):
    response = admin_client.get(admin_url(Account, "change", alice.pk))

    assert response.status_code == 200
    assert "PRIVATE KEY" not in response.text
    assert alice.private_key_pem.splitlines()[1] not in response.text
    assert alice.public_key_pem.splitlines()[1] in response.text


def test_accounts_cannot_be_added_changed_or_deleted_through_forms(admin_client, alice):
    change_url = admin_url(Account, "change", alice.pk)

    assert admin_client.get(admin_url(Account, "add")).status_code == 403
    assert admin_client.post(change_url, {"display_name": "Hacked"}).status_code == 403
    assert admin_client.get(admin_url(Account, "delete", alice.pk)).status_code == 403
    assert 'name="_save"' not in admin_client.get(change_url).text
    alice.refresh_from_db()
    assert alice.display_name == ""


@pytest.mark.parametrize(
    "model", [Follow, Block, Mute, AccountDomainBlock], ids=lambda m: m.__name__
)
def test_relations_are_read_only(admin_client, rows, model):
    obj = rows[model]

    assert admin_client.get(admin_url(model, "add")).status_code == 403
    assert admin_client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == (
        403
    )
    assert model.objects.filter(pk=obj.pk).exists()


def test_users_cannot_be_added_or_deleted(admin_client, alice):
    assert admin_client.get(admin_url(User, "add")).status_code == 403
    assert admin_client.post(
        admin_url(User, "delete", alice.user_id), {"post": "yes"}
    ).status_code == (403)
    assert User.objects.filter(pk=alice.user_id).exists()


def test_user_change_form_edits_rights_but_not_identity_or_login_state(admin_client, alice):
    user = alice.user
    response = admin_client.post(
        admin_url(User, "change", user.pk),
        {
            "is_staff": "on",
            "username": "mallory",
            "email": "mallory@example.org",
            "is_active": "",
            "approval": "pending",
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_staff
    assert user.username == "alice"
    assert user.email == "alice@example.org"
    assert user.is_active
    assert user.approval == User.Approval.APPROVED


def test_non_staff_users_are_sent_to_the_login_page(client, alice):
    client.force_login(alice.user)
    response = client.get(admin_url(Account, "changelist"))
    assert response.status_code == 302
    assert "/login/" in response.url


@pytest.mark.parametrize("model", [Account, Follow, User], ids=lambda m: m.__name__)
def test_changelists_do_not_query_per_row(admin_client, model):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        return len(ctx.captured_queries)

    hub = local_account("hub")
    people = [local_account(f"p{i}") for i in range(2)]
    for person in people:
        follow_create(follower=person, target=hub)
    before = queries()
    for i in range(6):
        follow_create(follower=local_account(f"q{i}"), target=hub)

    assert queries() == before


# --- actions -----------------------------------------------------------------------------------


def test_suspend_and_unsuspend_actions(admin_client, alice, bob, payloads):
    messages = run_action(admin_client, Account, "suspend_accounts", [alice, bob])

    assert messages == ["2 rows suspended."]
    for account in (alice, bob):
        account.refresh_from_db()
        assert account.is_suspended
        assert not User.objects.get(pk=account.user_id).is_active
    assert {p["account_id"] for p in payloads("account.suspended")} == {alice.id, bob.id}

    messages = run_action(admin_client, Account, "suspend_accounts", [alice])
    assert messages == ["0 rows suspended."]
    assert len(payloads("account.suspended")) == 2

    messages = run_action(admin_client, Account, "unsuspend_accounts", [alice])

    assert messages == ["1 row unsuspended."]
    alice.refresh_from_db()
    assert not alice.is_suspended
    assert User.objects.get(pk=alice.user_id).is_active
    assert [p["account_id"] for p in payloads("account.unsuspended")] == [alice.id]


def test_suspend_action_reports_refused_system_actors(admin_client, alice):
    instance = system_actor_get(role=Account.Role.INSTANCE)

    messages = run_action(admin_client, Account, "suspend_accounts", [alice, instance])

    assert messages[0] == "1 row suspended."
    assert messages[1].startswith("1 refused:")
    assert "System actors cannot be suspended." in messages[1]
    assert not Account.objects.get(pk=instance.pk).is_suspended
    assert Account.objects.get(pk=alice.pk).is_suspended


def test_silence_and_unsilence_actions(admin_client, alice, remote):
    account_silence(account=remote, silenced=True)
    remote.refresh_from_db()
    first = remote.silenced_at

    messages = run_action(admin_client, Account, "silence_accounts", [alice, remote])

    assert messages == ["1 row silenced."]
    alice.refresh_from_db()
    remote.refresh_from_db()
    assert alice.is_silenced
    assert remote.silenced_at == first

    messages = run_action(admin_client, Account, "unsilence_accounts", [alice, remote])

    assert messages == ["2 rows unsilenced."]
    assert not Account.objects.filter(pk__in=[alice.pk, remote.pk], silenced_at__isnull=False)


def test_approve_action(admin_client, alice):
    first = local_account("first", approved=False)
    second = local_account("second", approved=False)

    messages = run_action(
        admin_client, User, "approve_users", [first.user, second.user, alice.user]
    )

    assert messages == ["2 rows approved."]
    for account in (first, second):
        user = User.objects.get(pk=account.user_id)
        assert user.approval == User.Approval.APPROVED
        assert user.is_active


def test_reject_action_deletes_pending_sign_ups_and_refuses_others(admin_client, alice):
    pending = local_account("pending", approved=False)

    messages = run_action(admin_client, User, "reject_users", [pending.user, alice.user])

    assert messages[0] == "1 row rejected."
    assert messages[1] == "1 refused: alice: Only a pending sign-up can be rejected."
    assert not User.objects.filter(username="pending").exists()
    assert not Account.objects.filter(pk=pending.pk).exists()
    assert User.objects.filter(pk=alice.user_id).exists()


def test_actions_need_the_change_permission(client, alice):
    # Staff who may only view accounts see the list but cannot run the actions.
    helper = local_account("helper").user
    helper.is_staff = True
    helper.save(update_fields=["is_staff"])
    helper.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(helper)

    page = client.get(admin_url(Account, "changelist"))
    response = client.post(
        admin_url(Account, "changelist"),
        {"action": "suspend_accounts", "_selected_action": [str(alice.pk)]},
    )

    assert page.status_code == 200
    assert "suspend_accounts" not in page.text
    assert response.status_code == 200
    assert not Account.objects.get(pk=alice.pk).is_suspended
