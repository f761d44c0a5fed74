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

The load generator is `wrk -t1` (as in performance.md §2.4/§2.7), sharing the 2 cores with the
server: the signed requests go to a file that a Lua script (`WRK_POST_LUA`) sends in order, each
at most once, stopping wrk when all are out; the trivial endpoint is a plain timed wrk run. The
requests still in flight when wrk stops (at most one per connection) are not timed but are
checked like all others: the bench requires every answer to be 202 and the stored activity ids
to be exactly the ones sent (none lost, none extra; the id is unique, so none twice). Without
wrk (or with `--generator python`) a raw asyncio HTTP/1.1 client in this process sends them
instead, with a printed note; its own CPU on the shared cores inflates the latencies.

Goals: accepted ≥ 0.5 x trivial, p99 ≤ 20 ms at 16 clients, processed ≥ 600/s.

Usage: `flock /tmp/ov-bench.lock uv run python bench/inbox.py [--requests 10000] [--actors 100]
[--followers 20] [--profile] [--generator auto|wrk|python]`. Uses the PostgreSQL database
`ourvoice_bench_inbox` (recreated; `BENCH_DB` overrides) and Redis database 12 (flushed;
`BENCH_REDIS_URL` overrides); everything stays on 127.0.0.1. `--profile` adds an in-process
cProfile of the inbox view and of one processing batch (top functions by cumulative time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
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
WRK = shutil.which("wrk")
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


def build_requests(
    actors: list[Actor], count: int, port: int, run_tag: str
) -> tuple[list[bytes], list[str]]:
    """`count` raw signed HTTP/1.1 POSTs to /inbox, round-robin over the actors, and their
    activity ids."""
    import orjson

    from federation.signatures import sign_request

    host = f"127.0.0.1:{port}"
    url = f"http://{host}/inbox"
    published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    ids = []
    for n in range(count):
        actor = actors[n % len(actors)]
        note_id = f"{actor.uri}/statuses/{run_tag}-{n}"
        ids.append(f"{note_id}/activity")
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
    return out, ids


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


@dataclass
class Phase:
    """One measured load phase, whichever generator ran it."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int = 0
    generator_cpu_s: float = 0.0
    #: requests sent (the Python client sends all; wrk leaves at most one per connection)
    sent: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_202(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 202)


#: wrk Lua script: the pre-signed requests of a file, each sent at most once, in order.
#: wrk calls delay() before every request on a connection when the script defines it; delay()
#: grants the next request of the file or, once all are granted, stops the thread and
#: interrupts wrk's main thread (SIGINT to its own process) so wrk reports at once, as at the end of
#: a timed run. A connection is never left open without a request: a gunicorn sync worker that
#: accepted it would block on it. The requests still in flight at that moment (at most one per
#: connection) are not timed by wrk; the bench checks them in the database like all others.
WRK_POST_LUA = r"""
local reqs, n, granted = {}, 0, 0
local statuses = {}
sent, status_list, stopped = 0, "", false  -- globals: done() reads them with thread:get()
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    n = n + 1
    reqs[n] = string.sub(data, nl + 1, nl + len)
    pos = nl + 1 + len
  end
end

local function interrupt_main()
  -- kill(getpid(), SIGINT) through LuaJIT's FFI (os.execute would not do: system() ignores
  -- SIGINT in the whole process while its child runs).
  local ffi = require("ffi")
  ffi.cdef("int getpid(void); int kill(int pid, int sig);")
  ffi.C.kill(ffi.C.getpid(), 2)
end

function delay()
  if granted < n then
    granted = granted + 1
    return 0
  end
  if not stopped then
    stopped = true
    for code, count in pairs(statuses) do
      status_list = status_list .. code .. ":" .. count .. ","
    end
    wrk.thread:stop()
    interrupt_main()
  end
  return 3600000
end

function request()
  if granted == 0 then
    return reqs[1]  -- wrk's start-up check of the script (nothing is sent): do not consume
  end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  io.write(string.format(
    "OVRESULT requests=%d duration_us=%d p50_us=%d p99_us=%d socket_errors=%d "
      .. "sent=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, t:get("sent"), t:get("status_list")))
end
"""

_OVRESULT = re.compile(r"OVRESULT (.*)")


def _wrk(args: list[str]) -> tuple[str, float]:
    """Run wrk; (stdout, CPU seconds wrk used)."""
    proc = subprocess.Popen([WRK, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode() if proc.stdout else ""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-2000:]}")
    return out, usage.ru_utime + usage.ru_stime


def wrk_post_all(port: int, raws: list[bytes], concurrency: int) -> Phase:
    """Send the pre-signed requests in order, each at most once, with wrk (`concurrency`
    connections); `Phase.sent` says how many went out (all but at most one per connection)."""
    with tempfile.TemporaryDirectory(prefix="ov-bench-inbox-") as tmp:
        data = Path(tmp, "requests.bin")
        with data.open("wb") as f:
            for raw in raws:
                f.write(b"%d\n" % len(raw) + raw)
        script = Path(tmp, "post.lua")
        script.write_text(WRK_POST_LUA)
        limit = max(60, len(raws) // 50)  # a safety net: the script stops wrk when done
        out, cpu = _wrk(
            [
                "-t1",
                f"-c{concurrency}",
                f"-d{limit}s",
                "-T30s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}/inbox",
                "--",
                str(data),
            ]
        )
    match = _OVRESULT.search(out)
    if match is None:
        raise RuntimeError(f"wrk printed no result: {out[-2000:]}")
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    statuses = {
        int(code): int(count)
        for code, count in (pair.split(":") for pair in fields["statuses"].split(",") if pair)
    }
    seconds = int(fields["duration_us"]) / 1e6
    if seconds > 0.9 * limit:
        raise RuntimeError(f"wrk ran into its time limit ({seconds:.0f} s): {out[-2000:]}")
    return Phase(
        requests=int(fields["requests"]),
        seconds=seconds,
        p50_ms=int(fields["p50_us"]) / 1000,
        p99_ms=int(fields["p99_us"]) / 1000,
        statuses=statuses,
        socket_errors=int(fields["socket_errors"]),
        generator_cpu_s=cpu,
        sent=int(fields["sent"]),
    )


def wrk_trivial(port: int, concurrency: int, duration: float) -> Phase:
    """wrk GETs of the trivial endpoint for `duration` seconds (the usual wrk run)."""
    script = (
        "ok, bad = 0, 0  -- globals: done() reads them with thread:get()\n"
        "function response(status) if status == 200 then ok = ok + 1 else bad = bad + 1 end end\n"
        "local threads = {}\nfunction setup(t) table.insert(threads, t) end\n"
        "function done(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format("OVRESULT requests=%d duration_us=%d p50_us=%d p99_us=%d '
        'socket_errors=%d ok=%d bad=%d\\n", summary.requests, summary.duration, '
        "latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + "
        'e.timeout, threads[1]:get("ok"), threads[1]:get("bad")))\nend\n'
    )
    with tempfile.TemporaryDirectory(prefix="ov-bench-inbox-") as tmp:
        path = Path(tmp, "get.lua")
        path.write_text(script)
        out, cpu = _wrk(
            [
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(duration))}s",
                "-T30s",
                "-s",
                str(path),
                f"http://127.0.0.1:{port}{TRIVIAL_PATH}",
            ]
        )
    match = _OVRESULT.search(out)
    if match is None:
        raise RuntimeError(f"wrk printed no result: {out[-2000:]}")
    fields = {k: int(v) for k, v in (item.split("=", 1) for item in match.group(1).split())}
    return Phase(
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        p50_ms=fields["p50_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        statuses={200: fields["ok"], 0: fields["bad"]} if fields["bad"] else {200: fields["ok"]},
        socket_errors=fields["socket_errors"],
        generator_cpu_s=cpu,
    )


def python_post_all(port: int, raws: list[bytes], concurrency: int) -> Phase:
    """The fallback generator (no wrk): the asyncio client of this process."""
    t0 = time.process_time()
    result, statuses = post_all(port, raws, concurrency)
    return Phase(
        requests=result.requests,
        seconds=result.seconds,
        p50_ms=result.pct(50),
        p99_ms=result.pct(99),
        statuses=statuses,
        socket_errors=statuses.get(0, 0),
        generator_cpu_s=time.process_time() - t0,
        sent=len(raws),
    )


def python_trivial(port: int, concurrency: int, duration: float) -> Phase:
    t0 = time.process_time()
    result = load(
        "127.0.0.1", port, lambda r: (TRIVIAL_PATH, {}), concurrency=concurrency, duration=duration
    )
    return Phase(
        requests=result.requests,
        seconds=result.seconds,
        p50_ms=result.pct(50),
        p99_ms=result.pct(99),
        statuses={200: result.requests - result.errors, 0: result.errors},
        generator_cpu_s=time.process_time() - t0,
    )


def wait_stored(count: int, timeout: float = 10.0) -> None:
    """Wait until `count` inbox items are stored (requests a generator left in flight finish
    in gunicorn after it stopped)."""
    from federation.models import InboxItem

    deadline = time.monotonic() + timeout
    while InboxItem.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)


def postgres_backend_pids() -> list[int]:
    """Server processes of the other connections to the bench database (gunicorn's, the
    worker's), for their CPU time."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


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
        ("psycopg (sending queries; waiting on PostgreSQL in wall-clock profiles)", "/psycopg/"),
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


def _wsgi_environ(raw: bytes, port: int) -> dict[str, object]:
    """The WSGI environ gunicorn builds for one raw HTTP/1.1 request (the parts Django reads)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ")
    environ: dict[str, object] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": target.partition("?")[0],
        "QUERY_STRING": target.partition("?")[2],
        "RAW_URI": target,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for line in lines[1:]:
        name, value = line.split(": ", 1)
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return environ


def profile_inbox(raws: list[bytes], port: int) -> tuple[str, str]:
    """The inbox in-process (no HTTP server, no sockets): gunicorn's WSGI callable
    (`ourvoice.wsgi.application`, which serves inbox POSTs without middleware) on pre-signed
    requests, against the trivial endpoint through the same callable; CPU per request
    unprofiled, queries per request, then a cProfile of the inbox measured in CPU time (time
    spent waiting for PostgreSQL is not this process's)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ourvoice.wsgi import application

    environs = [_wsgi_environ(raw, port) for raw in raws]
    trivial_raw = (
        f"GET {TRIVIAL_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    ).encode()
    n = (len(environs) - 101) // 2
    statuses: set[str] = set()

    def call(environ: dict[str, object]) -> None:
        def start_response(status: str, headers: object, exc_info: object = None) -> None:
            statuses.add(status.split(" ", 1)[0])

        response = application(environ, start_response)
        for _chunk in response:
            pass
        response.close()

    for environ in environs[:100]:  # keys into the process cache, connections
        call(environ)
    with CaptureQueriesContext(connection) as ctx:
        call(environs[100])
    queries = [" ".join(q["sql"].split())[:90] for q in ctx.captured_queries]
    rest = environs[101:]
    t0, c0 = time.perf_counter(), time.process_time()
    for environ in rest[:n]:
        call(environ)
    t_inbox = (time.perf_counter() - t0) / n * 1000
    c_inbox = (time.process_time() - c0) / n * 1000
    inbox_statuses = sorted(statuses)
    statuses.clear()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        call(_wsgi_environ(trivial_raw, port))
    t_trivial = (time.perf_counter() - t0) / n * 1000
    c_trivial = (time.process_time() - c0) / n * 1000
    trivial_statuses = sorted(statuses)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for environ in rest[n:]:
        call(environ)
    profiler.disable()
    summary = (
        "inbox in-process through ourvoice.wsgi.application, unprofiled, per request (wall / CPU "
        f"of this process): {t_inbox:.2f} / {c_inbox:.2f} ms (statuses {inbox_statuses}); "
        f"trivial endpoint through the same callable {t_trivial:.2f} / {c_trivial:.2f} ms "
        f"(statuses {trivial_statuses}). {len(queries)} queries per inbox request:\n"
        + "".join(f"    {q}\n" for q in queries)
        + "own CPU time by area (inbox):\n"
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
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed (auto), or the Python asyncio client",
    )
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
    raws, ids = build_requests(actors, args.requests, port, run_tag=f"{int(time.time())}")
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
    if args.generator == "wrk" and WRK is None:
        raise SystemExit("--generator wrk: wrk is not installed (apt-get install -y wrk)")
    use_wrk = WRK is not None and args.generator != "python"
    if not use_wrk:
        why = "wrk not found (apt-get install -y wrk)" if WRK is None else "--generator python"
        print(
            f"NOTE: {why}: the Python asyncio generator runs instead; it shares the 2 cores and "
            "its own CPU inflates latencies.",
            flush=True,
        )
    post_phase = wrk_post_all if use_wrk else python_post_all
    trivial_phase = wrk_trivial if use_wrk else python_trivial

    with server(cmd, env, port) as web, celery_worker(env) as worker:
        wait_worker_ready()
        trivial_phase(port, 8, 2)  # warm-up
        expected: list[str] = []  # activity ids sent so far

        def run_phase(requests: list[bytes], first: int, clients: int) -> Phase:
            phase = post_phase(port, requests, clients)
            expected.extend(ids[first : first + phase.sent])
            wait_stored(len(expected))  # the last ones may still be in gunicorn
            return phase

        warm = run_phase(warmup, 0, 16)
        if warm.non_202:
            raise RuntimeError(f"warm-up statuses {warm.statuses}")

        load_before = os.getloadavg()[0]
        pg_pids = postgres_backend_pids()
        cpu0, pg0 = cpu_seconds(web.pid), sum(cpu_seconds(pid) for pid in pg_pids)
        res64 = run_phase(at64, warmup_n, 64)
        cpu64 = cpu_seconds(web.pid) - cpu0
        pg64 = sum(cpu_seconds(pid) for pid in pg_pids) - pg0
        cpu0 = cpu_seconds(web.pid)
        res16 = run_phase(at16, warmup_n + n64, 16)
        cpu16 = cpu_seconds(web.pid) - cpu0
        trivial = trivial_phase(port, 64, args.trivial_duration)
        load_after = os.getloadavg()[0]
        stored = InboxItem.objects.count()
        pending = InboxItem.objects.filter(state=InboxItem.State.PENDING).count()
        stored_ids = set(InboxItem.objects.values_list("activity_id", flat=True))
        missing = len(set(expected) - stored_ids)
        unexpected = len(stored_ids - set(expected))
        answered = warm.requests + res64.requests + res16.requests
        non_202 = warm.non_202 + res64.non_202 + res16.non_202
        untimed = len(expected) - answered  # in flight when wrk stopped: checked, not timed
        print(
            f"accept phase done: {len(expected):,} sent, {answered:,} answered, {stored:,} "
            f"stored, {pending:,} pending; 64 clients {res64.statuses}, 16 clients "
            f"{res16.statuses}; missing {missing}, unexpected {unexpected}",
            flush=True,
        )
        accept_ok = (
            non_202 == 0
            and stored == len(expected)
            and missing == 0
            and unexpected == 0
            and 0 <= untimed <= 16 + 64 + 16
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
    if use_wrk:
        generator = (
            "`wrk -t1` (one thread; a Lua script sends each pre-signed request from a file "
            "exactly once and stops; latency from writing the request to the last byte of the "
            "answer, with wrk's usual correction for coordinated omission)"
        )
    else:
        generator = (
            "the Python asyncio client of `bench/inbox.py` (**not wrk**: "
            + ("wrk was not installed" if WRK is None else "`--generator python`")
            + "; latency includes the client's own scheduling on the shared cores)"
        )
    gen_cpu = res64.generator_cpu_s / max(1, res64.sent) * 1000
    lines = [
        "## Inbox (INBOX-1)",
        "",
        f"`bench/inbox.py`: {args.requests:,} signed `Create(Note)` POSTs to the shared inbox "
        f"from {args.actors} remote actors on {DOMAINS} domains (keys in the database and the "
        f"process cache: no fetch), each author with {args.followers} local followers; gunicorn "
        f"-w 2 (sync), debug off, rate limits off, PostgreSQL database `{BENCH_DB}`. Load "
        f"generator: {generator}; it shares the 2 cores with the server. Requests were signed "
        f"right before the run ({sign_s:.1f} s for {len(raws):,}). Load average (1 min) before "
        f"/ after the accept phase: {load_before:.1f} / {load_after:.1f} (other work on the box "
        "skews the figures).",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| accepted requests/s, 64 clients ({res64.requests:,} POSTs) | {accepted_rps:,.0f} | "
        f"≥ 0.5 × trivial ({0.5 * trivial.rps:,.0f}) |",
        f"| trivial JSON endpoint `GET {TRIVIAL_PATH}`, 64 clients | {trivial.rps:,.0f} req/s | |",
        f"| ratio accepted / trivial | {ratio:.2f} | ≥ 0.50 |",
        f"| accept latency p50 / p99, 16 clients ({res16.requests:,} POSTs) | "
        f"{res16.p50_ms:.1f} / {res16.p99_ms:.1f} ms | p99 ≤ 20 ms |",
        f"| accept latency p50 / p99, 64 clients | {res64.p50_ms:.1f} / {res64.p99_ms:.1f} ms | |",
        f"| accepted requests/s, 16 clients | {res16.rps:,.0f} | |",
        f"| server CPU per accepted request (gunicorn tree), 64 / 16 clients | "
        f"{cpu64 / res64.sent * 1000:.2f} / {cpu16 / res16.sent * 1000:.2f} ms | |",
        f"| PostgreSQL CPU per accepted request (backends of the bench database), 64 clients | "
        f"{pg64 / res64.sent * 1000:.2f} ms | |",
        f"| load generator CPU per request, 64 clients | {gen_cpu:.2f} ms | |",
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
        f"Accepted exactly once: {len(expected):,} of the {len(raws):,} signed requests sent "
        f"(warm-up, 64 and 16 clients), {answered:,} answers timed, all 202 (non-202: warm-up "
        f"{warm.non_202}, 64 clients {res64.non_202}, 16 clients {res16.non_202}); {untimed} "
        "were still in flight when the generator stopped (at most one per connection: not "
        f"timed, checked in the database); {stored:,} items stored, sent but missing "
        f"{missing}, stored but never sent {unexpected}: "
        + ("**OK**" if accept_ok else "**FAILED**")
        + ". Outcomes: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(states.items()))
        + f" ({retried:,} needed more than one attempt); {new_posts:,} posts and "
        f"{new_feed:,} home-feed entries created.",
    ]
    if args.profile:
        import logging

        logging.disable(logging.INFO)  # the in-process runs log every activity otherwise
        extra, _ = build_requests(actors, 700, port, run_tag=f"profile-{int(time.time())}")
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
