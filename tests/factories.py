"""factory_boy factories for domain rows. Local users go through the real service."""

from __future__ import annotations

import factory

from ourvoice.accounts.models import Account
from ourvoice.accounts.services import user_create

PASSWORD = "correct horse battery staple"


def local_account(username: str | None = None, **kwargs) -> Account:
    """A local user and its account, created by `user_create` (keys, outbox event and all)."""
    name = username or f"user{factory.Faker._get_faker().unique.random_int(1, 10**9)}"
    user = user_create(username=name, email=f"{name}@example.org", password=PASSWORD, **kwargs)
    return user.account


class RemoteAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    username = factory.Sequence(lambda n: f"remote{n}")
    domain = factory.Sequence(lambda n: f"remote{n % 7}.example")
    uri = factory.LazyAttribute(lambda o: f"https://{o.domain}/users/{o.username}")
    url = factory.LazyAttribute(lambda o: f"https://{o.domain}/@{o.username}")
    inbox_uri = factory.LazyAttribute(lambda o: f"{o.uri}/inbox")
    shared_inbox_uri = factory.LazyAttribute(lambda o: f"https://{o.domain}/inbox")
    followers_uri = factory.LazyAttribute(lambda o: f"{o.uri}/followers")
    key_id = factory.LazyAttribute(lambda o: f"{o.uri}#main-key")
