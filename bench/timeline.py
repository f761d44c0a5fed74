"""TL-1/TL-2 (performance.md §4): home and public timeline latency and throughput.

Seeds a dedicated PostgreSQL database with PostgreSQL COPY — 10,000 accounts (3,000 local,
7,000 remote on 100 domains), 1,000,000 posts over 30 days, 1,000 readers following 150
accounts on average (log-normal) with their home feeds as fan-out on write leaves them — then
starts gunicorn (2 workers, debug off, rate limits off) and measures:

- queries per page (home and public, first and deeper pages; must not depend on the page size),
- p50/p99 latency with one client (pages of 40),
- requests/s with 64 concurrent clients for home, public and a trivial authenticated DRF
  endpoint (`GET /api/v2/filters`) in the same run, and the ratios.

Usage: `uv run python bench/timeline.py [--posts 1000000] [--accounts 10000] [--readers 1000]
[--duration 15] [--reuse]` (`--reuse` skips seeding when the bench database is already seeded).
Figures are printed and written to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BENCH_DB,
    bench_env,
    copy_rows,
    django_setup,
    free_port,
    load,
    progress_printer,
    recreate_database,
    run_manage,
    server,
    snowflake_at,
    write_section,
)

DAY_MS = 86_400_000


def seed(args: argparse.Namespace, env: dict[str, str]) -> None:
    from django.db import connection, transaction

    from ourvoice.accounts.models import Account, Follow, User
    from ourvoice.posts.models import Post

    rnd = random.Random(42)
    base = env["OURVOICE_SCHEME"] + "://" + env["OURVOICE_DOMAIN"]
    now_ms = int(time.time() * 1000)
    n_local = int(args.accounts * 0.3)
    t0 = time.monotonic()
    print(f"seeding {args.accounts:,} accounts, {args.posts:,} posts, {args.readers:,} readers")
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        account_ids: list[int] = []
        users = []
        accounts = []
        for i in range(args.accounts):
            created = now_ms - rnd.randint(40, 900) * DAY_MS
            aid = snowflake_at(created, rnd)
            account_ids.append(aid)
            if i < n_local:
                username, domain = f"user{i}", ""
                uri, url = f"{base}/users/{username}", f"{base}/@{username}"
                users.append(
                    {
                        "id": i + 1,
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
                        "date_joined": f"{time.strftime('%Y-%m-%d')}",
                    }
                )
            else:
                username, domain = f"remote{i}", f"peer{i % 100}.example"
                uri, url = f"https://{domain}/users/{username}", f"https://{domain}/@{username}"
            accounts.append(
                {
                    "id": aid,
                    "user_id": i + 1 if i < n_local else None,
                    "username": username,
                    "domain": domain,
                    "kind": "Person",
                    "role": "user",
                    "display_name": f"Bench {username}",
                    "note": "<p>Benchmark account.</p>",
                    "uri": uri,
                    "url": url,
                    "inbox_uri": f"{uri}/inbox",
                    "shared_inbox_uri": f"https://{domain}/inbox" if domain else f"{base}/inbox",
                    "followers_uri": f"{uri}/followers",
                    "key_id": f"{uri}#main-key",
                    "fields": [],
                    "statuses_count": 0,
                }
            )
        copy_rows(raw, User, users)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('accounts_user','id'), %s)", [len(users) + 1]
        )
        copy_rows(raw, Account, accounts, progress=progress_printer("accounts", len(accounts)))

        # Authors: Zipf-like activity so some accounts post a lot.
        weights = [1 / (r + 1) ** 0.8 for r in range(args.accounts)]
        rnd.shuffle(weights)
        authors = rnd.choices(range(args.accounts), weights=weights, k=args.posts)
        span = 30 * DAY_MS
        times = sorted(now_ms - rnd.randint(0, span) for _ in range(args.posts))
        recent: list[tuple[int, int]] = []

        def post_rows():
            for n in range(args.posts):
                idx = authors[n]
                pid = snowflake_at(times[n], rnd)
                acc = accounts[idx]
                local = acc["domain"] == ""
                vis = rnd.random()
                visibility = "public" if vis < 0.9 else ("unlisted" if vis < 0.95 else "private")
                reply = (
                    recent[rnd.randrange(len(recent))] if recent and rnd.random() < 0.1 else None
                )
                published = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(times[n] / 1000))
                row = {
                    "id": pid,
                    "author_id": acc["id"],
                    "content": f"<p>Post number {n} by {acc['username']}: a benchmark status "
                    "with a little text so rows have a realistic size.</p>",
                    "source": "",
                    "spoiler_text": "",
                    "sensitive": False,
                    "language": "en",
                    "visibility": visibility,
                    "in_reply_to_id": reply[0] if reply else None,
                    "in_reply_to_uri": "",
                    "in_reply_to_account_id": reply[1] if reply else None,
                    "thread_root_id": reply[0] if reply else None,
                    "uri": f"{acc['uri']}/statuses/{pid}",
                    "url": f"{acc['url']}/{pid}",
                    "local": local,
                    "application_name": "",
                    "application_website": "",
                    "state": "active",
                    "published_at": published,
                    "edited_at": None,
                    "replies_count": 0,
                    "likes_count": rnd.randint(0, 5),
                    "reposts_count": 0,
                }
                recent.append((pid, acc["id"]))
                if len(recent) > 1000:
                    recent.pop(0)
                yield row

        copy_rows(raw, Post, post_rows(), progress=progress_printer("posts", args.posts))

        # Readers: the first `readers` local users follow ~150 accounts (log-normal).
        sigma = 0.8
        mu = math.log(175) - sigma**2 / 2  # ~150 distinct accounts after de-duplication
        popularity = weights[:]
        rnd.shuffle(popularity)
        follow_rows = []
        follow_id = snowflake_at(now_ms - 50 * DAY_MS, rnd)
        for r in range(args.readers):
            k = max(1, min(1000, int(rnd.lognormvariate(mu, sigma))))
            # Popularity (who gets followed) is independent of how much an account posts.
            targets = set(rnd.choices(range(args.accounts), weights=popularity, k=k))
            targets.discard(r)
            offset = len(follow_rows)
            follow_rows.extend(
                {
                    "id": follow_id + offset + i,
                    "follower_id": account_ids[r],
                    "target_id": account_ids[t],
                    "state": "accepted",
                    "uri": "",
                    "show_reblogs": True,
                    "notify": False,
                }
                for i, t in enumerate(targets)
            )
        copy_rows(raw, Follow, follow_rows, progress=progress_printer("follows", len(follow_rows)))
        print(f"  follows per reader: {len(follow_rows) / args.readers:.1f}")

        # Home feeds, as fan-out on write would have left them.
        print("  building home feeds (INSERT … SELECT)…", flush=True)
        cur.execute(
            """
            INSERT INTO posts_feedentry (id, owner_id, entry_id, post_id, repost_id, actor_id)
            SELECT %s + row_number() OVER (), f.follower_id, p.id, p.id, NULL, p.author_id
            FROM accounts_follow f JOIN posts_post p ON p.author_id = f.target_id
            WHERE f.state = 'accepted'
              AND (p.in_reply_to_account_id IS NULL OR p.in_reply_to_account_id = p.author_id
                   OR EXISTS (SELECT 1 FROM accounts_follow f2 WHERE f2.follower_id = f.follower_id
                              AND f2.target_id = p.in_reply_to_account_id))
        """,
            [snowflake_at(now_ms, rnd)],
        )
        print(f"  feed entries: {cur.rowcount:,}")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"seeded in {time.monotonic() - t0:.0f} s")


def seed_tokens(args: argparse.Namespace) -> None:
    """One bearer token per reader (`bench-token-<n>`), created once."""
    from django.db import connection
    from oauth2_provider.models import AccessToken, Application

    if AccessToken.objects.count() >= args.readers:
        return
    AccessToken.objects.all().delete()
    app = Application.objects.create(
        name="bench",
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
        client_secret="bench-secret",
    )
    tokens = []
    for r in range(args.readers):
        raw_token = f"bench-token-{r}"
        tokens.append(
            {
                "id": r + 1,
                "user_id": r + 1,
                "application_id": app.id,
                "token": "",
                "token_checksum": hashlib.sha256(raw_token.encode()).hexdigest(),
                "expires": "2125-01-01T00:00:00+00:00",
                "scope": "read write follow push",
                "created": "2026-01-01T00:00:00+00:00",
                "updated": "2026-01-01T00:00:00+00:00",
            }
        )
    with connection.cursor() as cur:
        copy_rows(cur.cursor, AccessToken, tokens)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('oauth2_provider_accesstoken','id'), %s)",
            [args.readers + 1],
        )


def count_queries(args: argparse.Namespace) -> dict[str, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION="Bearer bench-token-0", HTTP_HOST="127.0.0.1")
    out = {}
    for name, path in [
        ("home p1 (limit 40)", "/api/v1/timelines/home?limit=40"),
        ("home p1 (limit 5)", "/api/v1/timelines/home?limit=5"),
        ("public p1 (limit 40)", "/api/v1/timelines/public?limit=40"),
        ("public p1 (limit 5)", "/api/v1/timelines/public?limit=5"),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path)
        assert response.status_code == 200, response.content[:300]
        out[name] = len(ctx.captured_queries)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--readers", type=int, default=1_000)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--latency-requests", type=int, default=400)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()

    port = free_port()
    env = bench_env(port)
    if not args.reuse:
        recreate_database()
        print("migrating…", flush=True)
        run_manage(env, "migrate", "--noinput")
    django_setup(env)
    if not args.reuse:
        seed(args, env)
    seed_tokens(args)
    queries = count_queries(args)

    # Deeper pages: cursors of each reader's 5th page, found once before measuring.
    from ourvoice.posts.models import FeedEntry

    readers = list(range(args.readers))
    rnd = random.Random(7)

    def home(r: random.Random) -> tuple[str, dict]:
        return "/api/v1/timelines/home?limit=40", {
            "Authorization": f"Bearer bench-token-{r.choice(readers)}"
        }

    def public(r: random.Random) -> tuple[str, dict]:
        return "/api/v1/timelines/public?limit=40", {
            "Authorization": f"Bearer bench-token-{r.choice(readers)}"
        }

    def trivial(r: random.Random) -> tuple[str, dict]:
        return "/api/v2/filters", {"Authorization": f"Bearer bench-token-{r.choice(readers)}"}

    sample = rnd.sample(readers, min(50, args.readers))
    deep: list[tuple[int, int]] = []
    from ourvoice.accounts.models import Account

    owner_ids = dict(
        Account.objects.filter(user_id__in=[s + 1 for s in sample]).values_list("user_id", "id")
    )
    for s in sample:
        ids = list(
            FeedEntry.objects.filter(owner_id=owner_ids[s + 1])
            .order_by("-entry_id")
            .values_list("entry_id", flat=True)[160:161]
        )
        if ids:
            deep.append((s, ids[0]))

    def home_deep(r: random.Random) -> tuple[str, dict]:
        s, cursor = r.choice(deep)
        return f"/api/v1/timelines/home?limit=40&max_id={cursor}", {
            "Authorization": f"Bearer bench-token-{s}"
        }

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
    with server(cmd, env, port):
        for fn in (home, public, trivial, home_deep):  # warm-up
            load("127.0.0.1", port, fn, concurrency=8, duration=2)
        single = {
            name: load("127.0.0.1", port, fn, concurrency=1, duration=args.latency_requests / 60)
            for name, fn in [("home", home), ("home, page 5", home_deep), ("public", public)]
        }
        many = {
            name: load("127.0.0.1", port, fn, concurrency=64, duration=args.duration)
            for name, fn in [
                ("trivial DRF (/api/v2/filters)", trivial),
                ("home", home),
                ("public", public),
            ]
        }

    trivial_rps = many["trivial DRF (/api/v2/filters)"].rps
    lines = [
        "## Timelines (TL-1, TL-2)",
        "",
        f"`bench/timeline.py`: {args.posts:,} posts, {args.accounts:,} accounts, "
        f"{args.readers:,} readers following ~150 accounts, pages of 40, gunicorn -w 2 "
        f"(sync), debug off, rate limits off, PostgreSQL database `{BENCH_DB}`.",
        "",
        "| one client | p50 ms | p99 ms | requests |",
        "|---|---|---|---|",
    ]
    for name, res in single.items():
        lines.append(f"| {name} | {res.pct(50):.1f} | {res.pct(99):.1f} | {res.requests} |")
    lines += [
        "",
        "| 64 clients | requests/s | ratio to trivial | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for name, res in many.items():
        lines.append(
            f"| {name} | {res.rps:,.0f} | {res.rps / trivial_rps:.2f} | "
            f"{res.pct(99):.0f} | {res.errors} |"
        )
    lines += ["", "| queries per page | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in queries.items()]
    lines += [
        "",
        "Goals: home ≥ 0.25 × trivial (floor 0.12 ×), p50 ≤ 15 ms and p99 ≤ 40 ms with "
        "one client, queries per page independent of the page size.",
    ]
    report = "\n".join(lines)
    print(report)
    write_section("timeline", report)


if __name__ == "__main__":
    main()
