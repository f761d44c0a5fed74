"""`/health`: 200 with each component's state when all answer, 503 when one does not."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from ourvoice import views


class _BrokenConnection:
    def cursor(self) -> None:
        raise OperationalError("connection refused")


@pytest.mark.django_db
def test_health_ok_without_redis(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}


@pytest.mark.redis
@pytest.mark.django_db
def test_health_ok_with_redis(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_health_503_when_the_database_fails(client, monkeypatch, settings):
    settings.REDIS_URL = ""
    monkeypatch.setattr(views, "connection", _BrokenConnection())
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "redis": "not configured"}
    assert b"connection refused" not in response.content  # no internals leak to the public


@pytest.mark.django_db
def test_health_503_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "redis": "error"}
