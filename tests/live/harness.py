"""A real OUR Voice instance for integration tests: its own PostgreSQL database and Redis
database, `manage.py migrate`, gunicorn (2 workers) and a Celery worker on loopback; with
`streaming=True` also the `streaming` process (uvicorn on `ourvoice.asgi`) on its own port,
advertised through `OURVOICE_STREAMING_URL`.

Used by the client tests (Mastodon.py, toot, browsers) and the federation end-to-end tests,
which start two of these side by side.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin_conninfo() -> str:
    db = settings.DATABASES["default"]
    parts = [
        f"host={db.get('HOST') or '127.0.0.1'}",
        f"port={db.get('PORT') or 5432}",
        f"user={db.get('USER') or 'postgres'}",
        "dbname=postgres",
    ]
    if db.get("PASSWORD"):
        parts.append(f"password={db['PASSWORD']}")
    return " ".join(parts)


def _pg_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"


class LiveInstance:
    """One running instance. `start()` and `stop()` are idempotent; always call `stop()`."""

    def __init__(
        self, name: str, *, redis_db: int, streaming: bool = False, **env_extra: str
    ) -> None:
        self.name = name
        self.port = free_port()
        self.streaming = streaming
        self.streaming_port = free_port() if streaming else None
        self.streaming_base = f"http://127.0.0.1:{self.streaming_port}" if streaming else None
        self._streaming_proc: subprocess.Popen | None = None
        self.domain = f"127.0.0.1:{self.port}"
        self.base = f"http://{self.domain}"
        self.db_name = f"ourvoice_live_{name}"
        redis_base = settings.REDIS_URL.rsplit("/", 1)[0]
        self.redis_url = f"{redis_base}/{redis_db}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OURVOICE_", "MODERATION_", "DJANGO_"))
        }
        self.env.update(
            DATABASE_URL=_pg_url(self.db_name),
            REDIS_URL=self.redis_url,
            OURVOICE_SECRET_KEY=f"live-test-secret-{name}",
            OURVOICE_DEBUG="0",
            OURVOICE_SCHEME="http",
            OURVOICE_DOMAIN=self.domain,
            OURVOICE_RATE_LIMITS="off",
            OURVOICE_REGISTRATION="open",
            OURVOICE_OAUTH_PASSWORD_GRANT="on",
            OURVOICE_ALLOWED_PRIVATE_ADDRESSES="127.0.0.0/8",
            DJANGO_SETTINGS_MODULE="ourvoice.settings",
            PYTHONUNBUFFERED="1",
        )
        if streaming:
            self.env["OURVOICE_STREAMING_URL"] = f"ws://127.0.0.1:{self.streaming_port}"
        self.env.update(env_extra)
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[str, Path] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> LiveInstance:
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        self.manage("migrate", "--noinput")
        self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "ourvoice.wsgi",
                "-w",
                "2",
                "-b",
                self.domain,
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
        )
        self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ourvoice",
                "worker",
                "-Q",
                "inbox,delivery,default",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "info",
            ],
        )
        if self.streaming:
            self.start_streaming()
        self.wait_healthy()
        return self

    def start_streaming(self) -> None:
        """Start the streaming process (uvicorn) and wait until its health check answers."""
        assert self.streaming_port is not None, "created without streaming=True"
        self._spawn(
            "streaming",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ourvoice.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.streaming_port),
                "--log-level",
                "warning",
                *self.streaming_args,
            ],
        )
        self._streaming_proc = self.procs[-1]
        self._wait_ok(f"{self.streaming_base}/api/v1/streaming/health", "streaming")

    #: Extra uvicorn arguments for the streaming process (tests shorten the ping interval).
    streaming_args: tuple[str, ...] = ()

    def stop_streaming(self) -> None:
        """Stop only the streaming process (SIGTERM, then SIGKILL), as a restart would."""
        proc = self._streaming_proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        self.procs.remove(proc)
        self._streaming_proc = None

    def _wait_ok(self, url: str, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: a process exited early\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: {what} did not become healthy\n{self.tail()}")

    def _spawn(self, role: str, cmd: list[str]) -> None:
        log = Path(f"/tmp/ourvoice-live-{self.name}-{role}.log")
        self.logs[role] = log
        handle = log.open("wb")
        self.procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.name}: a process exited early\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not become healthy\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        out = []
        for role, path in self.logs.items():
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {role} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    # --- helpers ----------------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def create_user(
        self,
        username: str,
        password: str = "correct horse battery staple",
        *,
        admin: bool = False,
        locked: bool = False,
    ) -> dict[str, str]:
        args = [
            "create_account",
            username,
            "--email",
            f"{username}@example.org",
            "--password",
            password,
        ]
        if admin:
            args.append("--admin")
        if locked:
            args.append("--locked")
        self.manage(*args)
        return {"username": username, "email": f"{username}@example.org", "password": password}


# --- client API helpers (federation end-to-end and interop tests) -------------------------------


class ApiClient:
    """A signed-in Mastodon API client (bearer token from the password grant) for one user."""

    def __init__(self, instance: LiveInstance, username: str, token: str) -> None:
        self.instance = instance
        self.username = username
        self.http = httpx.Client(
            base_url=instance.base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, **data: object) -> httpx.Response:
        return self.http.post(path, json=data)

    def put(self, path: str, **data: object) -> httpx.Response:
        return self.http.put(path, json=data)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def ok(self, method: str, path: str, **kwargs: object) -> object:
        """JSON of a request that must succeed (2xx), else an AssertionError with the body."""
        response = getattr(self, method)(path, **kwargs)
        assert response.is_success, (
            f"{method.upper()} {path} → {response.status_code}: {response.text[:500]}"
        )
        return response.json()

    def close(self) -> None:
        self.http.close()


def api_login(
    instance: LiveInstance, user: dict[str, str], scopes: str = "read write follow push"
) -> ApiClient:
    """Register an app on `instance` and sign `user` in with the password grant."""
    app = httpx.post(
        f"{instance.base}/api/v1/apps",
        json={
            "client_name": "OUR Voice live test",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": scopes,
        },
        timeout=30,
    )
    app.raise_for_status()
    token = httpx.post(
        f"{instance.base}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app.json()["client_id"],
            "client_secret": app.json()["client_secret"],
            "username": user["username"],
            "password": user["password"],
            "scope": scopes,
        },
        timeout=30,
    )
    assert token.status_code == 200, token.text
    return ApiClient(instance, user["username"], token.json()["access_token"])


def wait_until(
    probe: Callable[[], T | None],
    what: str,
    *,
    timeout: float = 30.0,
    step: float = 0.3,
    instances: Iterable[LiveInstance] = (),
) -> T:
    """Poll `probe` until it returns something truthy (returned); after `timeout` seconds fail
    with `what` and the log tails of `instances` (delivery is asynchronous)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, AssertionError, KeyError, IndexError) as exc:
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"===== {i.name} =====\n{i.tail()}" for i in instances)
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}"
                f" (last error: {last!r})\n{tails}"
            )
        time.sleep(step)
