"""Fixtures for integration tests: real Celery workers on the test database and Redis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from ourvoice.celery import app as celery_app
from tests.integration.processes import (
    Worker,
    broker_url,
    flush_celery_queues,
    use_broker,
    worker_database_url,
)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    """Start real workers on the test database and Redis; all are stopped after the test."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ourvoice.settings",
        DATABASE_URL=worker_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=broker_url(),
        OURVOICE_SECRET_KEY=settings.SECRET_KEY,
        OURVOICE_DOMAIN="testserver",
        OURVOICE_SCHEME=settings.OURVOICE_SCHEME,
        PYTHONUNBUFFERED="1",
    )
    flush_celery_queues()
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(tmp_path / f"worker-{len(workers) + 1}.log", env)
        workers.append(worker)
        return worker.start()

    previous = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False  # tasks go through Redis to the real worker
    use_broker(broker_url())
    try:
        yield start
    finally:
        celery_app.conf.task_always_eager = previous[0]
        use_broker(previous[1])
        for worker in workers:
            worker.stop()
        flush_celery_queues()
