"""MOD-1 (issue 5 "Must show"; performance.md §4, moderation.md §5): local moderation votes.

Seeds a dedicated PostgreSQL database with COPY: local voters (accounts older than the age
ramp, signup weeks spread over two years so no cohort cap bites), authors, one public post per
author slot and 10,000 OPEN cases on them (Redis sums built from PostgreSQL before the run, as
a server in steady state has them), one bearer token per voter; plus a hot author (created by
the service, so it has a signing key) with 1,000 remote followers on 1,000 sink "instances"
(`127.0.0.1:<port>`, one shared inbox each) and a hot post whose PostInbox rows name those
1,000 inboxes. Then, against gunicorn (2 sync workers, debug off, rate limits off) and a real
Celery worker (`-Q inbox,delivery,default -c 2`):

1. votes/s with 64 concurrent clients on the 10,000 open cases (every request a distinct
   (voter, case) pair, 80 % remove / 20 % keep, so no vote replaces another);
2. p50/p99 latency with 16 clients (more distinct pairs);
3. a trivial DRF endpoint with 64 clients in the same run on the same server, measured
   before, between and after the 4 rounds the 64-client votes run in (`GET
   /api/v1/custom_emojis`: middleware + DRF, no query; and, for context, the token-authenticated
   `GET /api/v2/filters`), and the ratio: the median over the rounds of a round's votes/s over
   the trivial rate around it;
4. the hot case: 200 voters send a remove vote at the same moment; the threshold is set so the
   crossing vote is about the 131st (T = 100, exposure 1,000 followers: T_eff = 130.1); grace 0
   (`MODERATION_GRACE_SECONDS=0`), so the crossing vote's transaction removes the post and
   records the Delete; the sink records when each of the 1,000 inboxes receives it;
5. the vote's I/O floor (`bench/vote_floor.py`) under its own gunicorn: the same round trips
   as a vote (token, status with relations, BEGIN, lock the case, write, Redis, COMMIT) with
   trivial statements and no vote logic, in 2 rounds of 64 clients between trivial
   measurements, then 16 clients for its latency: what the storage design alone costs here.

A vote is "one request": `POST /api/ourvoice/v1/statuses/:id/moderation_vote` (verdict,
reason) when the native API is there, else `POST /api/v1/reports` with the status id (which
files a report and casts a remove vote per status). `--endpoint` forces one.

The 10,000-case phase never crosses the threshold (at most T-1 votes per case; checked), so the
rule is evaluated from PostgreSQL only on the hot case. Knobs for the server (env):
MODERATION_REMOVAL_THRESHOLD=T, MODERATION_VOTES_PER_DAY=0 (unlimited),
MODERATION_GRACE_SECONDS=0, MODERATION_BURST_FRACTION=0 (200 votes in a few seconds from
voters without prior interaction would otherwise be held for review, by design).

Checks: Vote rows == successful requests, and the set of (voter, post) pairs with a vote ==
the set of successful requests; one `vote.cast` audit event per vote and intact audit chains;
for every case with votes, Redis sums (`tally_read`) == PostgreSQL sums (`sums_from_db`); the
hot case: one remove decision, one `post.removed` event, 1,000 Delete requests at the sink,
one per inbox, signatures valid. Goals: ≥ 0.3 x trivial, p99 ≤ 50 ms at 16 clients, first
Delete within 1 s of the crossing vote.

Usage: `uv run python bench/votes.py [--quick] [--profile] [--endpoint auto|native|reports]`.
`--quick` is a reduced size (1,000 cases, 100 instances, short phases) that is never written to
docs/benchmarks.md. Uses the PostgreSQL database `ov_bench_votes` (recreated; `BENCH_DB`
overrides) and Redis database 13 (flushed; `BENCH_REDIS_URL` overrides); 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import json
import math
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DB", "ov_bench_votes")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DB,
    REDIS_URL,
    ROOT,
    bench_env,
    copy_rows,
    django_setup,
    free_port,
    http_get,
    load,
    recreate_database,
    run_manage,
    snowflake_at,
    write_section,
)
from bench.fanout import (
    comm_cpu,
    kill_tree,
    start_sink,
    start_worker,
    tree_cpu,
    verify_records,
    wait_for,
    wait_worker,
)

DAY_MS = 86_400_000
NATIVE_PATH = "/api/ourvoice/v1/statuses/{id}/moderation_vote"
REPORTS_PATH = "/api/v1/reports"
TRIVIAL_PATH = "/api/v1/custom_emojis"
TRIVIAL_AUTH_PATH = "/api/v2/filters"
#: DRF APIView under gunicorn -w 2 on the quiet box (performance.md §2.4): a noise gauge.
QUIET_BOX_DRF_RPS = 3_710
REMOVE_SHARE = 0.8
#: Same as `bench.vote_floor.FLOOR_PATH` (not imported: that module sets Django up on import).
FLOOR_PATH = "/bench/vote-floor/{id}"
FLOOR_KEY_PREFIX = "ov:bench:floor:"
#: The floor runs in this many rounds, each between two trivial measurements (as the votes).
FLOOR_ROUNDS = 2
REASONS = ("spam", "other", "legal")


# --- seeding -------------------------------------------------------------------------------------


@dataclass
class Seeded:
    voter_ids: list[int]  # account id per voter index (token bench-vote-<index>)
    voter_user_ids: list[int]
    case_posts: list[tuple[int, int, int]]  # (case id, post id, author account id)
    hot_post: int
    hot_author: int
    threshold: float
    exposure: int


def seed(args: argparse.Namespace, env: dict[str, str], sink_base: int) -> Seeded:
    from django.db import connection, transaction
    from oauth2_provider.models import AccessToken, Application

    from federation.models import Instance, PostInbox
    from moderation import tally
    from moderation.models import Case
    from ourvoice.accounts.models import Account, Follow, User
    from ourvoice.accounts.services import user_create
    from ourvoice.posts.models import Post

    rnd = random.Random(42)
    base = env["OURVOICE_SCHEME"] + "://" + env["OURVOICE_DOMAIN"]
    now_ms = int(time.time() * 1000)
    now = datetime.now(UTC)
    t0 = time.monotonic()
    n_voters, n_authors, n_cases = args.voters, args.authors, args.cases

    # The hot author through the service: it needs a key pair to sign the Delete.
    hot_author = user_create(
        username="hotauthor", email="hot@bench.example", password="bench password"
    ).account
    Account.objects.filter(pk=hot_author.pk).update(created_at=now - timedelta(days=400))
    first_user_id = User.objects.order_by("-id").values_list("id", flat=True).first() + 1

    users, accounts = [], []
    voter_ids, voter_user_ids, author_ids = [], [], []
    for i in range(n_voters + n_authors):
        created = now_ms - rnd.randint(45, 800) * DAY_MS  # > min age + ramp; ~110 weeks
        aid = snowflake_at(created, rnd)
        uid = first_user_id + i
        username = f"voter{i}" if i < n_voters else f"author{i - n_voters}"
        users.append(
            {
                "id": uid,
                "password": "!",
                "username": username,
                "email": f"{username}@bench.example",
                "is_active": True,
                "is_staff": False,
                "is_superuser": False,
                "first_name": "",
                "last_name": "",
                "approval": "approved",
                "signup_reason": "",
                "locale": "",
                "date_joined": datetime.fromtimestamp(created / 1000, UTC),
            }
        )
        uri = f"{base}/users/{username}"
        accounts.append(
            {
                "id": aid,
                "user_id": uid,
                "username": username,
                "domain": "",
                "kind": "Person",
                "role": "user",
                "display_name": f"Bench {username}",
                "note": "",
                "uri": uri,
                "url": f"{base}/@{username}",
                "inbox_uri": f"{uri}/inbox",
                "shared_inbox_uri": f"{base}/inbox",
                "followers_uri": f"{uri}/followers",
                "key_id": f"{uri}#main-key",
                "fields": [],
                "created_at": datetime.fromtimestamp(created / 1000, UTC),
                "first_seen_at": datetime.fromtimestamp(created / 1000, UTC),
                "updated_at": now,
            }
        )
        if i < n_voters:
            voter_ids.append(aid)
            voter_user_ids.append(uid)
        else:
            author_ids.append(aid)

    def post_row(pid: int, author: dict, n: int) -> dict:
        return {
            "id": pid,
            "author_id": author["id"],
            "content": f"<p>Contested post {n} by {author['username']}: a benchmark status "
            "with a little text so rows have a realistic size.</p>",
            "source": "",
            "spoiler_text": "",
            "sensitive": False,
            "language": "en",
            "visibility": "public",
            "in_reply_to_uri": "",
            "uri": f"{author['uri']}/statuses/{pid}",
            "url": f"{author['url']}/{pid}",
            "local": True,
            "application_name": "",
            "application_website": "",
            "state": "active",
            "published_at": now - timedelta(hours=rnd.randint(1, 72)),
            "replies_count": 0,
            "likes_count": 0,
            "reposts_count": 0,
        }

    posts, cases, case_posts = [], [], []
    author_rows = accounts[n_voters:]
    for n in range(n_cases):
        author = author_rows[n % n_authors]
        pid = snowflake_at(now_ms - rnd.randint(1, 72) * 3_600_000, rnd)
        posts.append(post_row(pid, author, n))
        cid = snowflake_at(now_ms - rnd.randint(1, 3_600_000), rnd)
        cases.append(
            {
                "id": cid,
                "post_id": pid,
                "author_id": author["id"],
                "scope": "local",
                "state": "open",
                "tally_version": 1,
                "opened_at": now - timedelta(minutes=30),
                "state_changed_at": now - timedelta(minutes=30),
                "appeal_text": "",
            }
        )
        case_posts.append((cid, pid, author["id"]))
    hot_author_row = {"id": hot_author.id, "username": "hotauthor", "uri": hot_author.uri}
    hot_author_row["url"] = hot_author.url
    hot_pid = snowflake_at(now_ms - 3_600_000, rnd)
    posts.append(post_row(hot_pid, hot_author_row, -1))

    # 1,000 sink instances, one follower each with a shared inbox; the hot post was sent there.
    instances, remote, follows, post_inboxes = [], [], [], []
    for i in range(args.instances):
        domain = f"127.0.0.1:{sink_base + i}"
        instances.append({"id": i + 1, "domain": domain, "software": "sink", "first_seen_at": now})
        uri = f"http://{domain}/users/f{i}"
        aid = snowflake_at(now_ms - 100 * DAY_MS, rnd)
        remote.append(
            {
                "id": aid,
                "username": f"f{i}",
                "domain": domain,
                "kind": "Person",
                "role": "user",
                "uri": uri,
                "url": f"http://{domain}/@f{i}",
                "inbox_uri": f"{uri}/inbox",
                "shared_inbox_uri": f"http://{domain}/inbox",
                "followers_uri": f"{uri}/followers",
                "key_id": f"{uri}#main-key",
                "fields": [],
                "created_at": now,
                "first_seen_at": now,
                "updated_at": now,
            }
        )
        follows.append(
            {
                "id": snowflake_at(now_ms - 50 * DAY_MS, rnd),
                "follower_id": aid,
                "target_id": hot_author.id,
                "state": "accepted",
                "uri": f"{uri}/follows/{aid}",
                "created_at": now,
                "accepted_at": now,
            }
        )
        post_inboxes.append({"id": i + 1, "post_id": hot_pid, "inbox": f"http://{domain}/inbox"})

    app = Application.objects.create(
        name="bench-votes",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        client_secret="bench-secret",
    )
    tokens = [
        {
            "id": n + 1,
            "user_id": voter_user_ids[n],
            "application_id": app.id,
            "token": "",
            "token_checksum": hashlib.sha256(f"bench-vote-{n}".encode()).hexdigest(),
            "expires": now + timedelta(days=3650),
            "scope": "read write follow push",
            "created": now,
            "updated": now,
        }
        for n in range(n_voters)
    ]
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        copy_rows(raw, User, users)
        copy_rows(raw, Account, accounts + remote)
        copy_rows(raw, Post, posts)
        copy_rows(raw, Case, cases)
        copy_rows(raw, Instance, instances)
        copy_rows(raw, Follow, follows)
        copy_rows(raw, PostInbox, post_inboxes)
        copy_rows(raw, AccessToken, tokens)
        for table, value in (
            ("accounts_user", first_user_id + len(users)),
            ("federation_instance", len(instances) + 1),
            ("federation_postinbox", len(post_inboxes) + 1),
            ("oauth2_provider_accesstoken", len(tokens) + 1),
        ):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}','id'), %s)", [value])
        Account.objects.filter(pk=hot_author.pk).update(
            followers_count=args.instances, statuses_count=1
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    # Steady state: every open case has its Redis sums (a new case gets them with its 1st vote).
    for case in Case.objects.filter(state="open").only("id", "tally_version"):
        tally.tally_rebuild(case)
    exposure = args.instances
    factor = 1 + math.log10(1 + exposure / 1000)
    threshold = float(round(0.65 * args.hot_voters / factor))
    print(
        f"seeded {n_voters:,} voters, {n_authors:,} authors, {n_cases:,} open cases, "
        f"{args.instances:,} sink followers of the hot author in {time.monotonic() - t0:.1f} s; "
        f"threshold T={threshold:g}, hot exposure {exposure} → T_eff={threshold * factor:.1f}",
        flush=True,
    )
    return Seeded(
        voter_ids, voter_user_ids, case_posts, hot_pid, hot_author.id, threshold, exposure
    )


# --- requests and load ---------------------------------------------------------------------------


@dataclass
class Item:
    voter: int  # voter index
    post: int
    author: int
    verdict: str
    raw: bytes = b""


@dataclass
class Record:
    item: Item
    status: int
    sent: float  # wall clock (time.time())
    done: float
    latency_ms: float


@dataclass
class Phase:
    records: list[Record] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> list[Record]:
        return [r for r in self.records if 200 <= r.status < 300]

    @property
    def rps(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else float("nan")

    def pct(self, q: float) -> float:
        lat = sorted(r.latency_ms for r in self.records)
        return lat[min(len(lat) - 1, int(q / 100 * len(lat)))] if lat else float("nan")

    def statuses(self) -> dict[int, int]:
        return dict(sorted(Counter(r.status for r in self.records).items()))


def build(item: Item, endpoint: str, port: int) -> bytes:
    if endpoint in ("native", "floor"):
        path = (NATIVE_PATH if endpoint == "native" else FLOOR_PATH).format(id=item.post)
        body = {"verdict": item.verdict, "reason": REASONS[item.voter % len(REASONS)]}
    else:
        path = REPORTS_PATH
        body = {
            "account_id": str(item.author),
            "status_ids": [str(item.post)],
            "category": "spam",
        }
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer bench-vote-{item.voter}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data


async def _send(port: int, raw: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1]) if data else 0


def run_phase(port: int, items: list[Item], concurrency: int, duration: float) -> Phase:
    """Closed loop: `concurrency` clients send the items in order until `duration` is up."""

    async def run() -> Phase:
        phase = Phase()
        queue = iter(items)
        stop_at = time.monotonic() + duration

        async def worker() -> None:
            for item in queue:
                sent, t0 = time.time(), time.perf_counter()
                try:
                    status = await _send(port, item.raw)
                except OSError:
                    status = 0
                latency = (time.perf_counter() - t0) * 1000
                phase.records.append(Record(item, status, sent, time.time(), latency))
                if time.monotonic() >= stop_at:
                    return

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = time.monotonic() - start
        return phase

    return asyncio.run(run())


def run_burst(port: int, items: list[Item]) -> Phase:
    """Every item sent at the same moment, each on its own connection."""

    async def run() -> Phase:
        phase = Phase()
        gate = asyncio.Event()

        async def one(item: Item) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await gate.wait()
            sent, t0 = time.time(), time.perf_counter()
            writer.write(item.raw)
            await writer.drain()
            data = await reader.read()
            writer.close()
            status = int(data.split(b" ", 2)[1]) if data else 0
            latency = (time.perf_counter() - t0) * 1000
            phase.records.append(Record(item, status, sent, time.time(), latency))

        tasks = [asyncio.create_task(one(item)) for item in items]
        await asyncio.sleep(0.5)  # every connection open (queued in the listen backlog)
        start = time.monotonic()
        gate.set()
        await asyncio.gather(*tasks)
        phase.seconds = time.monotonic() - start
        return phase

    return asyncio.run(run())


def make_pairs(seeded: Seeded, count: int, rnd: random.Random, cap: int) -> list[Item]:
    """`count` distinct (voter, case) pairs over the open cases, at most `cap` per case."""
    n_voters = len(seeded.voter_ids)
    used: set[tuple[int, int]] = set()
    per_case: Counter[int] = Counter()
    items: list[Item] = []
    cases = seeded.case_posts
    while len(items) < count:
        v = rnd.randrange(n_voters)
        c = rnd.randrange(len(cases))
        if (v, c) in used or per_case[c] >= cap:
            continue
        used.add((v, c))
        per_case[c] += 1
        _cid, pid, author = cases[c]
        verdict = "remove" if rnd.random() < REMOVE_SHARE else "keep"
        items.append(Item(v, pid, author, verdict))
    return items


# --- checks --------------------------------------------------------------------------------------


def check_votes(seeded: Seeded, phases: list[Phase]) -> dict:
    """Every successful request left exactly one vote, and nothing else did."""
    from moderation.models import AuditEvent, Vote

    account_of = dict(enumerate(seeded.voter_ids))
    ok = Counter()
    for phase in phases:
        for r in phase.ok:
            ok[(account_of[r.item.voter], r.item.post)] += 1
    rows = Counter(Vote.objects.values_list("voter_id", "case__post_id"))
    active = Vote.objects.filter(active=True).count()
    return {
        "requests_ok": sum(ok.values()),
        "vote_rows": sum(rows.values()),
        "active": active,
        "missing": sum(1 for k in ok if k not in rows),
        "extra": sum(1 for k in rows if k not in ok),
        "doubled": sum(1 for n in rows.values() if n > 1),
        "audit_vote_events": AuditEvent.objects.filter(kind="vote.cast").count(),
    }


def check_tallies() -> dict:
    """For every case with votes: Redis sums == PostgreSQL sums."""
    from moderation.models import Case, Vote
    from moderation.tally import sums_from_db, tally_read

    case_ids = set(Vote.objects.values_list("case_id", flat=True).distinct())
    equal = differ = missing = 0
    examples = []
    for case in Case.objects.filter(pk__in=case_ids):
        db = sums_from_db(case)
        cached = tally_read(case)
        if cached is None:
            missing += 1
            continue
        same = (
            math.isclose(db.rw, cached.rw, abs_tol=1e-6)
            and math.isclose(db.kw, cached.kw, abs_tol=1e-6)
            and (db.rn, db.rc, db.kn) == (cached.rn, cached.rc, cached.kn)
        )
        equal += same
        differ += not same
        if not same and len(examples) < 3:
            examples.append((case.id, db, cached))
    return {
        "cases": len(case_ids),
        "equal": equal,
        "differ": differ,
        "missing": missing,
        "examples": examples,
    }


@dataclass(frozen=True)
class TrivialRate:
    """The trivial endpoint measured between the rounds of the 64-client votes (before the
    first, between each two, after the last); `rps` is the mean of those measurements."""

    runs: list[Any]

    @property
    def rps(self) -> float:
        return statistics.mean(run.rps for run in self.runs)

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)


#: The 64-client votes run in this many rounds, each between two trivial measurements: the
#: ratio of a round pairs it with the trivial rate right around it, so the load that comes and
#: goes on a shared box weighs on both sides alike, and the reported ratio is their median.
ROUNDS = 4


def trivial_load(port: int, duration: float) -> Any:
    """The trivial endpoint with 64 clients for `duration` seconds."""
    return load("127.0.0.1", port, lambda r: (TRIVIAL_PATH, {}), concurrency=64, duration=duration)


@dataclass
class Rounds:
    phase: Phase  # every round's requests
    trivial: list[Any]  # the trivial measurements, one more than the rounds
    ratios: list[float]  # per round: its rate over the mean trivial rate around it
    cpu: tuple[float, ...]  # the `cpu()` readings' growth, summed over the rounds only
    left: list[Item]  # the items no round sent


def run_rounds(
    port: int,
    items: list[Item],
    *,
    rounds: int,
    duration: float,
    trivial_duration: float,
    cpu: Callable[[], tuple[float, ...]],
) -> Rounds:
    """`rounds` runs of 64 clients over `items` (sent in order), each between two trivial
    measurements, so the load that comes and goes on a shared box weighs on both sides."""
    runs, phase, ratios, left = [trivial_load(port, trivial_duration)], Phase(), [], items
    spent: tuple[float, ...] = ()
    for _ in range(rounds):
        before = cpu()
        part = run_phase(port, left, concurrency=64, duration=duration)
        grown = tuple(b - a for a, b in zip(before, cpu(), strict=True))
        spent = tuple(map(sum, zip(spent, grown, strict=True))) if spent else grown
        left = left[len(part.records) :]
        phase.records += part.records
        phase.seconds += part.seconds
        runs.append(trivial_load(port, trivial_duration))
        around = (runs[-2].rps + runs[-1].rps) / 2
        ratios.append(part.rps / around if around else float("nan"))
    return Rounds(phase, runs, ratios, spent, left)


# --- profile -------------------------------------------------------------------------------------


class RedisCounter:
    """Counts Redis round trips (commands outside pipelines, and pipeline executions)."""

    def __init__(self) -> None:
        self.calls = 0

    def __enter__(self) -> RedisCounter:
        import redis.client

        self._cmd = redis.client.Redis.execute_command
        self._pipe = redis.client.Pipeline.execute
        counter = self

        def cmd(client, *args, **kwargs):
            if not isinstance(client, redis.client.Pipeline):
                counter.calls += 1
            return counter._cmd(client, *args, **kwargs)

        def pipe(p, *args, **kwargs):
            counter.calls += 1
            return counter._pipe(p, *args, **kwargs)

        redis.client.Redis.execute_command = cmd
        redis.client.Pipeline.execute = pipe
        return self

    def __exit__(self, *exc) -> None:
        import redis.client

        redis.client.Redis.execute_command = self._cmd
        redis.client.Pipeline.execute = self._pipe


FOCUS = [
    (
        "whole request (Django handler: middleware, URL, DRF)",
        "django/core/handlers/base.py",
        "get_response",
    ),
    ("  URL resolution", "django/core/handlers/base.py", "resolve_request"),
    ("  token lookup (auth)", "ourvoice/api/mastodon/auth.py", "access_token_lookup"),
    (
        "  post_get_visible_to (post, author, relations)",
        "ourvoice/posts/selectors.py",
        "post_get_visible_to",
    ),
    ("  vote_cast (service, with its transaction)", "moderation/services.py", "vote_cast"),
    (
        "    lock the case + vote context (one statement)",
        "moderation/selectors.py",
        "case_live_try_lock_with_context",
    ),
    (
        "    write vote + audit event + case (one statement)",
        "moderation/services.py",
        "_vote_insert",
    ),
    ("    tally_record (Redis script)", "moderation/tally.py", "tally_record"),
    ("    _evaluate_open (rule from PostgreSQL)", "moderation/services.py", "_evaluate_open"),
    ("  report_create (reports endpoint only)", "moderation/services.py", "report_create"),
]


def profile_votes(seeded: Seeded, endpoint: str, port: int, n: int) -> str:
    """The vote path in this process through Django's test client (full middleware + DRF):
    queries and Redis round trips per vote, unprofiled wall/CPU per vote against the trivial
    endpoint, then cProfile cumulative time of the parts of one vote, and the cost of one
    rule evaluation on the (decided) hot case."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from moderation import rule, selectors
    from moderation.models import Case
    from ourvoice.posts.models import Post

    rnd = random.Random(99)
    # Fresh pairs: voters with indexes beyond the hot voters, on cases with few votes.
    items = make_pairs(seeded, 3 * n + 1, rnd, cap=2**31)
    from moderation.models import Vote

    have = set(Vote.objects.values_list("voter_id", "case__post_id"))
    items = [i for i in items if (seeded.voter_ids[i.voter], i.post) not in have][: 3 * n + 1]
    host = {"HTTP_HOST": f"127.0.0.1:{port}"}

    client = Client(**host)  # one client: its middleware chain is built once, as in gunicorn

    def vote(item: Item) -> int:
        if endpoint == "native":
            path = NATIVE_PATH.format(id=item.post)
            body = {"verdict": item.verdict, "reason": "spam"}
        else:
            path = REPORTS_PATH
            body = {"account_id": str(item.author), "status_ids": [str(item.post)]}
        return client.post(
            path,
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer bench-vote-{item.voter}",
        ).status_code

    with CaptureQueriesContext(connection) as ctx, RedisCounter() as rc:
        status = vote(items[0])
    raw_sql = [q["sql"] for q in ctx.captured_queries]
    queries = [" ".join(sql.split())[:100] for sql in raw_sql]
    t0, c0 = time.perf_counter(), time.process_time()
    statuses = Counter(vote(i) for i in items[1 : n + 1])
    t_vote = (time.perf_counter() - t0) / n * 1000
    c_vote = (time.process_time() - c0) / n * 1000
    t0, c0 = time.perf_counter(), time.process_time()
    trivial = Counter(client.get(TRIVIAL_PATH).status_code for _ in range(n))
    t_trivial = (time.perf_counter() - t0) / n * 1000
    c_trivial = (time.process_time() - c0) / n * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for item in items[n + 1 : 2 * n + 1]:
        vote(item)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def cum(path: str, name: str) -> float:
        return sum(
            ct
            for (filename, _l, func), (_cc, _nc, _tt, ct, _c) in stats.items()
            if filename.endswith(path) and func == name
        )

    total = cum("django/core/handlers/base.py", "get_response") or 1e-9
    lines = []
    for label, path, name in FOCUS:
        value = cum(path, name)
        if value == 0:
            continue
        lines.append(f"  {label:<50} {value / n * 1000:6.2f} ms  {value / total * 100:5.1f} %")
    # Where the queries come from, grouped by the table they touch first.
    tables = Counter()
    for sql in raw_sql:
        word = sql.split()[0]
        table = next((t for t in sql.replace('"', " ").split() if "_" in t and t.islower()), "")
        tables[f"{word} {table}" if word in ("SELECT", "INSERT", "UPDATE") else word] += 1
    # One rule evaluation on the hot case (its post is removed now; the facts are the same).
    hot = Case.objects.filter(post_id=seeded.hot_post).first()
    eval_line = ""
    if hot is not None:
        post = Post.objects.get(pk=seeded.hot_post)
        config = selectors.rule_config()
        with CaptureQueriesContext(connection) as ectx:
            t0 = time.perf_counter()
            for _ in range(20):
                facts = selectors.case_facts(case=hot, post=post, now=datetime.now(UTC))
                rule.evaluate(facts, config)
            t_eval = (time.perf_counter() - t0) / 20 * 1000
        eval_line = (
            f"one rule evaluation on the hot case ({len(facts.votes)} votes, from PostgreSQL): "
            f"{t_eval:.2f} ms, {len(ectx.captured_queries) // 20} queries\n"
        )
    return (
        f"vote in-process via {endpoint} (status {status}), unprofiled per request (wall / CPU "
        f"of this process): {t_vote:.2f} / {c_vote:.2f} ms over {n} votes (statuses "
        f"{dict(statuses)}); trivial endpoint {TRIVIAL_PATH} {t_trivial:.2f} / {c_trivial:.2f} "
        f"ms (statuses {dict(trivial)}).\n"
        f"{len(queries)} SQL queries and {rc.calls} Redis round trips per vote:\n"
        + "".join(f"    {q}\n" for q in queries)
        + "queries by statement and table: "
        + ", ".join(f"{k} ×{v}" for k, v in tables.most_common())
        + "\n"
        + eval_line
        + f"cumulative time per vote (cProfile over {n} votes; profiling inflates Python-heavy "
        "parts):\n" + "\n".join(lines) + "\n"
    )


@contextlib.contextmanager
def gunicorn(cmd: list[str], env: dict[str, str], port: int, log: Path):
    """`common.server`, but the server's stderr goes to a file: the vote path logs one INFO
    line per vote, and an unread pipe would fill up and block the workers mid-transaction."""
    out = log.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {log}")
            with contextlib.suppress(OSError):
                if http_get("127.0.0.1", port, "/health", {})[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become healthy in time")
            time.sleep(0.2)
        yield proc
    finally:
        kill_tree(proc)
        out.close()


@dataclass
class Floor:
    """The vote's I/O floor (`bench/vote_floor.py`) against the trivial endpoint."""

    phase: Phase
    trivial: list[Any]
    ratios: list[float]
    web_cpu_ms: float
    at16: Phase

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)


def measure_floor(
    env: dict[str, str], items: list[Item], log: Path, avoid: range, duration: float
) -> Floor:
    """The floor app under its own gunicorn (-w 2, as the votes): a short warm-up, then
    `FLOOR_ROUNDS` rounds of 64 clients, each between two trivial measurements."""
    port = free_port()
    while port in avoid:
        port = free_port()
    for item in items:
        item.raw = build(item, "floor", port)
    cmd = [sys.executable, "-m", "gunicorn", "bench.vote_floor:application", "-w", "2"]
    cmd += ["-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning"]
    with gunicorn(cmd, env, port, log) as web:
        load("127.0.0.1", port, lambda r: (TRIVIAL_PATH, {}), concurrency=8, duration=1.0)
        warm = run_phase(port, items[:200], concurrency=16, duration=600)
        rounds = run_rounds(
            port,
            items[200:],
            rounds=FLOOR_ROUNDS,
            duration=duration,
            trivial_duration=duration,
            cpu=lambda: (tree_cpu(web.pid),),
        )
        at16 = run_phase(port, rounds.left, concurrency=16, duration=duration)
    phase = rounds.phase
    bad = {**warm.statuses(), **phase.statuses(), **at16.statuses()}
    if set(bad) != {200}:
        raise RuntimeError(f"the vote floor answered {bad}: see {log}")
    cpu_ms = rounds.cpu[0] / max(1, len(phase.records)) * 1000
    return Floor(phase, rounds.trivial, rounds.ratios, cpu_ms, at16)


# --- main ----------------------------------------------------------------------------------------


def detect_endpoint() -> str:
    from django.urls import Resolver404, resolve

    try:
        match = resolve(NATIVE_PATH.format(id=1))
    except Resolver404:
        return "reports"
    return "reports" if match.func.__name__ == "api_not_found" else "native"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes; not written to docs")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--voters", type=int, default=2_000)
    parser.add_argument("--authors", type=int, default=500)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--hot-voters", type=int, default=200)
    parser.add_argument("--duration64", type=float, default=20.0)
    parser.add_argument("--duration16", type=float, default=15.0)
    parser.add_argument("--trivial-duration", type=float, default=8.0)
    parser.add_argument("--endpoint", choices=("auto", "native", "reports"), default="auto")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-votes", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for Deletes")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.voters, args.authors, args.instances = 1_000, 400, 100, 100
        args.duration64, args.duration16, args.trivial_duration = 5.0, 4.0, 3.0
        args.profile_votes = 50
    standard = (args.cases, args.instances, args.hot_voters) == (10_000, 1_000, 200)

    import redis

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log_dir = Path("/tmp") / f"ov-bench-votes-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    sink = start_sink(args.instances)
    worker = None
    try:
        port = free_port()
        while sink.base <= port < sink.base + args.instances:
            port = free_port()
        knobs = {
            "MODERATION_VOTES_PER_DAY": "0",
            "MODERATION_GRACE_SECONDS": "0",
            "MODERATION_BURST_FRACTION": "0",
        }
        env = bench_env(
            port,
            OURVOICE_ALLOWED_PRIVATE_ADDRESSES="127.0.0.0/8",
            CELERY_BROKER_URL=REDIS_URL,
            **knobs,
        )
        recreate_database()
        redis.Redis.from_url(REDIS_URL).flushdb()
        print(f"migrating {BENCH_DB}; sink on 127.0.0.1:{sink.base}+{args.instances}", flush=True)
        run_manage(env, "migrate", "--noinput")
        django_setup(env)
        import logging

        logging.disable(logging.INFO)
        seeded = seed(args, env, sink.base)
        env["MODERATION_REMOVAL_THRESHOLD"] = f"{seeded.threshold:g}"
        os.environ["MODERATION_REMOVAL_THRESHOLD"] = env["MODERATION_REMOVAL_THRESHOLD"]
        from django.conf import settings

        settings.MODERATION_REMOVAL_THRESHOLD = seeded.threshold
        endpoint = detect_endpoint() if args.endpoint == "auto" else args.endpoint
        print(f"vote endpoint: {endpoint}", flush=True)

        from django.db.models import Count

        from federation.models import Delivery
        from moderation.audit import audit_chain_verify
        from moderation.models import Case, Decision, Vote
        from ourvoice.core.models import OutboxEvent

        rnd = random.Random(7)
        cap = int(seeded.threshold) - 1  # the 10k-case phase never reaches the threshold
        hot_idx = list(range(args.hot_voters))  # voters 0..199 (they vote elsewhere too)
        # Pairs for warm-up + both phases; a phase stops at its duration, the rest stay unsent.
        budget = int(max(args.duration64, args.duration16) * 2_500) + 400
        items = make_pairs(seeded, budget * 2 + 400, rnd, cap=cap)
        for item in items:
            item.raw = build(item, endpoint, port)
        warm_items, items = items[:400], items[400:]
        at64, at16 = items[: len(items) // 2], items[len(items) // 2 :]
        hot_items = [Item(v, seeded.hot_post, seeded.hot_author, "remove", b"") for v in hot_idx]
        for item in hot_items:
            item.raw = build(item, endpoint, port)

        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "ourvoice.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        worker = start_worker(env, "votes", log_dir / "worker.log")
        with gunicorn(cmd, env, port, log_dir / "gunicorn.log") as web:
            wait_worker(worker, "votes")
            # Warm-up: both gunicorn workers, connections, the trivial endpoints.
            load("127.0.0.1", port, lambda r: (TRIVIAL_PATH, {}), concurrency=8, duration=1.5)
            warm = run_phase(port, warm_items, concurrency=16, duration=600)
            print(f"warm-up: {len(warm_items)} votes {warm.statuses()}", flush=True)
            # Autovacuum is off on this box; with it on, the vote and audit tables (empty when
            # seeded) are analyzed after their first 50 rows. Without it the planner keeps
            # their empty-table statistics and scans them whole on every vote.
            from django.db import connection

            with connection.cursor() as cur:
                cur.execute("ANALYZE")

            def cpu_now() -> tuple[float, ...]:
                return (
                    tree_cpu(web.pid),
                    comm_cpu("postgres"),
                    comm_cpu("redis-server"),
                    time.process_time(),
                )

            load_before = os.getloadavg()[0]
            rounds = run_rounds(
                port,
                at64,
                rounds=ROUNDS,
                duration=args.duration64 / ROUNDS,
                trivial_duration=args.trivial_duration / (ROUNDS + 1),
                cpu=cpu_now,
            )
            p64, round_ratios, trivial = rounds.phase, rounds.ratios, TrivialRate(rounds.trivial)
            cpu16 = (tree_cpu(web.pid), comm_cpu("postgres"))
            p16 = run_phase(port, at16, concurrency=16, duration=args.duration16)
            cpu16 = (tree_cpu(web.pid) - cpu16[0], comm_cpu("postgres") - cpu16[1])
            trivial_auth = load(
                "127.0.0.1",
                port,
                lambda r: (
                    TRIVIAL_AUTH_PATH,
                    {"Authorization": f"Bearer bench-vote-{r.randrange(len(seeded.voter_ids))}"},
                ),
                concurrency=64,
                duration=args.trivial_duration,
            )
            load_after = os.getloadavg()[0]
            print(
                f"64 clients: {p64.rps:,.0f} votes/s {p64.statuses()}; 16 clients: "
                f"p50 {p16.pct(50):.1f} p99 {p16.pct(99):.1f} ms {p16.statuses()}; trivial "
                f"{trivial.rps:,.0f} req/s (errors {trivial.errors}), authenticated trivial "
                f"{trivial_auth.rps:,.0f} req/s",
                flush=True,
            )

            # Let the worker drain what the votes queued (report events) before the hot case.
            wait_for(
                lambda: not OutboxEvent.objects.filter(processed_at__isnull=True).exists(),
                timeout=120,
                step=0.2,
            )
            sink.get("/reset")
            hot = run_burst(port, hot_items)
            got_all = wait_for(
                lambda: sink.get("/count")["distinct"] >= args.instances,
                timeout=args.timeout,
                step=0.05,
            )
            wait_for(
                lambda: not Delivery.objects.filter(state=Delivery.State.PENDING).exists(),
                timeout=30,
                step=0.1,
            )
            dump = sink.get("/dump")

        # --- the vote's I/O floor, under its own gunicorn -------------------------------------
        floor = measure_floor(
            env,
            [Item(i.voter, i.post, i.author, i.verdict, b"") for i in at64],
            log_dir / "gunicorn-floor.log",
            avoid=range(sink.base, sink.base + args.instances),
            duration=args.duration64 / ROUNDS,
        )
        floor_redis = redis.Redis.from_url(REDIS_URL)
        for key in list(floor_redis.scan_iter(match=f"{FLOOR_KEY_PREFIX}*", count=1000)):
            floor_redis.delete(key)
        print(
            f"vote floor: {floor.phase.rps:,.0f} req/s, ratio {floor.ratio:.2f} "
            f"(rounds {', '.join(f'{r:.2f}' for r in floor.ratios)}); 16 clients: p50 "
            f"{floor.at16.pct(50):.1f} p99 {floor.at16.pct(99):.1f} ms",
            flush=True,
        )

        # --- the hot case ---------------------------------------------------------------------
        hot_case = Case.objects.get(post_id=seeded.hot_post)
        removes = list(Decision.objects.filter(case=hot_case, outcome=Decision.Outcome.REMOVE))
        crossing = None
        if removes:
            decided = removes[0].created_at
            crossing_vote = Vote.objects.filter(case=hot_case, cast_at=decided).first()
            if crossing_vote is not None:
                voter_index = seeded.voter_ids.index(crossing_vote.voter_id)
                crossing = next(r for r in hot.records if r.item.voter == voter_index)
        hot_votes = Vote.objects.filter(case=hot_case)
        counted_before = hot_votes.filter(counts=True).count()
        removed_events = OutboxEvent.objects.filter(
            kind="post.removed", payload__post_id=seeded.hot_post
        ).count()
        deliveries = Counter(
            Delivery.objects.filter(activity__uri__endswith="/delete").values_list(
                "inbox", flat=True
            )
        )
        records = dump["records"]
        times = sorted(rec[-1] for rec in records)
        kinds = Counter(json.loads(body).get("type") for body in dump["bodies"].values())
        from ourvoice.accounts.models import Account

        author = Account.objects.get(pk=seeded.hot_author)
        expected = set(
            Delivery.objects.filter(activity__uri__endswith="/delete").values_list(
                "activity__uri", "inbox"
            )
        )
        sig = verify_records(dump, author, expected)
        first_delete = times[0] - crossing.done if crossing and times else float("nan")
        last_delete = times[-1] - crossing.done if crossing and times else float("nan")
        first_from_sent = times[0] - crossing.sent if crossing and times else float("nan")
        crossing_rank = (
            sorted(r.done for r in hot.records).index(crossing.done) + 1 if crossing else None
        )

        # --- exactly once ---------------------------------------------------------------------
        votes = check_votes(seeded, [warm, p64, p16, hot])
        tallies = check_tallies()
        chains = audit_chain_verify(
            case_ids=[hot_case.id] + [c for c, _, _ in seeded.case_posts[:200]]
        )
        overfull = (
            Vote.objects.filter(case__post_id__in=[p for _, p, _ in seeded.case_posts])
            .values("case_id")
            .order_by()
            .annotate(n=Count("id"))
            .filter(n__gte=seeded.threshold)
            .count()
        )
        other_decisions = Decision.objects.exclude(case=hot_case).count()
        web_cpu_ms, pg_cpu_ms, redis_cpu_ms, loadgen_cpu_ms = (
            spent / max(1, len(p64.records)) * 1000 for spent in rounds.cpu
        )

        profile = ""
        if args.profile:
            profile = profile_votes(seeded, endpoint, port, args.profile_votes)
            print("\n--- profile ---\n" + profile)
    finally:
        if worker is not None and worker.poll() is None:
            kill_tree(worker)
        kill_tree(sink.proc)

    ratio = statistics.median(round_ratios)
    exact = (
        votes["missing"] == 0
        and votes["extra"] == 0
        and votes["doubled"] == 0
        and votes["vote_rows"] == votes["requests_ok"]
        and votes["audit_vote_events"] == votes["vote_rows"]
        and tallies["differ"] == 0
        and tallies["missing"] == 0
        and not chains
        and overfull == 0
        and other_decisions == 0
    )
    hot_ok = (
        len(removes) == 1
        and removed_events == 1
        and got_all
        and sig["distinct"] == args.instances
        and sig["duplicates"] == 0
        and sig["bad_signatures"] == 0
        and len(deliveries) == args.instances
        and max(deliveries.values(), default=0) == 1
    )
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    path = NATIVE_PATH if endpoint == "native" else f"{REPORTS_PATH} (one status per report)"
    lines = [
        "## Votes (MOD-1)",
        "",
        f"`bench/votes.py`: local votes through the API, one request per vote (`POST {path}`, "
        f"bearer token, JSON); {args.cases:,} open cases on posts of {args.authors} authors, "
        f"{args.voters:,} voters aged 45–800 days (weight 1), every request a distinct "
        f"(voter, case) pair, {REMOVE_SHARE:.0%} remove; the threshold (T = "
        f"{seeded.threshold:g}) is never reached in that phase. gunicorn -w 2 (sync), debug off, "
        "rate limits off, a Celery worker `-Q inbox,delivery,default -c 2`, PostgreSQL database "
        f"`{BENCH_DB}`, Redis db 13; knobs `MODERATION_VOTES_PER_DAY=0`, "
        "`MODERATION_GRACE_SECONDS=0`, `MODERATION_BURST_FRACTION=0`, "
        f"`MODERATION_REMOVAL_THRESHOLD={seeded.threshold:g}`. The load generator (raw asyncio "
        "HTTP/1.1, one connection per request) shares the 2 cores; load average (1 min) "
        f"before / after the measured phases: {load_before:.1f} / {load_after:.1f}. Autovacuum "
        "is off on this box, so the script runs `ANALYZE` after the 400-vote warm-up, as "
        "autovacuum would once the (seeded empty) vote and audit tables grow.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| votes/s, 64 clients ({len(p64.records):,} votes in {p64.seconds:.1f} s) | "
        f"**{p64.rps:,.0f}** | ≥ 0.3 × trivial (about {0.3 * trivial.rps:,.0f}): "
        f"{verdict(ratio >= 0.3)} |",
        f"| trivial DRF `GET {TRIVIAL_PATH}`, 64 clients, same run (mean of {len(trivial.runs)}"
        f" measurements around the {ROUNDS} rounds of votes: "
        f"{', '.join(f'{run.rps:,.0f}' for run in trivial.runs)}) | {trivial.rps:,.0f} req/s | |",
        f"| ratio votes / trivial (median of the rounds: "
        f"{', '.join(f'{r:.2f}' for r in round_ratios)}) | **{ratio:.2f}** | ≥ 0.30 |",
        f"| the vote's I/O floor (`bench/vote_floor.py`: the same round trips as a vote, "
        f"trivial statements, no vote logic), 64 clients, own gunicorn "
        f"({len(floor.phase.records):,} requests; trivial around it: "
        f"{', '.join(f'{run.rps:,.0f}' for run in floor.trivial)}"
        f") | {floor.phase.rps:,.0f} req/s = **{floor.ratio:.2f} × trivial** (rounds "
        f"{', '.join(f'{r:.2f}' for r in floor.ratios)}); gunicorn CPU "
        f"{floor.web_cpu_ms:.2f} ms per request; 16 clients: {floor.at16.rps:,.0f} req/s, p50 / "
        f"p99 {floor.at16.pct(50):.1f} / {floor.at16.pct(99):.1f} ms | |",
        f"| token-authenticated trivial `GET {TRIVIAL_AUTH_PATH}`, 64 clients | "
        f"{trivial_auth.rps:,.0f} req/s (votes are {p64.rps / trivial_auth.rps:.2f} × this) | |",
        f"| latency p50 / p99, 16 clients ({len(p16.records):,} votes, {p16.rps:,.0f} votes/s) | "
        f"{p16.pct(50):.1f} / **{p16.pct(99):.1f} ms** | p99 ≤ 50 ms: "
        f"{verdict(p16.pct(99) <= 50)} |",
        f"| latency p50 / p99, 64 clients | {p64.pct(50):.1f} / {p64.pct(99):.1f} ms | |",
        f"| server CPU per vote (gunicorn tree), 64 / 16 clients | {web_cpu_ms:.2f} / "
        f"{cpu16[0] / max(1, len(p16.records)) * 1000:.2f} ms | |",
        f"| Redis server CPU per vote | {redis_cpu_ms:.3f} ms | |",
        f"| PostgreSQL CPU per vote (every postgres process on the box), 64 / 16 clients | "
        f"{pg_cpu_ms:.2f} / {cpu16[1] / max(1, len(p16.records)) * 1000:.2f} ms | |",
        f"| load generator CPU per vote (this script) | {loadgen_cpu_ms:.2f} ms | |",
        f"| hot case: {args.hot_voters} voters at once | {len(hot.ok)} accepted in "
        f"{hot.seconds:.2f} s ({len(hot.ok) / hot.seconds:,.0f} votes/s), p50 / p99 "
        f"{hot.pct(50):.0f} / {hot.pct(99):.0f} ms | |",
        f"| crossing vote → first `Delete` at the sink | **{first_delete * 1000:.0f} ms** "
        f"({first_from_sent * 1000:.0f} ms from when it was sent) | ≤ 1 s: "
        f"{verdict(first_delete <= 1)} |",
        f"| crossing vote → last of {args.instances:,} `Delete`s | {last_delete:.2f} s | |",
        "",
        f"Noise: the trivial endpoint ran at {trivial.rps:,.0f} req/s, "
        f"{trivial.rps / QUIET_BOX_DRF_RPS:.0%} of the {QUIET_BOX_DRF_RPS:,} req/s a DRF APIView "
        "does on the quiet box (performance.md §2.4); absolute figures scale with that, the ratio "
        "less so.",
        "",
        f"Statuses: 64 clients {p64.statuses()}, 16 clients {p16.statuses()}, hot case "
        f"{hot.statuses()}, warm-up {warm.statuses()}.",
        "",
        f"Exactly once: {votes['requests_ok']:,} successful vote requests, {votes['vote_rows']:,} "
        f"Vote rows ({votes['active']:,} active), missing {votes['missing']}, unexpected "
        f"{votes['extra']}, doubled {votes['doubled']}; `vote.cast` audit events "
        f"{votes['audit_vote_events']:,}; audit chains checked (hot case + 200 cases): "
        f"{len(chains)} problems. Redis sums == PostgreSQL sums (`tally_read` vs "
        f"`sums_from_db`) on {tallies['equal']:,} of {tallies['cases']:,} cases with votes "
        f"(differ {tallies['differ']}, key missing {tallies['missing']}); cases of the open-case "
        f"phase at or over the threshold: {overfull}; decisions outside the hot case: "
        f"{other_decisions}. **{'OK' if exact else 'CHECK FAILED'}**.",
        "",
        f"Hot case: the crossing vote was the {crossing_rank}th answer of "
        f"{len(hot.records)}; {counted_before} votes counted; remove decisions "
        f"{len(removes)}, `post.removed` events {removed_events}; the sink got "
        f"{sig['records']:,} requests ({', '.join(f'{k} {v}' for k, v in kinds.items())}) on "
        f"{sig['distinct']:,} distinct inboxes, duplicates {sig['duplicates']}, signatures valid "
        f"{sig['records'] - sig['bad_signatures']:,}/{sig['records']:,}; Delivery rows "
        f"{sum(deliveries.values()):,} for {len(deliveries):,} inboxes. "
        f"**{'OK' if hot_ok else 'CHECK FAILED'}**.",
    ]
    if profile:
        lines += [
            "",
            "Profile (`--profile`: the same vote path in this process after the run):",
            "",
            "```",
            profile.rstrip(),
            "```",
        ]
    report = "\n".join(lines)
    print()
    print(report)
    if standard and not args.quick and not args.no_write:
        write_section("votes", report)
    else:
        print("(not written to docs/benchmarks.md: --quick or not the standard size)")
    return 0 if exact and hot_ok else 1


if __name__ == "__main__":
    sys.exit(main())
