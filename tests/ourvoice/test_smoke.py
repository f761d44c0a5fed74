import pytest

from ourvoice.accounts.models import Account
from ourvoice.posts.services import post_create
from tests.factories import local_account


@pytest.mark.django_db
def test_migrate_bootstraps_system_actors():
    roles = set(Account.objects.local().values_list("role", flat=True))
    assert {"instance", "moderation"} <= roles


@pytest.mark.django_db
def test_post_and_outbox(outbox):
    alice = local_account("alice")
    bob = local_account("bob")
    post = post_create(author=alice, text="hello @bob #Tag")
    assert outbox.kinds()[-1] == "post.created"
    assert outbox.drain() >= 3
    assert bob.notifications.filter(type="mention", post=post).count() == 1
