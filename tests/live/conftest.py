"""A live instance (gunicorn + Celery worker + its own PostgreSQL and Redis databases)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.harness import LiveInstance


@pytest.fixture(scope="module")
def instance(request: pytest.FixtureRequest) -> Iterator[LiveInstance]:
    name = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")
    live = LiveInstance(name, redis_db=3)
    try:
        live.start()
        yield live
    finally:
        live.stop()
