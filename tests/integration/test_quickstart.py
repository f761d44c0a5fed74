"""The zero-setup path: `manage.py quickstart` on SQLite, then uvicorn, then an admin login.

Needs no PostgreSQL or Redis, so it runs (and must pass) everywhere.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.processes import ROOT, wait_until


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _embedded_env(database: Path, port: int) -> dict[str, str]:
    """A developer's shell: debug on, a SQLite file, no Redis, nothing from the test run."""
    prefixes = ("OURVOICE_", "MODERATION_", "CELERY_", "DJANGO_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(prefixes) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        OURVOICE_DEBUG="1",
        DATABASE_URL=f"sqlite:///{database}",
        OURVOICE_DOMAIN=f"127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    return env


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _quickstart(env: dict[str, str]) -> tuple[str, str, str]:
    result = subprocess.run(
        [sys.executable, "manage.py", "quickstart", "--no-serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    login = re.search(r"^\s*login:\s+(\S+)\s*$", result.stdout, re.MULTILINE)
    password = re.search(r"^\s*password:\s+(\S+)\s*$", result.stdout, re.MULTILINE)
    assert login, result.stdout
    assert password, result.stdout
    return login.group(1), password.group(1), result.stdout


def test_quickstart_then_admin_login(tmp_path):
    port = _free_port()
    env = _embedded_env(tmp_path / "quickstart.sqlite3", port)
    login, first_password, output = _quickstart(env)
    assert login == "admin"
    assert f"http://127.0.0.1:{port}/admin/" in output
    # Running it again (a developer restarting) keeps the data and prints a new password.
    again, password, _ = _quickstart(env)
    assert again == login
    assert password != first_password

    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "ourvoice.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: server.poll() is not None or _up(base),
            timeout=90,
            interval=0.25,
            what="uvicorn to answer /health",
            details=lambda: log_path.read_text(errors="replace"),
        )
        assert server.poll() is None, log_path.read_text(errors="replace")

        with httpx.Client(base_url=base, timeout=20, follow_redirects=True) as http:
            # Not logged in: the admin sends us to its login page.
            page = http.get("/admin/")
            assert page.status_code == 200
            assert str(page.url).startswith(f"{base}/admin/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token, page.text[:2000]

            wrong = http.post(
                "/admin/login/?next=/admin/",
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": login,
                    "password": first_password,  # replaced by the second run
                    "next": "/admin/",
                },
                headers={"Origin": base, "Referer": str(page.url)},
            )
            assert wrong.status_code == 200
            assert "Please enter the correct" in wrong.text
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', wrong.text)
            assert token

            index = http.post(
                "/admin/login/?next=/admin/",
                data={
                    "csrfmiddlewaretoken": token.group(1),
                    "username": login,
                    "password": password,
                    "next": "/admin/",
                },
                headers={"Origin": base, "Referer": f"{base}/admin/login/?next=/admin/"},
            )
            assert index.status_code == 200, index.text[:2000]
            assert str(index.url) == f"{base}/admin/"
            assert "Site administration" in index.text
            assert "OUR Voice administration" in index.text
            assert "Outbox events" in index.text  # the core admin is mounted
            assert "Log out" in index.text
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
