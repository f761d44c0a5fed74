"""INBOX-1 (issue 4 "Must show"; performance.md §3): signed inbox POSTs, accepted and processed.

10,000 signed `Create(Note)` POSTs from 100 remote actors (on 10 remote domains) to the shared
inbox of gunicorn (2 workers, debug off, rate limits off) on a dedicated PostgreSQL database.
The remote actors are seeded as `Account` rows with the public keys of RSA-2048 key pairs made
by this script, so verification needs no fetch (keys cached: the first request per gunicorn
worker and key reads the Account row, every later one hits the process cache; nothing remote
is ever contacted). Each remote author has 20 local followers with accepted follows (200 local
users following 10 authors each), so processing fans every note into 20 home timelines.

All 10,000 requests are built and signed (draft-cavage `rsa-sha256`, Digest, Date now, unique
activity and object ids) right before they are sent, then:

1. warm-up: 200 of them (2 per actor, loads every key into both gunicorn workers) and 2 s of
   the trivial endpoint, not measured;
2. accepted requests/s with 64 concurrent clients (6,000 POSTs);
3. p50/p99 accept latency with 16 concurrent clients (the remaining 3,800 POSTs);
4. requests/s of the trivial JSON endpoint with 64 clients in the same run on the same server:
   `GET /api/v1/custom_emojis`, a public Mastodon API view answering a constant `[]` (the same
   middleware + DRF stack as every API view, no database query), and the ratio;
5. processing: a Celery worker (`-Q default,delivery -c 2`, started and idle before the load,
   so its start-up is not timed) is told to consume the `inbox` queue (`add_consumer`, as
   `-Q inbox,delivery,default` would from the start), and the time until no InboxItem is
   pending gives processed activities/s. The outbox events of the new posts (`post.created`,
   dispatched on the `default` queue by the same worker) are drained too and timed separately.
   No beat runs: the script sends `inbox_sweep` and `outbox_sweep` every 15 s as beat would
   (items whose attempt failed wait for their retry and the sweep).

The load generator is a raw asyncio HTTP/1.1 client in this process (one connection per
request, as gunicorn's sync workers close them), sharing the 2 cores with the server.

Goals: accepted ≥ 0.5 x trivial, p99 ≤ 20 ms at 16 clients, processed ≥ 600/s.

Usage: `uv run python bench/inbox.py [--requests 10000] [--actors 100] [--followers 20]
[--profile]`. Uses the PostgreSQL database `ourvoice_bench_inbox` (recreated; `BENCH_DB`
overrides) and Redis database 12 (flushed; `BENCH_REDIS_URL` overrides); everything stays on
127.0.0.1. `--profile` adds an in-process cProfile of the inbox view and of one processing
batch (top functions by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("BENCH_DB", "ourvoice_bench_inbox")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DB,
    REDIS_URL,
    ROOT,
    LoadResult,
    bench_env,
    django_setup,
    free_port,
    load,
    recreate_database,
    run_manage,
    server,
    write_section,
)

DOMAINS = 10
WARMUP_PER_ACTOR = 2
TRIVIAL_PATH = "/api/v1/custom_emojis"
#: Seconds between the sweeps this script sends while processing (beat's inbox-sweep period).
SWEEP_INTERVAL = 15.0
AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


# --- keys and seed ------------------------------------------------------------------------------


def make_keys(count: int) -> list[tuple[str, str]]:
    """`count` RSA-2048 key pairs as (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    keys = []
    for _ in range(count):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        keys.append((private, public))
    return keys


@dataclass
class Actor:
    uri: str
    key_id: str
    private_pem: str
    followers: str


def seed(args: argparse.Namespace, keys: list[tuple[str, str]]) -> list[Actor]:
    """Remote actors with cached keys; local users following them (accepted)."""
    from django.db import transaction
    from django.utils import timezone

    from ourvoice.accounts.models import Account, Follow, User
    from ourvoice.core.ids import snowflake_id

    now = timezone.now()
    actors: list[Actor] = []
    remote_rows = []
    for i, (private_pem, public_pem) in enumerate(keys):
        domain = f"peer{i % DOMAINS}.inbox-bench.example"
        username = f"actor{i}"
        uri = f"https://{domain}/users/{username}"
        actors.append(Actor(uri, f"{uri}#main-key", private_pem, f"{uri}/followers"))
        remote_rows.append(
            Account(
                id=snowflake_id(),
                username=username,
                domain=domain,
                display_name=f"Remote {username}",
                uri=uri,
                url=f"https://{domain}/@{username}",
                inbox_uri=f"{uri}/inbox",
                shared_inbox_uri=f"https://{domain}/inbox",
                outbox_uri=f"{uri}/outbox",
                followers_uri=f"{uri}/followers",
                following_uri=f"{uri}/following",
                key_id=f"{uri}#main-key",
                public_key_pem=public_pem,
                fetched_at=now,
                updated_at=now,
            )
        )
    # Local users: each follows `per_user` authors, so every author has `args.followers`.
    per_user = 10
    n_local = args.actors * args.followers // per_user
    with transaction.atomic():
        Account.objects.bulk_create(remote_rows)
        users = User.objects.bulk_create(
            [
                User(username=f"reader{j}", email=f"reader{j}@bench.example", password="!")
                for j in range(n_local)
            ]
        )
        base = f"http://{os.environ['OURVOICE_DOMAIN']}"
        locals_ = Account.objects.bulk_create(
            [
                Account(
                    id=snowflake_id(),
                    user=user,
                    username=user.username,
                    domain="",
                    uri=f"{base}/users/{user.username}",
                    url=f"{base}/@{user.username}",
                    inbox_uri=f"{base}/users/{user.username}/inbox",
                    shared_inbox_uri=f"{base}/inbox",
                    followers_uri=f"{base}/users/{user.username}/followers",
                    key_id=f"{base}/users/{user.username}#main-key",
                    following_count=per_user,
                )
                for user in users
            ]
        )
        follows = []
        for j, local in enumerate(locals_):
            for k in range(per_user):
                target = remote_rows[(j * per_user + k) % args.actors]
                follows.append(
                    Follow(
                        id=snowflake_id(),
                        follower=local,
                        target=target,
                        state=Follow.State.ACCEPTED,
                        accepted_at=now,
                    )
                )
        Follow.objects.bulk_create(follows)
        Account.objects.filter(pk__in=[r.pk for r in remote_rows]).update(
            followers_count=args.followers
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = Follow.objects.values("target").distinct().count()
    print(
        f"seeded {len(remote_rows)} remote actors on {DOMAINS} domains, {n_local} local readers, "
        f"{len(follows)} accepted follows ({len(follows) // counts} per author)"
    )
    return actors


# --- requests -----------------------------------------------------------------------------------


def build_requests(actors: list[Actor], count: int, port: int, run_tag: str) -> list[bytes]:
    """`count` raw signed HTTP/1.1 POSTs to /inbox, round-robin over the actors."""
    import orjson

    from federation.signatures import sign_request

    host = f"127.0.0.1:{port}"
    url = f"http://{host}/inbox"
    published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for n in range(count):
        actor = actors[n % len(actors)]
        note_id = f"{actor.uri}/statuses/{run_tag}-{n}"
        body = orjson.dumps(
            {
                "@context": "https://www.w3.org/ns/activitystreams",
                "id": f"{note_id}/activity",
                "type": "Create",
                "actor": actor.uri,
                "published": published,
                "to": [AS_PUBLIC],
                "cc": [actor.followers],
                "object": {
                    "id": note_id,
                    "type": "Note",
                    "attributedTo": actor.uri,
                    "content": f"<p>Inbox benchmark note {n}: a short status with a little "
                    "text, like most of them.</p>",
                    "published": published,
                    "to": [AS_PUBLIC],
                    "cc": [actor.followers],
                    "url": f"{note_id}",
                    "sensitive": False,
                    "tag": [],
                    "attachment": [],
                },
            }
        )
        headers = sign_request(
            method="POST",
            url=url,
            headers={"Host": host},
            body=body,
            key_id=actor.key_id,
            private_key_pem=actor.private_pem,
        )
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "Host")
        out.append(
            (
                f"POST /inbox HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            + body
        )
    return out


async def _send(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]) if data else 0


def post_all(port: int, raws: list[bytes], concurrency: int) -> tuple[LoadResult, dict[int, int]]:
    """Send every request once with `concurrency` closed-loop clients; (result, statuses)."""
    statuses: dict[int, int] = {}

    async def run() -> LoadResult:
        result = LoadResult(0, 0, 0.0)
        queue = iter(raws)

        async def worker() -> None:
            for raw in queue:
                t0 = time.perf_counter()
                try:
                    status = await _send(port, raw)
                except OSError:
                    status = 0
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.requests += 1
                statuses[status] = statuses.get(status, 0) + 1
                if status != 202:
                    result.errors += 1

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.monotonic() - start
        return result

    return asyncio.run(run()), statuses


# --- processes ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime+stime of `pid` and its descendants (procfs), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            children.setdefault(ppid, []).append(int(entry.name))
            stats[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


@contextlib.contextmanager
def celery_worker(env: dict[str, str]):
    log = open("/tmp/ourvoice-bench-inbox-worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ourvoice",
            "worker",
            "-Q",
            "default,delivery",
            "-c",
            "2",
            "-n",
            "inboxbench@%h",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def wait_worker_ready(timeout: float = 60) -> str:
    from ourvoice.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        for reply in replies:
            for name in reply:
                if name.startswith("inboxbench@"):
                    return name
    raise RuntimeError("celery worker did not answer")


# --- profile ------------------------------------------------------------------------------------


def _areas(profiler: cProfile.Profile) -> str:
    """Own time (tottime) grouped by where the code lives: a coarse "where time goes"."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    rules = [
        ("psycopg (waiting on PostgreSQL, sending queries)", "/psycopg/"),
        ("redis client (Django cache)", "/redis/"),
        ("Django ORM (query building, model instances)", "/django/db/"),
        ("Django cache layer", "/django/core/cache/"),
        ("other Django", "/django/"),
        ("cryptography (RSA verify)", "/cryptography/"),
        ("federation/ (ours)", "/work/main/federation/"),
        ("ourvoice/ (ours)", "/work/main/ourvoice/"),
        ("Celery/kombu", "/kombu/"),
        ("Celery/kombu", "/celery/"),
    ]
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.items():
        total += tottime
        label = next((lab for lab, needle in rules if needle in filename), "other (stdlib, C)")
        groups[label] = groups.get(label, 0.0) + tottime
    lines = [f"  {label:<50} {sec / total * 100:5.1f} %" for label, sec in groups.items()]
    return "\n".join(sorted(lines, key=lambda line: -float(line.rsplit(None, 2)[-2])))


def profile_inbox(raws: list[bytes], port: int) -> tuple[str, str]:
    """The inbox in-process (no HTTP server): the bare view and the full Django stack
    (middleware included, through the test client) against the trivial endpoint, unprofiled
    time per request, queries per request, then a cProfile of the full stack."""
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext

    from federation.views.inbox import inbox

    specs = []
    for raw in raws:
        head, body = raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")[1:]
        headers = dict(line.split(": ", 1) for line in lines)
        extra = {
            "HTTP_" + k.upper().replace("-", "_"): v
            for k, v in headers.items()
            if k not in ("Content-Type", "Content-Length", "Connection")
        }
        extra["HTTP_HOST"] = f"127.0.0.1:{port}"
        extra["RAW_URI"] = "/inbox"
        specs.append((body, headers["Content-Type"], extra))
    factory = RequestFactory()
    client = Client()
    n = (len(specs) - 101) // 3

    def view(spec: tuple[bytes, str, dict[str, str]]) -> int:
        body, content_type, extra = spec
        return inbox(
            factory.post("/inbox", data=body, content_type=content_type, **extra)
        ).status_code

    def stack(spec: tuple[bytes, str, dict[str, str]]) -> int:
        body, content_type, extra = spec
        return client.post("/inbox", data=body, content_type=content_type, **extra).status_code

    for spec in specs[:100]:  # keys into the process cache, connections
        view(spec)
    with CaptureQueriesContext(connection) as ctx:
        view(specs[100])
    queries = [" ".join(q["sql"].split())[:90] for q in ctx.captured_queries]
    rest = specs[101:]
    t0, c0 = time.perf_counter(), time.process_time()
    statuses = {view(spec) for spec in rest[:n]}
    t_view = (time.perf_counter() - t0) / n * 1000
    c_view = (time.process_time() - c0) / n * 1000
    t0, c0 = time.perf_counter(), time.process_time()
    statuses |= {stack(spec) for spec in rest[n : 2 * n]}
    t_stack = (time.perf_counter() - t0) / n * 1000
    c_stack = (time.process_time() - c0) / n * 1000
    host = {"HTTP_HOST": f"127.0.0.1:{port}"}
    t0, c0 = time.perf_counter(), time.process_time()
    trivial = {client.get(TRIVIAL_PATH, **host).status_code for _ in range(n)}
    t_trivial = (time.perf_counter() - t0) / n * 1000
    c_trivial = (time.process_time() - c0) / n * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for spec in rest[2 * n :]:
        stack(spec)
    profiler.disable()
    summary = (
        "inbox in-process, unprofiled, per request (wall / CPU of this process): bare view "
        f"{t_view:.2f} / {c_view:.2f} ms, full Django stack {t_stack:.2f} / {c_stack:.2f} ms "
        f"(statuses {sorted(statuses)}); trivial endpoint through the same stack "
        f"{t_trivial:.2f} / {c_trivial:.2f} ms (statuses {sorted(trivial)}). "
        f"{len(queries)} queries per inbox request:\n"
        + "".join(f"    {q}\n" for q in queries)
        + "own time by area (full stack):\n"
        + _areas(profiler)
        + "\n"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return summary, out.getvalue()


def profile_processing(batches: int = 2) -> tuple[str, str]:
    """`inbox_items_process` in-process (one worker, no contention): unprofiled time per item,
    queries per item, then a cProfile of one more batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from federation.processing import inbox_items_process

    with CaptureQueriesContext(connection) as ctx:
        inbox_items_process(limit=1)
    queries = [" ".join(q["sql"].split())[:90] for q in ctx.captured_queries]
    t0, c0 = time.perf_counter(), time.process_time()
    claimed = sum(inbox_items_process(limit=100) for _ in range(batches))
    plain = (time.perf_counter() - t0) / max(1, claimed) * 1000
    cpu = (time.process_time() - c0) / max(1, claimed) * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    more = inbox_items_process(limit=100)
    profiler.disable()
    summary = (
        f"processing in-process (one process, no contention), unprofiled: {plain:.2f} ms per "
        f"item ({cpu:.2f} ms CPU of this process) over {claimed} items; {len(queries)} queries "
        "for a batch of one:\n"
        + "".join(f"    {q}\n" for q in queries)
        + f"own time by area ({more} items profiled):\n"
        + _areas(profiler)
        + "\n"
    )
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return summary, out.getvalue()


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--actors", type=int, default=100)
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--trivial-duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    port = free_port()
    env = bench_env(port, CELERY_BROKER_URL=REDIS_URL)
    recreate_database()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"migrating {BENCH_DB}…", flush=True)
    run_manage(env, "migrate", "--noinput")
    django_setup(env)

    t0 = time.monotonic()
    keys = make_keys(args.actors)
    print(f"{args.actors} RSA-2048 key pairs in {time.monotonic() - t0:.1f} s")
    actors = seed(args, keys)

    from federation.models import InboxItem
    from ourvoice.core.models import OutboxEvent
    from ourvoice.posts.models import FeedEntry, Post

    warmup_n = WARMUP_PER_ACTOR * args.actors
    rest = args.requests - warmup_n
    n64 = rest * 6 // 10
    t0 = time.monotonic()
    raws = build_requests(actors, args.requests, port, run_tag=f"{int(time.time())}")
    sign_s = time.monotonic() - t0
    print(f"{len(raws):,} requests signed in {sign_s:.1f} s ({len(raws) / sign_s:,.0f}/s)")
    warmup, at64, at16 = raws[:warmup_n], raws[warmup_n : warmup_n + n64], raws[warmup_n + n64 :]

    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "ourvoice.wsgi",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    with server(cmd, env, port) as web, celery_worker(env) as worker:
        wait_worker_ready()
        load("127.0.0.1", port, lambda r: (TRIVIAL_PATH, {}), concurrency=8, duration=2)
        warm, warm_statuses = post_all(port, warmup, concurrency=16)
        assert warm.errors == 0, f"warm-up statuses {warm_statuses}"

        load_before = os.getloadavg()[0]
        cpu0 = cpu_seconds(web.pid)
        res64, st64 = post_all(port, at64, concurrency=64)
        cpu64 = cpu_seconds(web.pid) - cpu0
        res16, st16 = post_all(port, at16, concurrency=16)
        trivial = load(
            "127.0.0.1",
            port,
            lambda r: (TRIVIAL_PATH, {}),
            concurrency=64,
            duration=args.trivial_duration,
        )
        load_after = os.getloadavg()[0]
        stored = InboxItem.objects.count()
        pending = InboxItem.objects.filter(state=InboxItem.State.PENDING).count()
        print(
            f"accept phase done: {stored:,} stored, {pending:,} pending; "
            f"64 clients {st64}, 16 clients {st16}",
            flush=True,
        )

        # Processing: the idle worker starts consuming the inbox queue now.
        from ourvoice.celery import app

        name = wait_worker_ready()
        posts0 = Post.objects.count()
        feed0 = FeedEntry.objects.count()
        wcpu0 = cpu_seconds(worker.pid)
        t_start = time.monotonic()
        app.control.add_consumer("inbox", destination=[name], reply=True)
        deadline = t_start + args.timeout
        processed_s = None
        outbox_s = None
        next_sweep = t_start + SWEEP_INTERVAL
        while time.monotonic() < deadline:
            if time.monotonic() >= next_sweep:  # what `celery beat` does in production
                app.send_task("federation.tasks.inbox_sweep")
                app.send_task("ourvoice.events.outbox_sweep")
                next_sweep += SWEEP_INTERVAL
            if processed_s is None:
                left = InboxItem.objects.filter(state=InboxItem.State.PENDING).count()
                if left == 0:
                    processed_s = time.monotonic() - t_start
                    wcpu_processed = cpu_seconds(worker.pid) - wcpu0
            if (
                processed_s is not None
                and not OutboxEvent.objects.filter(processed_at__isnull=True).exists()
            ):
                outbox_s = time.monotonic() - t_start
                break
            time.sleep(0.1)
        timed_out = processed_s is None
        if timed_out:  # report what was done in the time allowed
            processed_s = time.monotonic() - t_start
            wcpu_processed = cpu_seconds(worker.pid) - wcpu0
        finished = InboxItem.objects.exclude(state=InboxItem.State.PENDING).count()
        states = _states()
        retried = InboxItem.objects.filter(attempts__gt=1).count()
        new_posts = Post.objects.count() - posts0
        new_feed = FeedEntry.objects.count() - feed0

    accepted_rps = res64.rps
    ratio = accepted_rps / trivial.rps if trivial.rps else float("nan")
    processed_rps = finished / processed_s
    lines = [
        "## Inbox (INBOX-1)",
        "",
        f"`bench/inbox.py`: {args.requests:,} signed `Create(Note)` POSTs to the shared inbox "
        f"from {args.actors} remote actors on {DOMAINS} domains (keys in the database and the "
        f"process cache: no fetch), each author with {args.followers} local followers; gunicorn "
        f"-w 2 (sync), debug off, rate limits off, PostgreSQL database `{BENCH_DB}`; the load "
        "generator shares the 2 cores. Requests were signed right before the run "
        f"({sign_s:.1f} s for {len(raws):,}). Load average (1 min) before / after the accept "
        f"phase: {load_before:.1f} / {load_after:.1f} (other work on the box skews the figures).",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| accepted requests/s, 64 clients ({len(at64):,} POSTs) | {accepted_rps:,.0f} | "
        f"≥ 0.5 × trivial ({0.5 * trivial.rps:,.0f}) |",
        f"| trivial JSON endpoint `GET {TRIVIAL_PATH}`, 64 clients | {trivial.rps:,.0f} req/s | |",
        f"| ratio accepted / trivial | {ratio:.2f} | ≥ 0.50 |",
        f"| accept latency p50 / p99, 16 clients ({len(at16):,} POSTs) | "
        f"{res16.pct(50):.1f} / {res16.pct(99):.1f} ms | p99 ≤ 20 ms |",
        f"| accept latency p50 / p99, 64 clients | {res64.pct(50):.1f} / "
        f"{res64.pct(99):.1f} ms | |",
        f"| server CPU per accepted request (64 clients) | {cpu64 / len(at64) * 1000:.2f} ms | |",
        f"| processed activities/s (celery -c 2, {stored:,} items) | {processed_rps:,.0f} "
        + (
            f"({finished:,} finished in {processed_s:.0f} s: TIMED OUT) | ≥ 600 |"
            if timed_out
            else f"({processed_s:.1f} s) | ≥ 600 |"
        ),
        f"| worker CPU per processed activity | {wcpu_processed / max(1, finished) * 1000:.2f} ms"
        " | |",
        "| outbox drained (post.created events) | "
        + (f"{outbox_s:.1f} s after the start" if outbox_s is not None else "not within timeout")
        + " | |",
        "",
        f"Non-202 answers: 64 clients {res64.errors}, 16 clients {res16.errors}. Outcomes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
        + f" ({retried:,} needed more than one attempt); {new_posts:,} posts and "
        f"{new_feed:,} home-feed entries created.",
    ]
    if args.profile:
        import logging

        logging.disable(logging.INFO)  # the in-process runs log every activity otherwise
        extra = build_requests(actors, 700, port, run_tag=f"profile-{int(time.time())}")
        inbox_summary, inbox_full = profile_inbox(extra, port)
        proc_summary, proc_full = profile_processing()
        print("\n--- profile: inbox view (in-process) ---\n" + inbox_summary + inbox_full)
        print("--- profile: processing (in-process) ---\n" + proc_summary + proc_full)
        lines += [
            "",
            "Profile (`--profile`: the same code called in this process, after the run):",
            "",
            "```",
            inbox_summary.rstrip(),
            proc_summary.rstrip(),
            "```",
        ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("inbox", report)


def _states() -> dict[str, int]:
    from django.db.models import Count

    from federation.models import InboxItem

    return dict(InboxItem.objects.values_list("state").annotate(n=Count("id")).order_by())


if __name__ == "__main__":
    main()
