"""Shared helpers for the benchmarks: bench database, COPY seeding, servers, load, reporting.

Benchmarks run against a dedicated PostgreSQL database (`ourvoice_bench` by default) on the
local server and never touch the test or CI databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB", "ourvoice_bench")
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
EPOCH_MS = 1_577_836_800_000


def snowflake_at(ms: int, rnd: random.Random) -> int:
    """An id shaped like ourvoice.core.ids for a given unix time in milliseconds."""
    return ((ms - EPOCH_MS) << 22) | rnd.getrandbits(22)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OURVOICE_", "MODERATION_"))}
    env.update(
        DATABASE_URL=f"{PG_ADMIN_URL}/{BENCH_DB}",
        REDIS_URL=REDIS_URL,
        OURVOICE_SECRET_KEY="bench-secret-key-not-for-production",
        OURVOICE_DEBUG="0",
        OURVOICE_SCHEME="http",
        OURVOICE_DOMAIN=f"127.0.0.1:{port}",
        OURVOICE_RATE_LIMITS="off",
        OURVOICE_REGISTRATION="open",
        DJANGO_SETTINGS_MODULE="ourvoice.settings",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_ADMIN_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def run_manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process against the bench database."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def copy_rows(
    cursor: Any,
    model: Any,
    rows: Iterable[dict[str, Any]],
    *,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY rows (dicts of field attnames) into a model's table; fills field defaults."""
    from django.db.models import NOT_PROVIDED

    fields = list(model._meta.concrete_fields)
    columns = [f.column for f in fields]
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.has_default() and not callable(f.default):
            defaults[f.attname] = f.default
        elif f.has_default() and f.default is not NOT_PROVIDED:
            try:
                value = f.default()
            except TypeError:
                value = None
            defaults[f.attname] = value
        elif f.null:
            defaults[f.attname] = None
    table = model._meta.db_table
    count = 0
    rows_iter = iter(rows)
    while True:
        batch = []
        for row in rows_iter:
            batch.append(row)
            if len(batch) >= chunk:
                break
        if not batch:
            break
        with cursor.copy(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN') as cp:
            for row in batch:
                values = []
                for f in fields:
                    value = row[f.attname] if f.attname in row else defaults.get(f.attname)
                    values.append(_adapt(value, f))
                cp.write_row(values)
        count += len(batch)
        if progress:
            progress(count)
    return count


def _adapt(value: Any, f: Any) -> Any:
    from django.db.models import JSONField

    if isinstance(f, JSONField) and value is not None:
        return json.dumps(value)
    return value


def progress_printer(label: str, total: int) -> Callable[[int], None]:
    start = time.monotonic()

    def report(done: int) -> None:
        rate = done / max(time.monotonic() - start, 1e-6)
        print(f"  {label}: {done:,}/{total:,} ({rate:,.0f}/s)", flush=True)

    return report


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str], port: int, *, health: str = "/health", timeout: float = 60
) -> Iterator[subprocess.Popen]:
    """Start a server process, wait until `health` answers 200, stop it afterwards."""
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                status, _ = http_get("127.0.0.1", port, health, {})
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in time")
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def http_get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One blocking GET with a fresh connection (gunicorn sync workers close them anyway)."""
    with socket.create_connection((host, port), timeout=30) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status, body


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def _one_request(host: str, port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]) if data else 0


def load(
    host: str,
    port: int,
    make_request: Callable[[random.Random], tuple[str, dict]],
    *,
    concurrency: int,
    duration: float,
    seed: int = 1,
) -> LoadResult:
    """Closed-loop load: `concurrency` workers send requests for `duration` seconds.

    A raw asyncio HTTP/1.1 client (~35 µs CPU per request) so the load generator takes as
    little as possible of the two cores it shares with the server.
    """
    rnd = random.Random(seed)

    def raw_for() -> bytes:
        path, headers = make_request(rnd)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}Connection: close\r\n\r\n"
        ).encode()

    async def run() -> LoadResult:
        result = LoadResult(0, 0, 0.0)
        stop_at = time.monotonic() + duration

        async def worker() -> None:
            while time.monotonic() < stop_at:
                raw = raw_for()
                t0 = time.perf_counter()
                try:
                    status = await _one_request(host, port, raw)
                except OSError:
                    status = 0
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.requests += 1
                if status != 200:
                    result.errors += 1

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.monotonic() - start
        return result

    return asyncio.run(run())


def machine_info() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the `<!-- bench:name -->` section of docs/benchmarks.md."""
    path = ROOT / "docs" / "benchmarks.md"
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmarks\n\nFigures written by the scripts under `bench/`; each section is "
            "replaced by the next run of its script. Machine: the project's standard 2-core box "
            "unless noted.\n"
        )
    )
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = (
        f"{start}\n{markdown.rstrip()}\n\n_Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{machine_info()}._\n{end}"
    )
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def stream(buffer: io.StringIO) -> None:  # pragma: no cover - debugging helper
    print(buffer.getvalue())
