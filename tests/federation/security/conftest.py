"""Fixtures for the inbox/fetch security regressions: a fake remote server, no processing."""

from __future__ import annotations

import pytest

from federation import tasks_inbox
from tests.federation.remote import Remote, reset_caches, stub_dns


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture(autouse=True)
def kicks(monkeypatch):
    """Record the inbox's processing kicks instead of running the batch in-process."""
    calls: list[int] = []
    monkeypatch.setattr(tasks_inbox, "inbox_kick", lambda: calls.append(1))
    return calls


@pytest.fixture
def dns(monkeypatch):
    return stub_dns(monkeypatch)


@pytest.fixture
def remote(httpx_mock, dns):
    return Remote(httpx_mock)
