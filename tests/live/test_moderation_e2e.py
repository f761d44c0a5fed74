"""Community moderation across two OUR Voice instances over loopback (issue 5, "Must show").

Instances A and B are `LiveInstance`s (own PostgreSQL database and Redis database, gunicorn with
2 workers, a Celery worker on inbox, delivery and default). The rule's knobs are set through the
environment so that three weight-1 "remove" voters remove a post at once: no minimum age or
age ramp, no grace period, no burst alarm, no caps, remote domains `trusted`, threshold 2.5
(the exposure factor lifts T=3 just above 3.0 for an author with one follower) with three
distinct voters.

The scenario: gus on B follows dana on A and receives her public post. Two users of A vote
"remove" on A through the native API; that is not enough. gus votes "remove" on B's copy through
B's native API: B stores the vote uncounted (scope `forwarded`) and sends a signed
`ModerationVote` to A's moderation actor; A counts it as the third voter and removes the post.
A's `Delete` reaches B, where the post answers 404 and leaves gus's home timeline; dana gets
the moderation account's direct message linking the transparency page. The databases of both
instances are then read directly (psycopg) to check that A counted a `remote` vote and that B
never decided anything.

Delivery is asynchronous: every remote effect is polled for with `wait_until` (≤ 60 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests.live.harness import ApiClient, LiveInstance, api_login, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]

#: Small, fast rule: three voters of weight 1 remove a post at once.
MODERATION_ENV = {
    "MODERATION_RULE": "weighted",
    "MODERATION_MIN_ACCOUNT_AGE_DAYS": "0",
    "MODERATION_AGE_RAMP_DAYS": "0",
    "MODERATION_GRACE_SECONDS": "0",
    "MODERATION_BURST_FRACTION": "0",
    "MODERATION_MIN_DOMAINS_IF_REMOTE_HEAVY": "0",
    "MODERATION_DOMAIN_TIER_DEFAULT": "trusted",
    "MODERATION_REMOVAL_THRESHOLD": "2.5",
    "MODERATION_MIN_DISTINCT_VOTERS": "3",
    "MODERATION_COHORT_CAP_FRACTION": "0",
    "MODERATION_DOMAIN_CAP_FRACTION": "0",
    "MODERATION_SUPERMAJORITY": "0.667",
    "MODERATION_VOTES_PER_DAY": "0",
}

NATIVE = "/api/ourvoice/v1"
WAIT = 60.0


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LiveInstance, LiveInstance]]:
    # Redis dbs 7 and 8: the pytest process's own REDIS_URL database is flushed by the cache
    # fixture before every test, and other live tests and benches use 3-6 and 9-15.
    a = LiveInstance("moderation_a", redis_db=7, **MODERATION_ENV)
    b = LiveInstance("moderation_b", redis_db=8, **MODERATION_ENV)
    try:
        # Both start (migrate, gunicorn, Celery) side by side: the setup dominates the runtime.
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(a.start), pool.submit(b.start)]:
                started.result()
        yield a, b
    finally:
        a.stop()
        b.stop()


def _create_users(instance: LiveInstance, *names: str) -> list[dict[str, str]]:
    """`create_account` for several users in one `manage.py shell` (one Django start-up)."""
    password = "correct horse battery staple"
    calls = "; ".join(
        f"call_command('create_account', {n!r}, '--email', '{n}@example.org',"
        f" '--password', {password!r})"
        for n in names
    )
    instance.manage("shell", "-c", f"from django.core.management import call_command; {calls}")
    return [{"username": n, "email": f"{n}@example.org", "password": password} for n in names]


# --- readers -----------------------------------------------------------------------------------


def _rows(instance: LiveInstance, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the instance's own database."""
    with psycopg.connect(instance.env["DATABASE_URL"], autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _home_uris(client: ApiClient) -> set[str]:
    uris = set()
    for status in client.ok("get", "/api/v1/timelines/home", limit=40):
        uris.add(status["uri"])
        if status.get("reblog"):
            uris.add(status["reblog"]["uri"])
    return uris


def _home_status(client: ApiClient, uri: str) -> dict[str, Any] | None:
    statuses = client.ok("get", "/api/v1/timelines/home", limit=40)
    return next((s for s in statuses if s["uri"] == uri), None)


def _resolve_account(client: ApiClient, acct: str, instances) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = client.ok("get", "/api/v2/search", q=acct, resolve="true", type="accounts")
        wanted = acct.removeprefix("@")
        return next((a for a in found["accounts"] if a["acct"] == wanted), None)

    return wait_until(probe, f"search resolve of {acct}", timeout=WAIT, instances=instances)


def _vote(client: ApiClient, status_id: str, *, reason: str = "spam") -> dict[str, Any]:
    return client.ok(
        "post",
        f"{NATIVE}/statuses/{status_id}/moderation_vote",
        verdict="remove",
        reason=reason,
        comment="live moderation test",
    )


def _case_of(instance: LiveInstance, post_uri: str) -> tuple[Any, ...] | None:
    """(case id, scope, state) of the post's case on `instance`."""
    rows = _rows(
        instance,
        "SELECT c.id, c.scope, c.state FROM moderation_case c"
        " JOIN posts_post p ON p.id = c.post_id WHERE p.uri = %s ORDER BY c.id",
        post_uri,
    )
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


# --- the scenario ------------------------------------------------------------------------------


def test_votes_from_both_instances_remove_a_post_of_a(
    pair: tuple[LiveInstance, LiveInstance],
) -> None:
    a, b = pair
    both = (a, b)
    dana, erin, finn = (api_login(a, user) for user in _create_users(a, "dana", "erin", "finn"))
    (gus,) = (api_login(b, user) for user in _create_users(b, "gus"))
    try:
        # gus (B) follows dana (A).
        remote_dana = _resolve_account(gus, f"@dana@{a.domain}", both)
        gus.ok("post", f"/api/v1/accounts/{remote_dana['id']}/follow")
        wait_until(
            lambda: gus.ok("get", "/api/v1/accounts/relationships", **{"id[]": remote_dana["id"]})[
                0
            ]["following"],
            "B: gus following dana (Accept delivered)",
            timeout=WAIT,
            instances=both,
        )

        # dana posts publicly; B receives it.
        post = dana.ok(
            "post", "/api/v1/statuses", status="Buy cheap watches here", visibility="public"
        )
        on_b = wait_until(
            lambda: _home_status(gus, post["uri"]),
            "B: dana's post in gus's home timeline",
            timeout=WAIT,
            instances=both,
        )
        b_status_id = on_b["id"]

        # Two local voters on A: counted, but not enough (3 distinct voters needed).
        for voter in (erin, finn):
            vote = _vote(voter, post["id"])
            assert vote["verdict"] == "remove"
            assert vote["counted"] is True, vote
        case_id, scope, state = _case_of(a, post["uri"])
        assert (scope, state) == ("local", "open")
        assert dana.get(f"/api/v1/statuses/{post['id']}").status_code == 200

        # gus votes on B's copy: stored on B, not counted there, forwarded to A.
        vote = _vote(gus, b_status_id, reason="other")
        assert vote["counted"] is False, vote
        b_case = _case_of(b, post["uri"])
        assert b_case is not None
        assert b_case[1] == "forwarded"

        # A counts the forwarded vote as the third voter and removes the post.
        wait_until(
            lambda: erin.get(f"/api/v1/statuses/{post['id']}").status_code == 404,
            "A: the post answers 404 after the forwarded vote",
            timeout=WAIT,
            instances=both,
        )
        tombstone = httpx.get(
            post["uri"], headers={"Accept": "application/activity+json"}, timeout=10
        )
        assert tombstone.status_code == 410
        assert tombstone.json()["type"] == "Tombstone"

        votes = _rows(
            a,
            "SELECT v.source, v.verdict, v.counts, v.not_counted, v.weight, v.domain, a.uri"
            " FROM moderation_vote v JOIN accounts_account a ON a.id = v.voter_id"
            " WHERE v.case_id = %s AND v.active ORDER BY v.id",
            case_id,
        )
        assert [(v[0], v[1], v[2]) for v in votes] == [
            ("local", "remove", True),
            ("local", "remove", True),
            ("remote", "remove", True),
        ], votes
        remote_vote = votes[2]
        assert remote_vote[4] == pytest.approx(1.0)  # trusted domain, no age ramp
        assert remote_vote[5] == b.domain
        assert remote_vote[6] == f"{b.base}/users/gus"
        decisions = _rows(
            a,
            "SELECT outcome, rule_version, tally FROM moderation_decision"
            " WHERE case_id = %s ORDER BY id",
            case_id,
        )
        assert [d[0] for d in decisions] == ["remove"], decisions
        assert decisions[0][1] == "ov-rule/1"
        assert decisions[0][2]["distinct_remove_voters"] == 3
        assert decisions[0][2]["remote_domains"] == 1
        assert _case_of(a, post["uri"])[2] == "removed"
        assert _rows(a, "SELECT state FROM posts_post WHERE uri = %s", post["uri"]) == [
            ("removed",)
        ]
        # The forwarded vote arrived as gus's signed ModerationVote at A's inbox.
        received = _rows(
            a,
            "SELECT state, body FROM federation_inboxitem"
            " WHERE activity_type = 'ModerationVote' AND actor_uri = %s",
            f"{b.base}/users/gus",
        )
        assert [r[0] for r in received] == ["done"], received
        assert received[0][1]["object"] == post["uri"]
        assert received[0][1]["to"] == [f"{a.base}/users/moderation"]
        # Exactly one Delete, with moderation's deterministic id, by the author.
        delete_id = f"{a.base}/mod/cases/{case_id}/delete"
        deletes = _rows(
            a,
            "SELECT o.uri, a.uri FROM federation_outgoingactivity o"
            " JOIN accounts_account a ON a.id = o.actor_id WHERE o.type = 'Delete'",
        )
        assert deletes == [(delete_id, f"{a.base}/users/dana")], deletes

        # B receives the Delete: 404 on B's Mastodon API, gone from gus's home timeline.
        wait_until(
            lambda: gus.get(f"/api/v1/statuses/{b_status_id}").status_code == 404,
            "B: dana's removed post answers 404",
            timeout=WAIT,
            instances=both,
        )
        wait_until(
            lambda: post["uri"] not in _home_uris(gus),
            "B: dana's removed post gone from gus's home timeline",
            timeout=WAIT,
            instances=both,
        )
        found = gus.ok("get", "/api/v2/search", q=post["uri"], type="statuses", resolve="false")
        assert found["statuses"] == []
        delete = _rows(
            b, "SELECT state, body FROM federation_inboxitem WHERE activity_id = %s", delete_id
        )
        assert len(delete) == 1, delete
        assert delete[0][0] == "done"
        assert delete[0][1]["actor"] == f"{a.base}/users/dana"
        assert delete[0][1]["decision"] == f"{a.base}/mod/decisions/{case_id}"

        # The author gets a direct message from the moderation account on A.
        def moderation_dm() -> dict[str, Any] | None:
            notes = dana.ok("get", "/api/v1/notifications", **{"types[]": "mention"})
            return next((n for n in notes if n["account"]["acct"] == "moderation"), None)

        note = wait_until(
            moderation_dm, "A: dana's mention from the moderation account", instances=both
        )
        assert note["status"]["visibility"] == "direct"
        assert f"/transparency/cases/{case_id}" in note["status"]["content"]
        assert (post["url"] or post["uri"]) in note["status"]["content"]
        page = httpx.get(f"{a.base}/transparency/cases/{case_id}", timeout=10)
        assert page.status_code == 200
        assert "gus" not in page.text  # never voter identities

        # B never decided: its case stays forwarded, with gus's vote uncounted, no decision.
        # (Its case becomes moot once the origin's Delete has deleted B's copy.)
        b_case_id, b_scope, _ = wait_until(
            lambda: (found := _case_of(b, post["uri"])) and found[2] == "moot" and found,
            "B: the forwarded case moot after the origin's Delete",
            timeout=WAIT,
            instances=both,
        )
        assert b_scope == "forwarded"
        b_votes = _rows(
            b,
            "SELECT source, counts, not_counted FROM moderation_vote WHERE case_id = %s",
            b_case_id,
        )
        assert b_votes == [("local", False, "forwarded")], b_votes
        assert _rows(b, "SELECT id FROM moderation_decision WHERE case_id = %s", b_case_id) == []
        assert _rows(b, "SELECT id FROM moderation_decision") == []
        b_post = _rows(b, "SELECT state FROM posts_post WHERE uri = %s", post["uri"])
        assert b_post == [("deleted",)], b_post  # deleted by its origin, not removed here
    finally:
        for client in (dana, erin, finn, gus):
            client.close()
