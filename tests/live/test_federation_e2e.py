"""Two OUR Voice instances federating over loopback, driven through the Mastodon client API only
(issue 4, "Must show").

Each instance is a `LiveInstance`: its own PostgreSQL database and Redis database, gunicorn
(2 workers) and a Celery worker on the inbox, delivery and default queues, federating over
http on 127.0.0.1:<port> (`OURVOICE_SCHEME=http`, `OURVOICE_ALLOWED_PRIVATE_ADDRESSES=127.0.0.0/8`).
Delivery is asynchronous, so every remote effect is polled for with a bounded wait
(`wait_until`, ≤ 30 s in 0.3 s steps); a timeout prints both instances' log tails.

Absences ("does not reach A") are asserted after a positive control that travels the same path
later: a post that must arrive is sent after the one that must not, and once it is seen the
other would have been seen too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live.harness import ApiClient, LiveInstance, api_login, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

#: Extra seconds granted after a positive control before asserting that something is absent.
GRACE = 1.5


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LiveInstance, LiveInstance]]:
    a = LiveInstance("fed_a", redis_db=4)
    b = LiveInstance("fed_b", redis_db=5)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


# --- small readers over the client API ---------------------------------------------------------


def _home(client: ApiClient) -> list[dict[str, Any]]:
    return client.ok("get", "/api/v1/timelines/home", limit=40)


def _home_uris(client: ApiClient) -> set[str]:
    """URIs of the statuses in the home timeline, and of the statuses boosted there."""
    uris = set()
    for status in _home(client):
        uris.add(status["uri"])
        if status.get("reblog"):
            uris.add(status["reblog"]["uri"])
    return uris


def _home_status(client: ApiClient, uri: str) -> dict[str, Any] | None:
    return next((s for s in _home(client) if s["uri"] == uri), None)


def _relationship(client: ApiClient, account_id: str) -> dict[str, Any]:
    return client.ok("get", "/api/v1/accounts/relationships", **{"id[]": account_id})[0]


def _me(client: ApiClient) -> dict[str, Any]:
    return client.ok("get", "/api/v1/accounts/verify_credentials")


def _notifications(client: ApiClient, kind: str) -> list[dict[str, Any]]:
    return client.ok("get", "/api/v1/notifications", **{"types[]": kind, "limit": 40})


def _notification(client: ApiClient, kind: str, acct: str, status_uri: str | None = None) -> bool:
    for n in _notifications(client, kind):
        if n["type"] != kind or n["account"]["acct"] != acct:
            continue
        if status_uri is None or (n.get("status") or {}).get("uri") == status_uri:
            return True
    return False


def _search_status(client: ApiClient, url: str, *, resolve: bool) -> list[dict[str, Any]]:
    found = client.ok("get", "/api/v2/search", q=url, type="statuses", resolve=str(resolve).lower())
    return found["statuses"]


def _resolve_account(client: ApiClient, acct: str, instances) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = client.ok("get", "/api/v2/search", q=acct, resolve="true", type="accounts")
        wanted = acct.removeprefix("@")
        return next((a for a in found["accounts"] if a["acct"] == wanted), None)

    return wait_until(probe, f"search resolve of {acct}", timeout=30, instances=instances)


# --- the scenario ------------------------------------------------------------------------------


def test_two_instances_federate_over_loopback(pair: tuple[LiveInstance, LiveInstance]) -> None:
    a, b = pair
    both = (a, b)
    alice = api_login(a, a.create_user("alice"))
    carol = api_login(a, a.create_user("carol"))
    bob = api_login(b, b.create_user("bob"))
    bob2 = api_login(b, b.create_user("bob2", locked=True))
    alice_acct = f"alice@{a.domain}"
    try:
        # Resolve @bob@127.0.0.1:<portB> from A.
        remote_bob = _resolve_account(alice, f"@bob@{b.domain}", both)
        assert remote_bob["username"] == "bob"
        assert remote_bob["url"].startswith(b.base)
        assert remote_bob["locked"] is False

        # Follow → Accept (B auto-accepts): visible on both sides.
        alice.ok("post", f"/api/v1/accounts/{remote_bob['id']}/follow")
        wait_until(
            lambda: _relationship(alice, remote_bob["id"])["following"],
            "A: alice following bob (Accept delivered)",
            instances=both,
        )
        assert _relationship(alice, remote_bob["id"])["requested"] is False
        wait_until(
            lambda: _me(bob)["followers_count"] == 1,
            "B: bob has one follower",
            instances=both,
        )
        bob_id = _me(bob)["id"]
        followers = bob.ok("get", f"/api/v1/accounts/{bob_id}/followers")
        assert [f["acct"] for f in followers] == [alice_acct]

        # bob posts → alice's home timeline on A.
        post = bob.ok("post", "/api/v1/statuses", status="Hello from B", visibility="public")
        seen = wait_until(
            lambda: _home_status(alice, post["uri"]),
            "A: bob's post in alice's home timeline",
            instances=both,
        )
        assert "Hello from B" in seen["content"]
        assert seen["account"]["acct"] == f"bob@{b.domain}"
        a_post_id = seen["id"]

        # alice replies → bob sees the reply in context and a mention notification on B.
        reply = alice.ok(
            "post",
            "/api/v1/statuses",
            status=f"@bob@{b.domain} hello back from A",
            in_reply_to_id=a_post_id,
            visibility="public",
        )
        assert reply["in_reply_to_id"] == a_post_id

        def reply_in_context() -> bool:
            context = bob.ok("get", f"/api/v1/statuses/{post['id']}/context")
            return any(s["uri"] == reply["uri"] for s in context["descendants"])

        wait_until(
            reply_in_context, "B: alice's reply in the context of bob's post", instances=both
        )
        wait_until(
            lambda: _notification(bob, "mention", alice_acct, reply["uri"]),
            "B: mention notification for bob",
            instances=both,
        )

        # alice likes and boosts → favourite and reblog notifications on B.
        alice.ok("post", f"/api/v1/statuses/{a_post_id}/favourite")
        alice.ok("post", f"/api/v1/statuses/{a_post_id}/reblog")
        wait_until(
            lambda: _notification(bob, "favourite", alice_acct, post["uri"]),
            "B: favourite notification for bob",
            instances=both,
        )
        wait_until(
            lambda: _notification(bob, "reblog", alice_acct, post["uri"]),
            "B: reblog notification for bob",
            instances=both,
        )
        counts = bob.ok("get", f"/api/v1/statuses/{post['id']}")
        assert counts["favourites_count"] == 1
        assert counts["reblogs_count"] == 1

        # bob edits → A shows the edit.
        bob.ok("put", f"/api/v1/statuses/{post['id']}", status="Hello from B (edited)")

        def edited() -> dict[str, Any] | None:
            status = alice.ok("get", f"/api/v1/statuses/{a_post_id}")
            return status if status.get("edited_at") and "(edited)" in status["content"] else None

        status = wait_until(edited, "A: bob's edit", instances=both)
        assert "Hello from B (edited)" in status["content"]

        # bob deletes → gone from A (404, and absent from alice's home timeline).
        assert bob.delete(f"/api/v1/statuses/{post['id']}").status_code == 200
        wait_until(
            lambda: alice.get(f"/api/v1/statuses/{a_post_id}").status_code == 404,
            "A: bob's deleted post answers 404",
            instances=both,
        )
        wait_until(
            lambda: post["uri"] not in _home_uris(alice),
            "A: bob's deleted post (and alice's boost of it) gone from the home timeline",
            instances=both,
        )

        # alice unfollows → B's followers count drops; B's later posts don't reach A.
        alice.ok("post", f"/api/v1/accounts/{remote_bob['id']}/unfollow")
        assert _relationship(alice, remote_bob["id"])["following"] is False
        wait_until(
            lambda: _me(bob)["followers_count"] == 0,
            "B: bob's followers count back to 0 (Undo Follow delivered)",
            instances=both,
        )
        after = bob.ok("post", "/api/v1/statuses", status="After the unfollow", visibility="public")
        # Positive control on the same path: a later post that mentions carol reaches A. (B
        # must know carol first: mentions of unknown remote accounts are not resolved at post
        # time, so bob looks her up as a client's autocomplete would.)
        _resolve_account(bob, f"@carol@{a.domain}", both)
        control = bob.ok(
            "post",
            "/api/v1/statuses",
            status=f"@carol@{a.domain} a public mention for carol",
            visibility="public",
        )
        wait_until(
            lambda: _notification(carol, "mention", f"bob@{b.domain}", control["uri"]),
            "A: mention notification for carol (control)",
            instances=both,
        )
        time.sleep(GRACE)
        home = _home_uris(alice)
        assert after["uri"] not in home
        assert control["uri"] not in home  # it reached A, but alice no longer follows bob
        assert _search_status(alice, after["uri"], resolve=False) == []

        # A locked account: the follow waits for approval.
        remote_bob2 = _resolve_account(alice, f"@bob2@{b.domain}", both)
        assert remote_bob2["locked"] is True
        rel = alice.ok("post", f"/api/v1/accounts/{remote_bob2['id']}/follow")
        assert rel["following"] is False
        assert rel["requested"] is True

        def follow_request() -> dict[str, Any] | None:
            requests = bob2.ok("get", "/api/v1/follow_requests")
            return next((r for r in requests if r["acct"] == alice_acct), None)

        request = wait_until(follow_request, "B: follow request for bob2", instances=both)
        assert _me(bob2)["followers_count"] == 0
        early = bob2.ok(
            "post",
            "/api/v1/statuses",
            status="Followers only, before approval",
            visibility="private",
        )
        # Positive control: a later public post of bob2 mentioning carol reaches A; by then the
        # followers-only post would have too, had it been sent to the pending follower.
        control = bob2.ok(
            "post",
            "/api/v1/statuses",
            status=f"@carol@{a.domain} bob2 says hi",
            visibility="public",
        )
        wait_until(
            lambda: _notification(carol, "mention", f"bob2@{b.domain}", control["uri"]),
            "A: mention notification for carol from bob2 (control)",
            instances=both,
        )
        time.sleep(GRACE)
        assert early["uri"] not in _home_uris(alice)
        assert _search_status(alice, early["uri"], resolve=False) == []
        rel = _relationship(alice, remote_bob2["id"])
        assert rel["following"] is False
        assert rel["requested"] is True

        bob2.ok("post", f"/api/v1/follow_requests/{request['id']}/authorize")
        wait_until(
            lambda: _relationship(alice, remote_bob2["id"])["following"],
            "A: alice following bob2 after approval",
            instances=both,
        )
        assert _me(bob2)["followers_count"] == 1

        secret = bob2.ok(
            "post",
            "/api/v1/statuses",
            status="Followers only, after approval",
            visibility="private",
        )
        seen = wait_until(
            lambda: _home_status(alice, secret["uri"]),
            "A: bob2's followers-only post in alice's home timeline",
            instances=both,
        )
        assert seen["visibility"] == "private"
        time.sleep(GRACE)
        assert early["uri"] not in _home_uris(alice)
        assert _search_status(alice, early["uri"], resolve=False) == []
        # carol (on A, not a follower) gets neither the post nor a way to fetch it.
        assert secret["uri"] not in _home_uris(carol)
        assert _search_status(carol, secret["uri"], resolve=True) == []
        assert _search_status(carol, secret["url"], resolve=True) == []
        assert carol.get(f"/api/v1/statuses/{seen['id']}").status_code == 404
    finally:
        for client in (alice, carol, bob, bob2):
            client.close()
