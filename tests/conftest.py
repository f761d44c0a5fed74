"""Shared fixtures: backend checks (PostgreSQL/Redis), eager Celery, outbox draining, actors."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from ourvoice.celery import app as celery_app

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes", "on"}

# Property tests run the same examples on every CI run (no flaky red builds); developers keep
# random exploration locally.
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def require(condition: bool, reason: str) -> None:
    """Skip with `reason` when `condition` is false; under CI=true such a skip is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true but this test cannot run: {reason}")
    pytest.skip(reason)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _backend_markers(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("postgres"):
        require(is_postgres(), "needs PostgreSQL: set DATABASE_URL to a postgres:// URL")
    if request.node.get_closest_marker("redis") or request.node.get_closest_marker("integration"):
        require(bool(settings.REDIS_URL), "needs Redis: set REDIS_URL")


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest):
    """Unit and service tests run tasks in-process (decisions.md, Two layers of tests)."""
    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    return


class Outbox:
    """Helpers to look at and dispatch the outbox inside a test transaction."""

    def kinds(self) -> list[str]:
        from ourvoice.core.models import OutboxEvent

        return list(OutboxEvent.objects.order_by("id").values_list("kind", flat=True))

    def drain(self) -> int:
        from ourvoice.events import outbox_drain

        return outbox_drain()


@pytest.fixture
def outbox(db) -> Outbox:
    return Outbox()


_KEYPAIR_CACHE: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _fast_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reuse one RSA key pair for test users (2048-bit generation costs ~100 ms each).

    Tests marked `real_keys` (and integration tests) generate real, distinct keys.
    """
    if request.node.get_closest_marker("real_keys") or request.node.get_closest_marker(
        "integration"
    ):
        return
    from ourvoice.accounts import services
    from ourvoice.core.keys import rsa_keypair_generate

    if not _KEYPAIR_CACHE:
        _KEYPAIR_CACHE.append(rsa_keypair_generate())
    monkeypatch.setattr(services, "rsa_keypair_generate", lambda: _KEYPAIR_CACHE[0])


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    """PBKDF2's 10^6 rounds cost ~0.5 s per password; tests don't need that protection."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "ourvoice.core.hashers.RandomSecretHasher",
    ]


@pytest.fixture(autouse=True)
def _system_actors(request: pytest.FixtureRequest) -> None:
    """`migrate` creates the instance and moderation actors; transactional tests flush every
    table afterwards, so recreate them for tests that run later with database access."""
    if "django_db_setup" not in request.fixturenames:
        return
    import importlib

    from django.apps import apps

    from ourvoice.accounts.models import Account

    try:
        present = Account.objects.filter(domain="", role__in=["instance", "moderation"]).count()
    except RuntimeError:
        return  # database access comes later, through a fixture of the test's own
    if present == 2:
        return
    migration = importlib.import_module("ourvoice.accounts.migrations.0002_system_actors")
    migration.create_system_actors(apps, None)


@pytest.fixture
def small_moderation_rule(settings):
    """Moderation knobs for small scenarios: T = 3 weight units from at least 3 voters, every
    voter at full weight from day one, removal at once (no grace), no burst alarm, no cohort
    cap, 20 votes per day. Tests change single knobs on top with the `settings` fixture."""
    settings.MODERATION_REMOVAL_THRESHOLD = 3.0
    settings.MODERATION_MIN_DISTINCT_VOTERS = 3
    settings.MODERATION_MIN_ACCOUNT_AGE_DAYS = 0
    settings.MODERATION_AGE_RAMP_DAYS = 0
    settings.MODERATION_GRACE_SECONDS = 0
    settings.MODERATION_BURST_FRACTION = 0
    settings.MODERATION_COHORT_CAP_FRACTION = 0
    settings.MODERATION_VOTES_PER_DAY = 20
    return settings
