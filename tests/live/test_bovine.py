"""bovine-herd as a real ActivityPub peer on loopback (issue 4, "Must show").

One OUR Voice `LiveInstance` (gunicorn + Celery worker) and one bovine-herd server (Quart under
hypercorn, sqlite; `tests/live/bovine_peer.py`) on 127.0.0.1. The bovine actor is driven through
bovine's own client API (HTTP-signed C2S POSTs to its outbox); ours through the Mastodon API.

- our alice follows the bovine actor (resolved by `@carol@127.0.0.1:PORT` search, i.e. WebFinger
  over http on loopback, then a signed actor fetch) and receives its post in her home timeline;
- the bovine actor follows alice (we auto-accept) and receives alice's post in its inbox;
- our fetches succeed although bovine answers 401 to unsigned GETs (signed by our instance
  actor): the actor fetch, the key fetch when verifying bovine's deliveries, and a note that
  was never delivered, resolved by its URL.

Every wait is bounded; failures print both servers' log tails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live.bovine_peer import BovinePeer
from tests.live.harness import LiveInstance, api_login, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[LiveInstance, BovinePeer]]:
    ours = LiveInstance("bovine_interop", redis_db=6)
    bovine = BovinePeer(free_port(), handle="carol")
    try:
        bovine.start()
        ours.start()
        yield ours, bovine
    finally:
        ours.stop()
        bovine.stop()


class _Logs:
    """Both servers' log tails, for wait_until's failure message."""

    def __init__(self, ours: LiveInstance, bovine: BovinePeer) -> None:
        self.name = "logs"
        self._ours, self._bovine = ours, bovine

    def tail(self) -> str:
        return f"{self._ours.tail()}\n{self._bovine.tail()}"


def _ids(items: list[Any]) -> set[str]:
    out = set()
    for item in items:
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            out.add(item["id"])
    return out


def test_bovine_herd_peer(peers: tuple[LiveInstance, BovinePeer]) -> None:
    ours, bovine = peers
    logs = (_Logs(ours, bovine),)
    carol_id = bovine.actor_id

    # bovine requires signed fetches: an unsigned GET of its actor is refused.
    unsigned = httpx.get(carol_id, headers={"Accept": "application/activity+json"}, timeout=10)
    assert unsigned.status_code == 401

    alice = api_login(ours, ours.create_user("alice"))
    try:
        me = alice.ok("get", "/api/v1/accounts/verify_credentials")
        alice_uri = f"{ours.base}/users/alice"

        # Resolve the bovine actor: WebFinger (http on loopback), then a signed actor fetch.
        acct = f"carol@{bovine.domain}"

        def resolve() -> dict[str, Any] | None:
            found = alice.ok("get", "/api/v2/search", q=f"@{acct}", resolve="true")
            return next((a for a in found["accounts"] if a["acct"] == acct), None)

        carol = wait_until(resolve, f"search resolve of @{acct}", instances=logs)
        assert carol["username"] == "carol"
        by_url = alice.ok("get", "/api/v2/search", q=carol_id, resolve="true", type="accounts")
        assert [a["id"] for a in by_url["accounts"]] == [carol["id"]]

        # alice follows carol; bovine does not auto-accept: carol accepts through her outbox.
        rel = alice.ok("post", f"/api/v1/accounts/{carol['id']}/follow")
        assert rel["following"] is False

        def follow_in_inbox() -> dict[str, Any] | None:
            for item in bovine.inbox_items():
                doc = item if isinstance(item, dict) else bovine.get(item)
                if doc.get("type") == "Follow" and doc.get("actor") == alice_uri:
                    return doc
            return None

        follow = wait_until(
            follow_in_inbox, "bovine: alice's Follow in carol's inbox", instances=logs
        )
        assert follow["object"] == carol_id
        bovine.send(
            {
                "@context": AS_CONTEXT,
                "type": "Accept",
                "actor": carol_id,
                "object": follow["id"],
                "to": [alice_uri],
            }
        )
        wait_until(
            lambda: alice.ok("get", "/api/v1/accounts/relationships", **{"id[]": carol["id"]})[0][
                "following"
            ],
            "ours: alice following carol (bovine's Accept processed)",
            instances=logs,
        )

        # carol posts to her followers → alice's home timeline.
        bovine.send(
            {
                "@context": AS_CONTEXT,
                "type": "Create",
                "actor": carol_id,
                "to": [AS_PUBLIC],
                "cc": [bovine.actor["followers"]],
                "object": {
                    "type": "Note",
                    "attributedTo": carol_id,
                    "content": "<p>Moo from bovine-herd</p>",
                    "to": [AS_PUBLIC],
                    "cc": [bovine.actor["followers"]],
                },
            }
        )

        def bovine_post_at_home() -> dict[str, Any] | None:
            home = alice.ok("get", "/api/v1/timelines/home")
            return next((s for s in home if "Moo from bovine-herd" in s["content"]), None)

        seen = wait_until(bovine_post_at_home, "ours: carol's post in alice's home", instances=logs)
        assert seen["account"]["id"] == carol["id"]
        assert seen["visibility"] == "public"
        assert seen["uri"].startswith(bovine.base)

        # A public note delivered to nobody: found by URL through a signed fetch of the object.
        note_activity = bovine.send(
            {
                "@context": AS_CONTEXT,
                "type": "Create",
                "actor": carol_id,
                "to": [AS_PUBLIC],
                "object": {
                    "type": "Note",
                    "attributedTo": carol_id,
                    "content": "<p>Only fetchable</p>",
                    "to": [AS_PUBLIC],
                },
            }
        )
        note_id = bovine.get(note_activity)["object"]
        note_id = note_id["id"] if isinstance(note_id, dict) else note_id
        assert httpx.get(note_id, timeout=10).status_code == 401
        found = alice.ok("get", "/api/v2/search", q=note_id, resolve="true", type="statuses")
        assert [s["uri"] for s in found["statuses"]] == [note_id]
        assert "Only fetchable" in found["statuses"][0]["content"]

        # carol follows alice: we auto-accept; bovine records alice in carol's following.
        bovine.send(
            {
                "@context": AS_CONTEXT,
                "type": "Follow",
                "actor": carol_id,
                "object": alice_uri,
                "to": [alice_uri],
            }
        )
        wait_until(
            lambda: alice.ok("get", "/api/v1/accounts/verify_credentials")["followers_count"] == 1,
            "ours: alice has carol as follower",
            instances=logs,
        )
        followers = alice.ok("get", f"/api/v1/accounts/{me['id']}/followers")
        assert [f["acct"] for f in followers] == [acct]
        wait_until(
            lambda: alice_uri in _ids(bovine.collection_items(bovine.actor["following"])),
            "bovine: alice in carol's following (our Accept processed)",
            instances=logs,
        )

        # alice posts → carol's inbox on bovine.
        post = alice.ok(
            "post", "/api/v1/statuses", status="Hello bovine, from OUR Voice", visibility="public"
        )

        def post_in_bovine_inbox() -> bool:
            ids = _ids(bovine.inbox_items())
            return post["uri"] in ids or f"{post['uri']}/activity" in ids

        wait_until(post_in_bovine_inbox, "bovine: alice's post in carol's inbox", instances=logs)
        stored = bovine.stored_object(f"{post['uri']}/activity") or {}
        assert stored.get("type") == "Create", stored
        assert stored["actor"] == alice_uri
        # bovine stores the embedded object on its own.
        embedded = stored["object"]
        assert (embedded.get("id") if isinstance(embedded, dict) else embedded) == post["uri"]
        stored = bovine.stored_object(post["uri"]) or {}
        assert stored.get("type") == "Note", stored
        assert stored["attributedTo"] == alice_uri
        assert "Hello bovine, from OUR Voice" in stored["content"]
    finally:
        alice.close()
