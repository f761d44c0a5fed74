"""The inbox's set-based path for Create{Note} (`federation.processing` → `create.handle_batch`
→ `note.notes_import_batch` → `posts.services.posts_create_remote`): the same results as one
by one, a fixed number of queries per batch, and every item that needs more (a fetch, a
tombstone, a refusal) left to the one-by-one path."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from federation.inbound import note as note_module
from federation.models import InboxItem, RemoteTombstone
from federation.processing import inbox_item_store, inbox_items_process
from ourvoice.accounts.models import Account, Block
from ourvoice.accounts.services import follow_accept, follow_create
from ourvoice.core.models import OutboxEvent
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import FeedEntry, Mention, Post, Visibility
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.federation.inbound.conftest import remote_actor

pytestmark = pytest.mark.django_db

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def follow(follower: Account, target: Account) -> None:
    f = follow_create(follower=follower, target=target, uri=f"{follower.uri}/follows/{target.pk}")
    follow_accept(follow=f)


def actor(n: int) -> Account:
    return remote_actor(f"https://peer{n % 3}.example/users/u{n}")


def create(author: Account, n: int, **fields: Any) -> dict[str, Any]:
    note_id = f"{author.uri}/statuses/{n}"
    obj: dict[str, Any] = {
        "id": note_id,
        "type": "Note",
        "attributedTo": author.uri,
        "content": f"<p>note {n}</p>",
        "published": "2025-03-14T09:26:53Z",
        "to": [PUBLIC],
        "cc": [author.followers_uri],
        "tag": [],
    }
    obj.update(fields)
    return {
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": author.uri,
        "to": obj["to"],
        "cc": obj["cc"],
        "object": obj,
    }


def store(activity: dict[str, Any]) -> None:
    assert inbox_item_store(
        activity_id=activity["id"],
        activity_type=activity["type"],
        actor_uri=activity["actor"],
        key_id=f"{activity['actor']}#main-key",
        body=orjson.dumps(activity),
    )


def states() -> dict[str, str]:
    return dict(InboxItem.objects.values_list("activity_id", "state"))


def test_a_batch_stores_posts_feeds_counters_and_events(alice, outbox):
    authors = [actor(n) for n in range(4)]
    readers = [local_account(f"reader{n}") for n in range(3)]
    for a in authors:
        for r in readers:
            follow(r, a)
    follow(alice, authors[0])
    tagged = create(
        authors[0],
        1,
        content="<p>hi @alice #Sailing</p><script>x()</script>",
        tag=[
            {"type": "Mention", "href": alice.uri, "name": "@alice"},
            {"type": "Hashtag", "name": "#Sailing"},
        ],
        attachment=[
            {"type": "Document", "mediaType": "image/png", "url": "https://m.example/1.png"}
        ],
    )
    activities = [tagged] + [create(authors[n % 4], 100 + n) for n in range(7)]
    for activity in activities:
        store(activity)
    OutboxEvent.objects.all().delete()

    assert inbox_items_process() == len(activities)

    assert set(states().values()) == {"done"}
    post = Post.objects.get(uri=tagged["object"]["id"])
    assert post.local is False and post.author == authors[0]
    assert "<script>" not in post.content
    assert list(post.mentions.all()) == [alice]
    assert list(post.hashtags.values_list("name", flat=True)) == ["sailing"]
    assert post.media.get().remote_url == "https://m.example/1.png"
    assert post.visibility == Visibility.PUBLIC
    for reader in readers:
        assert FeedEntry.objects.filter(owner=reader).count() == len(activities)
    assert FeedEntry.objects.filter(owner=alice).count() == 3  # authors[0] posted 3 times
    counts = {
        a.pk: a.statuses_count for a in Account.objects.filter(pk__in=[a.pk for a in authors])
    }
    assert counts == {authors[0].pk: 3, authors[1].pk: 2, authors[2].pk: 2, authors[3].pk: 1}
    assert Account.objects.get(pk=authors[0].pk).last_status_at == post.published_at
    assert OutboxEvent.objects.filter(kind="post.created").count() == len(activities)

    outbox.drain()
    assert Notification.objects.filter(
        recipient=alice, type=Notification.Type.MENTION, post=post
    ).exists()


def test_queries_do_not_grow_with_the_batch(db):
    authors = [actor(n) for n in range(6)]
    readers = [local_account(f"reader{n}") for n in range(4)]
    for a in authors:
        for r in readers:
            follow(r, a)

    def run(first: int, count: int) -> int:
        for n in range(first, first + count):
            store(create(authors[n % 6], n))
        with CaptureQueriesContext(connection) as ctx:
            assert inbox_items_process() == count
        assert set(states().values()) == {"done"}
        return len(ctx.captured_queries)

    run(0, 6)  # domain policies into the shared cache
    small, large = run(100, 6), run(200, 60)
    assert large == small
    assert large <= 26
    assert FeedEntry.objects.count() == 72 * 4


def test_replies_to_known_posts_count_and_thread(alice, outbox):
    ana = actor(1)
    follow(alice, ana)
    parent = post_create(author=alice, text="first")
    reply = create(ana, 1, inReplyTo=parent.uri)
    store(reply)
    store(create(ana, 2, inReplyTo=parent.uri))

    inbox_items_process()

    parent.refresh_from_db()
    assert parent.replies_count == 2
    child = Post.objects.get(uri=reply["object"]["id"])
    assert child.in_reply_to == parent
    assert child.thread_root_id == parent.pk
    assert child.in_reply_to_account_id == alice.pk


def test_an_early_reply_is_attached_when_its_parent_arrives_in_a_batch(db):
    ana = actor(1)
    parent = create(ana, 1)
    early = Post.objects.create(
        author=ana,
        uri=f"{ana.uri}/statuses/early",
        local=False,
        in_reply_to_uri=parent["object"]["id"],
    )
    store(parent)
    store(create(ana, 2))

    inbox_items_process()

    early.refresh_from_db()
    stored = Post.objects.get(uri=parent["object"]["id"])
    assert early.in_reply_to == stored
    assert stored.replies_count == 1


def test_direct_and_followers_only_reach_the_right_feeds(alice):
    ana = actor(1)
    bob, carol = local_account("bob"), local_account("carol")
    for reader in (alice, bob, carol):
        follow(reader, ana)
    direct = create(
        ana,
        1,
        to=[alice.uri],
        cc=[],
        tag=[{"type": "Mention", "href": alice.uri}],
    )
    private = create(ana, 2, to=[ana.followers_uri], cc=[])
    Block.objects.create(account=carol, target=ana)
    store(direct)
    store(private)

    inbox_items_process()

    d = Post.objects.get(uri=direct["object"]["id"])
    p = Post.objects.get(uri=private["object"]["id"])
    assert d.visibility == Visibility.DIRECT and p.visibility == Visibility.PRIVATE
    assert set(FeedEntry.objects.filter(post=d).values_list("owner", flat=True)) == {alice.pk}
    assert set(FeedEntry.objects.filter(post=p).values_list("owner", flat=True)) == {
        alice.pk,
        bob.pk,
    }


def test_items_needing_more_go_one_by_one_with_the_same_outcomes(alice, remote_web):
    ana = actor(1)
    plain = create(ana, 1)
    unknown_parent = create(ana, 2, inReplyTo="https://elsewhere.example/notes/9")
    remote_web.serve(
        {
            "id": "https://elsewhere.example/notes/9",
            "type": "Note",
            "attributedTo": "https://elsewhere.example/users/zed",
            "content": "parent",
            "to": [PUBLIC],
        }
    )
    remote_web.serve_actor("https://elsewhere.example/users/zed")
    unknown_mention = create(ana, 3, tag=[{"type": "Mention", "href": "https://far.example/u/x"}])
    remote_web.serve_actor("https://far.example/u/x")
    tombstoned = create(ana, 4)
    RemoteTombstone.objects.create(uri=tombstoned["object"]["id"])
    forged = create(ana, 5)
    forged["object"]["attributedTo"] = "https://peer1.example/users/someone-else"
    twice = copy.deepcopy(plain)
    twice["id"] = f"{plain['id']}/again"
    like = {"id": f"{ana.uri}/likes/1", "type": "Like", "actor": ana.uri, "object": "x"}
    for activity in (plain, unknown_parent, unknown_mention, tombstoned, forged, twice, like):
        store(activity)

    inbox_items_process()

    result = states()
    assert result[plain["id"]] == "done"
    assert result[twice["id"]] == "done"  # the same object again: a no-op
    assert result[unknown_parent["id"]] == "done"
    assert result[unknown_mention["id"]] == "done"
    assert result[tombstoned["id"]] == "ignored"
    assert result[forged["id"]] == "failed" or result[forged["id"]] == "ignored"
    assert result[like["id"]] in {"ignored", "failed"}
    assert Post.objects.filter(uri=plain["object"]["id"]).count() == 1
    child = Post.objects.get(uri=unknown_parent["object"]["id"])
    assert child.in_reply_to.uri == "https://elsewhere.example/notes/9"
    mentioned = Post.objects.get(uri=unknown_mention["object"]["id"])
    assert list(Mention.objects.filter(post=mentioned).values_list("account__uri", flat=True)) == [
        "https://far.example/u/x"
    ]
    assert not Post.objects.filter(uri=tombstoned["object"]["id"]).exists()
    assert not Post.objects.filter(uri=forged["object"]["id"]).exists()
    assert Account.objects.get(pk=ana.pk).statuses_count == 3


def test_a_failing_batch_falls_back_to_one_by_one(alice, monkeypatch):
    ana = actor(1)
    follow(alice, ana)

    def broken(**kwargs: Any) -> None:
        Post.objects.create(author=ana, uri="https://peer1.example/half-written", local=False)
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(note_module, "posts_create_remote", broken)
    activities = [create(ana, n) for n in range(3)]
    for activity in activities:
        store(activity)

    inbox_items_process()

    assert set(states().values()) == {"done"}
    assert not Post.objects.filter(uri="https://peer1.example/half-written").exists()
    assert Post.objects.filter(author=ana).count() == 3
    assert FeedEntry.objects.filter(owner=alice).count() == 3
    assert Account.objects.get(pk=ana.pk).statuses_count == 3


def test_suspended_authors_are_left_to_the_one_by_one_path(alice):
    ana = actor(1)
    ana.suspended_at = ana.created_at
    ana.save(update_fields=["suspended_at"])
    activity = create(ana, 1)
    store(activity)

    inbox_items_process()

    assert states()[activity["id"]] == "ignored"
    assert not Post.objects.filter(author=ana).exists()
