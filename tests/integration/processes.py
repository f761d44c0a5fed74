"""Helpers for tests that run real processes: Celery workers, bounded waits, the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings

from ourvoice.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("inbox", "delivery", "default")


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    details: Callable[[], str] = lambda: "",
) -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{details()}")


def worker_database_url() -> str:
    """URL of the database pytest-django created for this run (what the worker must use)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    host = db.get("HOST") or "localhost"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(db['NAME'], safe='')}"


def broker_url() -> str:
    """The broker for worker tests: a Redis database of its own.

    Django's `RedisCache.clear()` is a FLUSHDB, and the shared test fixtures clear the cache
    before every test, so any other test run sharing `REDIS_URL` would wipe queued messages.
    An explicit CELERY_BROKER_URL is used as given.
    """
    if settings.CELERY_BROKER_URL != settings.REDIS_URL:
        return settings.CELERY_BROKER_URL
    return urlunsplit(urlsplit(settings.REDIS_URL)._replace(path="/15"))


def redis_client():
    import redis

    return redis.Redis.from_url(broker_url())


def flush_celery_queues() -> None:
    """Drop messages left in the broker by earlier runs (and kombu's unacked bookkeeping)."""
    client = redis_client()
    # kombu's Redis transport keeps one list per queue and priority step ("default\x06\x163").
    keys = [f"{q}{suffix}" for q in QUEUES for suffix in ["", *(f"\x06\x16{p}" for p in range(10))]]
    client.delete(*keys, "unacked", "unacked_index", "unacked_mutex")


def queue_lengths() -> dict[str, int]:
    client = redis_client()
    return {q: int(client.llen(q)) for q in QUEUES}


class Worker:
    """One `celery -A ourvoice worker -Q inbox,delivery,default` process writing to a log file."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60) -> Worker:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ourvoice",
            "worker",
            "-Q",
            ",".join(QUEUES),
            "-P",
            "solo",
            "--loglevel=info",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: " ready." in self.log() or self.process.poll() is not None,
            timeout=timeout,
            what="the Celery worker to be ready",
            details=self.tail,
        )
        if self.process.poll() is not None:
            pytest.fail(f"the Celery worker exited with {self.process.returncode}\n{self.tail()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "worker log (tail):\n" + "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, text: str, *, timeout: float = 30) -> None:
        wait_until(lambda: text in self.log(), timeout=timeout, what=repr(text), details=self.tail)

    def wait_for_task(self, task_id: str, name: str, *, timeout: float = 30) -> None:
        self.wait_for_log(f"Task {name}[{task_id}] succeeded", timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: the worker dies at once, without acking or finishing anything."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # warm shutdown
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def use_broker(url: str) -> None:
    """Point this process's Celery app at `url`.

    Celery keeps a connection pool and a producer pool per app; forget both, as Celery itself
    does after a fork (`Celery._after_fork`), so the next message goes to the new broker.
    """
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
