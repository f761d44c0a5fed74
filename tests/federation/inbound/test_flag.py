"""Flag: reports become `report.received` outbox events for moderation (no rows here)."""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore
from ourvoice.core.models import OutboxEvent
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db


def reports() -> list[dict]:
    return list(
        OutboxEvent.objects.filter(kind="report.received").values_list("payload", flat=True)
    )


def test_mastodon_flag_from_the_instance_actor(alice, alice_post):
    instance_actor = remote_actor(
        "https://mastodon.example/actor", kind="Application", username="mastodon.example"
    )
    activity = load("mastodon/flag", LOCAL_POST_ID=alice_post.id)

    handle(activity, instance_actor)

    (payload,) = reports()
    assert payload["actor"] == "https://mastodon.example/actor"
    assert payload["object_uris"] == [alice.uri, alice_post.uri]
    assert payload["activity_id"] == activity["id"]
    assert payload["content"].startswith("Spam: the same link posted to every hashtag")
    assert "<" not in payload["content"]
    assert "alert" not in payload["content"]


def test_gotosocial_flag_without_to_keeps_only_our_objects(alice, alice_post):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")

    handle(load("gotosocial/flag", LOCAL_POST_ID=alice_post.id), gts)

    (payload,) = reports()
    assert payload["object_uris"] == [alice.uri, alice_post.uri]
    assert "impersonating a harbour official" in payload["content"]


def test_flag_is_ignored_when_the_domain_reports_are_rejected(alice, alice_post, set_policy):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")
    set_policy("gts.example", reject_reports=True)

    with pytest.raises(Ignore):
        handle(load("gotosocial/flag", LOCAL_POST_ID=alice_post.id), gts)

    assert reports() == []


def test_flag_naming_nothing_of_ours_is_ignored(alice, alice_post):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")
    activity = load("gotosocial/flag", LOCAL_POST_ID=alice_post.id)
    activity["object"] = ["https://elsewhere.example/users/someone", f"{alice.uri}-nobody"]

    with pytest.raises(Ignore):
        handle(activity, gts)

    assert reports() == []


def test_flag_content_is_capped(alice, alice_post):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")
    activity = load("gotosocial/flag", LOCAL_POST_ID=alice_post.id)
    activity["content"] = "x" * 20_000

    handle(activity, gts)

    (payload,) = reports()
    assert len(payload["content"]) == 5_000


def test_flag_of_a_single_account_as_a_string(alice):
    misskey = remote_actor("https://misskey.example/users/9zq0x1y2z3")

    handle(
        {
            "id": "https://misskey.example/3f1e2d3c",
            "type": "Flag",
            "actor": misskey.uri,
            "object": alice.uri,
            "content": "",
        },
        misskey,
    )

    (payload,) = reports()
    assert payload["object_uris"] == [alice.uri]
    assert payload["content"] == ""
