"""ST-1: live streaming fan-out on one streaming process.

Starts one `streaming` process (`uvicorn ourvoice.asgi:application`, Redis channel layer),
connects 1,000 WebSocket clients to it (`?stream=public`, token in `Sec-WebSocket-Protocol`
as masto.js sends it) from a separate client process, then creates 100 public posts through
the real path — `post_create` → outbox → `ourvoice.events` consumers (the streaming consumer
renders the Status once and publishes it to the channel layer) — and records when each client
receives each `update`. Prints, over the 100,000 deliveries:

- delivery latency p50/p99 from the start of `post_create` (end to end) and from its commit
  (outbox dispatch, rendering, channel layer, hub, socket),
- deliveries/s while the posts were being published and delivered.

Goal: p99 under 500 ms on the project's 2-core box (the server, the publisher and the client
process share it). The open-file limit is raised to its hard limit (1,000 sockets on each side).

Usage: `uv run python bench/streaming.py [--clients 1000] [--events 100] [--interval 0]`
(`--interval` seconds between posts; 0 = back to back). Figures are printed and written to
docs/benchmarks.md. Uses its own database (`ourvoice_bench_streaming`) and Redis db 12.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("BENCH_DB", "ourvoice_bench_streaming")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DB,
    REDIS_URL,
    ROOT,
    bench_env,
    django_setup,
    free_port,
    http_get,
    recreate_database,
    run_manage,
    write_section,
)

TOKENS_PER_USER = 40
#: As docker-compose.yml runs the streaming process: per-message deflate off (Mastodon's
#: streaming server has it off too). With it on, uvicorn compresses every frame once per
#: connection: on this box p99 531 ms and 11,655 deliveries/s instead of about 300 ms and 14,400.
STREAMING_ARGS = ["--ws-per-message-deflate", "false"]


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the client process -------------------------------------------------------------------------


async def _clients(url: str, tokens: list[str], expected: int, out: str, timeout: float) -> None:
    import orjson
    from websockets.asyncio.client import connect

    received: list[tuple[str, float, float]] = []  # (status id, receive time, publish time)
    done = asyncio.Event()

    closed: list[str] = []

    async def one(token: str, ready: asyncio.Event) -> None:
        try:
            await listen(token, ready)
        except Exception as exc:
            closed.append(repr(exc))
        else:
            closed.append("closed by the server")

    async def listen(token: str, ready: asyncio.Event) -> None:
        async with connect(
            f"{url}/api/v1/streaming?stream=public",
            subprotocols=[token],
            ping_interval=None,
            max_queue=None,
            open_timeout=60,
        ) as ws:
            ready.set()
            async for text in ws:
                now = time.time()
                frame = orjson.loads(text)
                if frame.get("event") != "update":
                    continue
                status = orjson.loads(frame["payload"])
                received.append((status["id"], now, 0.0))
                if len(received) >= expected:
                    done.set()

    tasks = []
    for i, token in enumerate(tokens):
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(one(token, ready)))
        await asyncio.wait_for(ready.wait(), 60)
        if i % 200 == 199:
            print(f"  clients connected: {i + 1}", file=sys.stderr, flush=True)
    print("READY", flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    except TimeoutError:
        print(f"  timeout: {len(received)} of {expected} deliveries", file=sys.stderr, flush=True)
    if closed:
        print(f"  {len(closed)} connections ended early: {closed[:3]}", file=sys.stderr, flush=True)
    for task in tasks:
        task.cancel()
    Path(out).write_bytes(orjson.dumps(received))


def client_main(args: argparse.Namespace) -> None:
    raise_nofile()
    tokens = json.loads(Path(args.tokens_file).read_text())
    asyncio.run(_clients(args.url, tokens, args.expected, args.out, timeout=args.timeout))


# --- the bench ----------------------------------------------------------------------------------


def make_users(clients: int) -> tuple[object, list[str]]:
    """One author and clients/TOKENS_PER_USER readers with TOKENS_PER_USER tokens each."""
    from ourvoice.accounts.models import User
    from ourvoice.accounts.services import user_create
    from ourvoice.api.mastodon.oauth_service import token_issue

    def user(name: str) -> User:
        existing = User.objects.filter(username=name).first()
        if existing:
            return existing
        return user_create(
            username=name, email=f"{name}@bench.example", password="bench password 1234"
        )

    author = user("author")
    tokens: list[str] = []
    readers = (clients + TOKENS_PER_USER - 1) // TOKENS_PER_USER
    for i in range(readers):
        reader = user(f"reader{i}")
        for _ in range(TOKENS_PER_USER):
            if len(tokens) < clients:
                tokens.append(token_issue(application=None, user=reader, scope="read").raw)
    return author, tokens


@contextlib.contextmanager
def streaming_server(
    cmd: list[str], env: dict[str, str], port: int, log: Path
) -> Iterator[subprocess.Popen]:
    """The streaming process, logging to a file (a pipe nobody reads would stall it)."""
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if http_get("127.0.0.1", port, "/api/v1/streaming/health", {})[0] == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streaming process did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        print(f"streaming process log: {log}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tokens-file", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=300, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_worker:
        client_main(args)
        return

    limit = raise_nofile()
    print(f"open-file limit: {limit}")
    port = free_port()
    env = bench_env(port)
    print(f"database {BENCH_DB}, redis {REDIS_URL}")
    recreate_database()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    run_manage(env, "migrate", "--noinput")
    django_setup(env)
    from ourvoice.events import outbox_drain
    from ourvoice.posts.services import post_create

    author, tokens = make_users(args.clients)
    outbox_drain()
    tokens_file = Path(f"/tmp/ourvoice-bench-streaming-tokens-{port}.json")
    tokens_file.write_text(json.dumps(tokens))
    out_file = Path(f"/tmp/ourvoice-bench-streaming-out-{port}.json")
    expected = args.clients * args.events
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "ourvoice.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--backlog",
        "4096",
        *STREAMING_ARGS,
    ]
    log = Path(f"/tmp/ourvoice-bench-streaming-{port}.log")
    with streaming_server(cmd, env, port, log):
        client = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client-worker",
                "--url",
                f"ws://127.0.0.1:{port}",
                "--tokens-file",
                str(tokens_file),
                "--expected",
                str(expected),
                "--out",
                str(out_file),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None
        while (line := client.stdout.readline()) and line.strip() != "READY":
            pass
        print(f"{args.clients} clients connected; publishing {args.events} posts")
        time.sleep(1.0)
        started: dict[str, float] = {}
        committed: dict[str, float] = {}
        t_begin = time.time()
        for i in range(args.events):
            t0 = time.time()
            post = post_create(author=author.account, text=f"streaming bench post {i}")
            committed[str(post.id)] = time.time()
            started[str(post.id)] = t0
            outbox_drain()
            if args.interval:
                time.sleep(args.interval)
        t_published = time.time()
        client.wait(timeout=600)
        received = json.loads(out_file.read_text())
    tokens_file.unlink(missing_ok=True)
    out_file.unlink(missing_ok=True)

    e2e = [(now - started[sid]) * 1000 for sid, now, _ in received if sid in started]
    after_commit = [(now - committed[sid]) * 1000 for sid, now, _ in received if sid in committed]
    last = max(now for _, now, _ in received) if received else t_published
    rate = len(received) / max(last - t_begin, 1e-9)
    publish_rate = args.events / max(t_published - t_begin, 1e-9)
    lines = [
        f"clients {args.clients}, events {args.events}, deliveries {len(received):,} of "
        f"{expected:,}",
        f"post_create → client: p50 {statistics.median(e2e):.0f} ms, p99 {pct(e2e, 99):.0f} ms,"
        f" max {max(e2e):.0f} ms",
        f"commit → client: p50 {statistics.median(after_commit):.0f} ms, "
        f"p99 {pct(after_commit, 99):.0f} ms",
        f"deliveries/s {rate:,.0f} (posts published at {publish_rate:.1f}/s)",
    ]
    print("\n".join(lines))
    goal = "met" if pct(e2e, 99) < 500 and len(received) == expected else "NOT met"
    write_section(
        "streaming",
        "## Streaming fan-out (ST-1)\n\n"
        f"`bench/streaming.py`: one streaming process (uvicorn, Redis channel layer, "
        "per-message deflate off as in docker-compose.yml), "
        f"{args.clients:,} WebSocket clients on `?stream=public` in one client process, "
        f"{args.events} public posts created back to back through `post_create` and the outbox "
        "consumers (each rendered once and published to the channel layer, fanned out by the "
        "process hub; the outbox is dispatched in the bench process, as a Celery worker would). "
        "Latency is measured from the start of `post_create` (and from its commit) to the "
        "moment a client has the frame.\n\n"
        "| deliveries | p50 | p99 | max | from commit p50 / p99 | deliveries/s |\n"
        "|---|---|---|---|---|---|\n"
        f"| {len(received):,} of {expected:,} | {statistics.median(e2e):.0f} ms "
        f"| {pct(e2e, 99):.0f} ms | {max(e2e):.0f} ms "
        f"| {statistics.median(after_commit):.0f} / {pct(after_commit, 99):.0f} ms "
        f"| {rate:,.0f} |\n\n"
        f"Goal p99 < 500 ms: **{goal}**. Readers: {args.clients // TOKENS_PER_USER} accounts "
        f"with {TOKENS_PER_USER} tokens each; the server, the publisher and the clients share "
        "the machine's cores. With per-message deflate on (uvicorn's default) one run gave "
        "p99 531 ms and 11,655 deliveries/s: compressing each frame once per connection is "
        "the largest cost of a fan-out.",
    )


if __name__ == "__main__":
    main()
