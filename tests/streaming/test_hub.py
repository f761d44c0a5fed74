"""The per-process hub on the real channel layer (Redis with REDIS_URL), and stream names."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.layers import get_channel_layer

from ourvoice.api.streaming.hub import Hub, Listener
from ourvoice.api.streaming.streams import (
    PUBLIC_GROUP,
    StreamError,
    hashtag_group,
    subscription_resolve,
    user_group,
)


def test_stream_names_resolve_as_mastodon_names_them():
    sub = subscription_resolve("hashtag", {"tag": "Café"}, account_id=1)
    assert sub.stream == ("hashtag", "Café")  # the tag as the client sent it (masto.js matches)
    assert sub.group == hashtag_group("#café") and sub.group.isascii()
    assert subscription_resolve("public:remote:media", {}, account_id=None).group == PUBLIC_GROUP
    assert subscription_resolve("user:notification", {}, account_id=7).group == user_group(7)
    with pytest.raises(StreamError) as unknown:
        subscription_resolve("nonsense", {}, account_id=1)
    assert (unknown.value.message, unknown.value.status) == ("Unknown stream type", 400)
    with pytest.raises(StreamError) as anonymous:
        subscription_resolve("user", {}, account_id=None)
    assert anonymous.value.status == 401
    with pytest.raises(StreamError):
        subscription_resolve("hashtag", {}, account_id=1)


@pytest.mark.redis
def test_hub_fans_one_layer_message_out_to_the_subscribers_that_want_it():
    async def scenario() -> dict[str, list[dict]]:
        hub = Hub()
        got: dict[str, list[dict]] = {"local": [], "remote": [], "all": [], "blocked": []}

        def listener(name: str, viewer: int) -> Listener:
            return Listener(viewer, False, lambda frame: got[name].append(json.loads(frame)))

        subs = {
            "local": subscription_resolve("public:local", {}, account_id=1),
            "remote": subscription_resolve("public:remote", {}, account_id=2),
            "all": subscription_resolve("public", {}, account_id=3),
            "blocked": subscription_resolve("public", {}, account_id=4),
        }
        viewers = {"local": 1, "remote": 2, "all": 3, "blocked": 4}
        listeners = {name: listener(name, viewers[name]) for name in subs}
        for name, sub in subs.items():
            assert await hub.subscribe(listeners[name], sub)
        assert not await hub.subscribe(listeners["all"], subs["all"])  # already subscribed
        layer = get_channel_layer()
        status = {"id": "10", "content": "x", "reblog": None}
        viewer = {"liked": [3], "reposted": [], "bookmarked": [], "author": 9}
        for local in (True, False):
            await layer.group_send(
                PUBLIC_GROUP,
                {
                    "type": "stream.event",
                    "group": PUBLIC_GROUP,
                    "event": "update",
                    "local": local,
                    "status": status,
                    "viewer": viewer,
                    "exclude": [4],
                },
            )
        for _ in range(100):
            if len(got["all"]) == 2 and got["local"] and got["remote"]:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        for item in listeners.values():
            await hub.remove(item)
        for task in hub._tasks:
            task.cancel()
        return got

    # Its own thread: earlier tests (Playwright's sync API) may leave a loop running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        got = pool.submit(asyncio.run, scenario()).result(timeout=60)
    assert [f["stream"] for f in got["local"]] == [["public:local"]]
    assert [f["stream"] for f in got["remote"]] == [["public:remote"]]
    assert [f["stream"] for f in got["all"]] == [["public"], ["public"]]
    assert got["blocked"] == []  # excluded (a block or mute of the author)
    liked = [json.loads(f["payload"])["favourited"] for f in got["all"]]
    assert liked == [True, True]
    assert json.loads(got["local"][0]["payload"])["favourited"] is False
