"""Fixtures for the accounts tests: a few local people, a remote actor, outbox payloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ourvoice.accounts.models import Account
from ourvoice.core.models import OutboxEvent
from tests.factories import RemoteAccountFactory, local_account


@pytest.fixture
def alice(db) -> Account:
    return local_account("alice")


@pytest.fixture
def bob(db) -> Account:
    return local_account("bob")


@pytest.fixture
def carol(db) -> Account:
    return local_account("carol")


@pytest.fixture
def remote(db) -> Account:
    return RemoteAccountFactory(username="zed", domain="social.example")


@pytest.fixture
def payloads(db) -> Callable[[str], list[dict[str, Any]]]:
    """Payloads of the outbox events of one kind, oldest first."""

    def _payloads(kind: str) -> list[dict[str, Any]]:
        return list(
            OutboxEvent.objects.filter(kind=kind).order_by("id").values_list("payload", flat=True)
        )

    return _payloads
