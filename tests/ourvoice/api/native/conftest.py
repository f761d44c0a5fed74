"""Fixtures for native API tests: moderation knobs small enough to decide cases in a test."""

from __future__ import annotations

import pytest

from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.ourvoice.api.conftest import ApiClient, make_token


@pytest.fixture(autouse=True)
def _knobs(settings):
    settings.MODERATION_REMOVAL_THRESHOLD = 3.0
    settings.MODERATION_MIN_DISTINCT_VOTERS = 3
    settings.MODERATION_MIN_ACCOUNT_AGE_DAYS = 0
    settings.MODERATION_AGE_RAMP_DAYS = 0
    settings.MODERATION_GRACE_SECONDS = 0
    settings.MODERATION_BURST_FRACTION = 0
    settings.MODERATION_COHORT_CAP_FRACTION = 0
    settings.MODERATION_VOTES_PER_DAY = 20


@pytest.fixture
def carol(db):
    return local_account("carol")


@pytest.fixture
def bob_post(bob):
    return post_create(author=bob, text="a contested opinion")


def client_for(account, scopes: str = "read write follow push") -> ApiClient:
    return ApiClient(make_token(account.user, scopes=scopes))
