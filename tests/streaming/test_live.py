"""Live streaming against real processes (issue 6, "Must show").

Instance A runs gunicorn, a Celery worker and the `streaming` process (uvicorn on
`ourvoice.asgi`, its own port, advertised as `OURVOICE_STREAMING_URL`); instance B (gunicorn +
worker) is a second OUR Voice server whose posts reach A through the signed inbox. Clients are
the `websockets` package used as masto.js uses it (token in `Sec-WebSocket-Protocol`,
multiplexed subscriptions) and Mastodon.py's `stream_user` (server-sent events).

Every event is produced by the real path: REST call (or `post_remove` in a `manage.py shell`
of A) → outbox row → Celery worker → streaming consumer → Redis channel layer → the streaming
process → the socket. Absences are asserted after a positive control that travels the same
path later (a public post seen on the same stream after the private one that must not be).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mastodon import Mastodon
from websockets.exceptions import InvalidStatus

from tests.live.harness import ApiClient, LiveInstance, api_login, wait_until
from tests.streaming.clients import Recorder, WsClient, event_of

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LiveInstance, LiveInstance]]:
    a = LiveInstance("stream_a", redis_db=15, streaming=True, OURVOICE_STREAMING_HEARTBEAT="1")
    a.streaming_args = ("--ws-ping-interval", "1")
    b = LiveInstance("stream_b", redis_db=11)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def users(pair) -> Iterator[dict[str, ApiClient]]:
    a, b = pair
    clients = {
        name: api_login(a, a.create_user(name)) for name in ("alice", "bob", "carol", "dave")
    }
    clients["remy"] = api_login(b, b.create_user("remy"))
    yield clients
    for client in clients.values():
        client.close()


def ws_base(instance: LiveInstance) -> str:
    return instance.env["OURVOICE_STREAMING_URL"]


def token_of(client: ApiClient) -> str:
    return client.http.headers["Authorization"].removeprefix("Bearer ")


def account_id(client: ApiClient) -> str:
    return client.ok("get", "/api/v1/accounts/verify_credentials")["id"]


def post(client: ApiClient, text: str, visibility: str = "public") -> dict[str, Any]:
    return client.ok("post", "/api/v1/statuses", status=text, visibility=visibility)


def frame_with(event: str, stream: list[str], status_id: str | None = None):
    def match(frame: dict[str, Any]) -> bool:
        if frame.get("event") != event or frame.get("stream") != stream:
            return False
        if status_id is None:
            return True
        _, _, payload = event_of(frame)
        return payload == status_id if event == "delete" else payload.get("id") == status_id

    return match


def status_ids(client: WsClient, stream: list[str]) -> set[str]:
    ids = set()
    for frame in client.frames:
        if frame.get("stream") == stream and frame.get("event") in ("update", "status.update"):
            ids.add(event_of(frame)[2]["id"])
    return ids


# --- discovery and handshake --------------------------------------------------------------------


def test_instance_advertises_the_streaming_process(pair):
    a, _ = pair
    v1 = httpx.get(f"{a.base}/api/v1/instance", timeout=10).json()
    v2 = httpx.get(f"{a.base}/api/v2/instance", timeout=10).json()
    assert v1["urls"]["streaming_api"] == ws_base(a)
    assert v2["configuration"]["urls"]["streaming"] == ws_base(a)
    health = httpx.get(f"{a.streaming_base}/api/v1/streaming/health", timeout=10)
    assert (health.status_code, health.text) == (200, "OK")


def test_handshake_echoes_the_token_protocol_and_refuses_bad_tokens(pair, users):
    a, _ = pair
    token = token_of(users["alice"])
    client = WsClient(ws_base(a), token, how="protocol")
    try:
        assert client.ws.subprotocol == token  # Chrome and Node `ws` abort without the echo
    finally:
        client.close()
    for how in ("header", "query"):
        other = WsClient(ws_base(a), token, how=how)
        other.close()
    for bad in ("not-a-token", None):
        with pytest.raises(InvalidStatus) as refused:
            WsClient(ws_base(a), bad, how="protocol" if bad else "none")
        assert refused.value.response.status_code == 401


def test_unknown_stream_in_the_url_gets_an_error_and_a_clean_close(pair, users):
    a, _ = pair
    client = WsClient(ws_base(a), token_of(users["alice"]), query="?stream=nonsense")
    try:
        error = client.wait_for(lambda f: "error" in f, "error frame")
        assert error == {"error": "Unknown stream type", "status": 400}
        wait_until(lambda: client.closed is not None, "server close", timeout=10)
        assert client.closed.rcvd is not None and client.closed.rcvd.code == 1008
    finally:
        client.close()


def test_multiplexed_unknown_stream_keeps_the_connection_and_pings_arrive(pair, users):
    a, _ = pair
    client = WsClient(ws_base(a), token_of(users["alice"]))
    try:
        client.subscribe("nonsense")
        error = client.wait_for(lambda f: "error" in f, "error frame")
        assert error["status"] == 400
        # uvicorn pings every second here (--ws-ping-interval 1): the heartbeat; the client
        # answers each ping and the connection stays open.
        wait_until(lambda: client.server_pings >= 2, "server pings", timeout=10)
        assert client.closed is None
    finally:
        client.close()


def test_sse_refuses_unknown_streams_and_bad_tokens(pair, users):
    a, _ = pair
    token = token_of(users["alice"])
    bad = httpx.get(
        f"{a.streaming_base}/api/v1/streaming/nonsense",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "Unknown channel requested"}
    anon = httpx.get(f"{a.streaming_base}/api/v1/streaming/user", timeout=10)
    assert anon.status_code == 401


# --- events -------------------------------------------------------------------------------------


def test_events_reach_the_right_streams_and_nothing_leaks(pair, users):
    a, b = pair
    alice, bob, carol, dave, remy = (users[n] for n in ("alice", "bob", "carol", "dave", "remy"))
    bob_id = account_id(bob)
    alice.ok("post", f"/api/v1/accounts/{bob_id}/follow")

    # alice as Elk would: token in the protocol header, several streams on one socket.
    ws = WsClient(ws_base(a), token_of(alice))
    # dave follows nobody and only watches the public streams.
    watcher = WsClient(ws_base(a), token_of(dave), query="?stream=public")
    try:
        for stream, params in (
            ("user", {}),
            ("public", {}),
            ("public:local", {}),
            ("public:remote", {}),
            ("hashtag", {"tag": "Streamtest"}),
            ("direct", {}),
        ):
            ws.subscribe(stream, **params)
        time.sleep(0.5)  # subscriptions are processed in order; let them land

        # A followed local account's public post: update on user, public, local, hashtag.
        public = post(bob, "hello #streamtest")
        for stream in (["user"], ["public"], ["public:local"], ["hashtag", "Streamtest"]):
            frame = ws.wait_for(frame_with("update", stream, public["id"]), f"update on {stream}")
        rest = alice.ok("get", f"/api/v1/statuses/{public['id']}")
        assert event_of(frame)[2] == rest  # exactly the REST Status entity as alice sees it
        assert isinstance(frame["payload"], str)  # payload is a JSON string
        watcher.wait_for(frame_with("update", ["public"], public["id"]), "public update (dave)")

        # A like: a notification for the author (and only on the user streams).
        mine = post(alice, "like me")
        carol.ok("post", f"/api/v1/statuses/{mine['id']}/favourite")
        frame = ws.wait_for(lambda f: f.get("event") == "notification", "notification")
        assert frame["stream"] == ["user"]
        notification = event_of(frame)[2]
        assert notification["type"] == "favourite"
        assert notification["status"]["id"] == mine["id"]
        assert notification == alice.ok("get", f"/api/v1/notifications/{notification['id']}")

        # Private and direct posts: home of the follower / the mentioned account only.
        private = post(bob, "followers only #streamtest", "private")
        direct = post(bob, "@alice psst", "direct")
        ws.wait_for(frame_with("update", ["user"], private["id"]), "private update on user")
        conversation = ws.wait_for(
            lambda f: f.get("event") == "conversation" and f.get("stream") == ["direct"],
            "conversation on direct",
        )
        assert event_of(conversation)[2]["last_status"]["id"] == direct["id"]
        # Positive control on the same path, then nothing private/direct on public streams.
        control = post(bob, "public control #streamtest")
        ws.wait_for(frame_with("update", ["public"], control["id"]), "control on public")
        watcher.wait_for(frame_with("update", ["public"], control["id"]), "control (dave)")
        ws.wait_for(frame_with("update", ["hashtag", "Streamtest"], control["id"]), "control tag")
        leaked = {private["id"], direct["id"]}
        for stream in (["public"], ["public:local"], ["hashtag", "Streamtest"]):
            assert not leaked & status_ids(ws, stream), stream
        assert not leaked & {event_of(f)[2].get("id") for f in watcher.events("update")}
        assert not [f for f in watcher.frames if f.get("event") == "notification"]

        # An edit: status.update.
        bob.ok("put", f"/api/v1/statuses/{public['id']}", status="hello again #streamtest")
        frame = ws.wait_for(frame_with("status.update", ["user"], public["id"]), "status.update")
        assert "hello again" in event_of(frame)[2]["content"]

        # A deletion by the author: delete with the bare id, on user and public.
        bob.ok("delete", f"/api/v1/statuses/{public['id']}")
        ws.wait_for(frame_with("delete", ["user"], public["id"]), "delete on user")
        ws.wait_for(frame_with("delete", ["public"], public["id"]), "delete on public")

        # A moderation removal (post_remove, as a moderation decision calls it): delete.
        doomed = post(bob, "soon removed")
        ws.wait_for(frame_with("update", ["user"], doomed["id"]), "update before removal")
        a.manage(
            "shell",
            "-c",
            "from ourvoice.posts.models import Post;"
            "from ourvoice.posts.services import post_remove;"
            f"assert post_remove(post=Post.objects.get(pk={doomed['id']}))",
        )
        ws.wait_for(frame_with("delete", ["user"], doomed["id"]), "delete after removal")
        ws.wait_for(frame_with("delete", ["public"], doomed["id"]), "public delete after removal")
        assert alice.get(f"/api/v1/statuses/{doomed['id']}").status_code == 404

        # A followed remote account's post, through B's signed delivery to A's inbox.
        def resolve() -> dict[str, Any] | None:
            found = alice.ok("get", "/api/v2/search", q=f"@remy@{b.domain}", resolve="true")
            return next((x for x in found["accounts"] if x["username"] == "remy"), None)

        remote_remy = wait_until(resolve, "resolve remy", instances=(a, b))
        alice.ok("post", f"/api/v1/accounts/{remote_remy['id']}/follow")
        wait_until(
            lambda: alice.ok(
                "get", "/api/v1/accounts/relationships", **{"id[]": remote_remy["id"]}
            )[0]["following"],
            "remote follow accepted",
            timeout=90,
            instances=(a, b),
        )
        remote_post = post(remy, "from afar #streamtest")

        def remote_update(frame: dict[str, Any]) -> bool:
            return (
                frame.get("event") == "update"
                and frame.get("stream") == ["user"]
                and event_of(frame)[2]["uri"] == remote_post["uri"]
            )

        # Generous: an event whose dispatch message is lost waits for the 30 s outbox sweep.
        frame = ws.wait_for(remote_update, "remote post on user", timeout=90)
        remote_status = event_of(frame)[2]
        assert remote_status["account"]["acct"] == f"remy@{b.domain}"
        assert remote_status == alice.ok("get", f"/api/v1/statuses/{remote_status['id']}")
        ws.wait_for(frame_with("update", ["public:remote"], remote_status["id"]), "public:remote")
        assert remote_status["id"] not in status_ids(ws, ["public:local"])
    finally:
        ws.close()
        watcher.close()


def test_mastodon_py_stream_user_over_sse(pair, users):
    a, _ = pair
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    bob_id = account_id(bob)
    alice.ok("post", f"/api/v1/accounts/{bob_id}/follow")
    m = Mastodon(access_token=token_of(alice), api_base_url=a.base, version_check_mode="created")
    assert m.stream_healthy()
    listener = Recorder()
    handle = m.stream_user(listener, run_async=True, timeout=30)
    try:
        time.sleep(1.0)
        status = post(bob, "over sse")
        got = listener.wait_for(
            lambda name, data: name == "update" and str(data["id"]) == status["id"], "update"
        )
        assert got["content"] == status["content"]
        mine = post(alice, "sse like")
        carol.ok("post", f"/api/v1/statuses/{mine['id']}/favourite")
        note = listener.wait_for(
            lambda name, data: name == "notification" and str(data["status"]["id"]) == mine["id"],
            "notification",
        )
        assert note["type"] == "favourite"
        bob.ok("delete", f"/api/v1/statuses/{status['id']}")
        listener.wait_for(lambda name, data: name == "delete" and data == status["id"], "delete")
        # OURVOICE_STREAMING_HEARTBEAT=1 here: `:thump` comments keep the stream alive.
        wait_until(lambda: listener.heartbeats >= 2, "heartbeats", timeout=10)
    finally:
        handle.close()


def test_restart_loses_no_notification_and_rest_has_no_duplicates(pair, users):
    a, _ = pair
    alice, carol = users["alice"], users["carol"]
    posts = [post(alice, f"restart {i}") for i in range(4)]
    ws = WsClient(ws_base(a), token_of(alice), query="?stream=user:notification")
    try:
        carol.ok("post", f"/api/v1/statuses/{posts[0]['id']}/favourite")
        frame = ws.wait_for(lambda f: f.get("event") == "notification", "first notification")
        seen = event_of(frame)[2]
        assert frame["stream"] == ["user:notification"]

        a.stop_streaming()
        wait_until(lambda: ws.closed is not None, "socket closed by the restart", timeout=20)
        # Notifications while the streaming process is down: they are rows.
        for p in posts[1:3]:
            carol.ok("post", f"/api/v1/statuses/{p['id']}/favourite")
        missed = wait_until(
            lambda: (lambda page: page if len(page) == 2 else None)(
                alice.ok(
                    "get", "/api/v1/notifications", since_id=seen["id"], **{"types[]": "favourite"}
                )
            ),
            "notifications created while streaming was down",
        )
        a.start_streaming()

        # The client reconnects and catches up through REST from the last id it saw.
        ws.close()
        ws = WsClient(ws_base(a), token_of(alice), query="?stream=user:notification")
        caught_up = alice.ok("get", "/api/v1/notifications", since_id=seen["id"])
        ids = [n["id"] for n in caught_up]
        assert len(ids) == len(set(ids)) == 2
        assert seen["id"] not in ids
        assert {n["status"]["id"] for n in caught_up} == {posts[1]["id"], posts[2]["id"]}
        assert ids == [n["id"] for n in missed]

        # Live again: a new notification arrives exactly once, and REST does not repeat it.
        time.sleep(0.5)
        carol.ok("post", f"/api/v1/statuses/{posts[3]['id']}/favourite")
        frame = ws.wait_for(
            lambda f: f.get("event") == "notification", "notification after restart"
        )
        fresh = event_of(frame)[2]
        assert fresh["status"]["id"] == posts[3]["id"]
        time.sleep(1.0)
        assert len(ws.events("notification")) == 1
        newest = alice.ok("get", "/api/v1/notifications", since_id=ids[0])
        assert [n["id"] for n in newest] == [fresh["id"]]
        everything = alice.ok("get", "/api/v1/notifications", limit=40)
        all_ids = [n["id"] for n in everything]
        assert len(all_ids) == len(set(all_ids))
        assert json.dumps(fresh, sort_keys=True) == json.dumps(
            alice.ok("get", f"/api/v1/notifications/{fresh['id']}"), sort_keys=True
        )
    finally:
        ws.close()
