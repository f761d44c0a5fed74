"""Outbox consumers → exactly the right activity, body and inbox set for every local action.

Each test drives the real domain services, drains the outbox in-process and inspects the
stored OutgoingActivity (body fixed at creation) and its Delivery rows (one per inbox).
"""

from __future__ import annotations

import orjson
import pytest

from federation import services as federation_services
from federation.delivery import DELIVERY_CHUNK
from federation.jsonld import PUBLIC
from federation.models import Delivery, Instance, OutgoingActivity, PostInbox
from federation.outbound import consumers
from federation.signatures import digest_sha256
from ourvoice.accounts import services as account_services
from ourvoice.accounts.models import Follow
from ourvoice.core.outbox import outbox_record
from ourvoice.interactions import services as interactions
from ourvoice.posts import services as posts
from ourvoice.posts.models import Post, Visibility
from tests.factories import local_account
from tests.federation.outbound.support import (
    activities,
    body,
    follow,
    inboxes,
    only_activity,
    remote,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return local_account("alice")


@pytest.fixture
def network(alice):
    """alice's followers: a shared-inbox server with 3 followers, a server without shared
    inboxes with 2, a second shared server with 1, one pending request on its own server,
    local followers and a suspended remote account."""
    shared_a = [remote("a.example") for _ in range(3)]
    plain_b = [remote("b.example", shared=False) for _ in range(2)]
    shared_c = [remote("c.example")]
    for account in shared_a + plain_b + shared_c:
        follow(account, alice)
    pending = remote("pending.example")
    follow(pending, alice, accepted=False)
    follow(local_account("carol"), alice)
    gone = remote("gone.example")
    gone.suspended_at = gone.created_at
    gone.save(update_fields=["suspended_at"])
    follow(gone, alice)
    return {"a": shared_a, "b": plain_b, "c": shared_c, "pending": pending}


def followers_expected(network) -> set[str]:
    return {
        "https://a.example/inbox",
        "https://c.example/inbox",
        *(account.inbox_uri for account in network["b"]),
    }


def drain(outbox) -> None:
    outbox.drain()


# --- Create --------------------------------------------------------------------------------------


def test_public_post_goes_to_collapsed_follower_inboxes(alice, network, outbox):
    post = posts.post_create(author=alice, text="hello fediverse", visibility=Visibility.PUBLIC)
    drain(outbox)

    create = only_activity("Create")
    assert create.uri == f"{post.uri}/activity"
    assert create.actor == alice
    assert create.post_id == post.id
    # Shared inboxes collapse a.example's three followers into one delivery; b.example has no
    # shared inbox (one delivery per follower); pending, local and suspended followers get none.
    assert inboxes(create) == followers_expected(network)
    assert Delivery.objects.filter(activity=create).count() == 4
    assert set(Delivery.objects.filter(activity=create).values_list("state", flat=True)) == {
        Delivery.State.PENDING
    }
    assert set(Delivery.objects.filter(activity=create).values_list("domain", flat=True)) == {
        "a.example",
        "b.example",
        "c.example",
    }
    assert set(PostInbox.objects.filter(post=post).values_list("inbox", flat=True)) == (
        followers_expected(network)
    )

    document = body(create)
    assert document["type"] == "Create"
    assert document["actor"] == alice.uri
    assert document["object"]["id"] == post.uri
    assert document["object"]["type"] == "Note"
    assert document["to"] == [PUBLIC]
    assert create.digest == digest_sha256(bytes(create.body))


def test_followers_only_post_never_reaches_a_pending_followers_server(alice, network, outbox):
    """Pixelfed CVE-2025-30741: a follow request must not unlock followers-only posts."""
    posts.post_create(author=alice, text="for my followers", visibility=Visibility.PRIVATE)
    drain(outbox)

    create = only_activity("Create")
    assert "https://pending.example/inbox" not in inboxes(create)
    assert network["pending"].inbox_uri not in inboxes(create)
    assert not Delivery.objects.filter(domain="pending.example").exists()
    assert inboxes(create) == followers_expected(network)
    document = body(create)
    assert PUBLIC not in document["to"] + document["cc"]
    assert document["to"] == [alice.followers_uri]


def test_pending_follower_gets_nothing_then_everything_once_accepted(alice, outbox):
    bob = remote("solo.example")
    row = follow(bob, alice, accepted=False)
    posts.post_create(author=alice, text="before", visibility=Visibility.PRIVATE)
    posts.post_create(author=alice, text="public before", visibility=Visibility.PUBLIC)
    drain(outbox)
    assert activities("Create") == []  # nobody remote to send to: nothing stored

    Follow.objects.filter(pk=row.pk).update(state=Follow.State.ACCEPTED)
    posts.post_create(author=alice, text="after", visibility=Visibility.PRIVATE)
    drain(outbox)
    assert inboxes(only_activity("Create")) == {"https://solo.example/inbox"}


def test_direct_post_only_to_mentioned_actors_each_with_a_mention_tag(alice, network, outbox):
    bob = remote("d.example", "bob")
    dan = remote("e.example", "dan", shared=False)
    post = posts.post_create(
        author=alice, text="@bob@d.example @dan@e.example secret", visibility=Visibility.DIRECT
    )
    drain(outbox)

    create = only_activity("Create")
    assert inboxes(create) == {"https://d.example/inbox", dan.inbox_uri}
    document = body(create)
    assert document["to"] == [bob.uri, dan.uri] or set(document["to"]) == {bob.uri, dan.uri}
    assert document["cc"] == []
    mentions = {tag["href"] for tag in document["object"]["tag"] if tag["type"] == "Mention"}
    assert mentions == {bob.uri, dan.uri}
    assert set(PostInbox.objects.filter(post=post).values_list("inbox", flat=True)) == inboxes(
        create
    )


def test_mentions_are_added_to_a_public_posts_audience(alice, network, outbox):
    remote("m.example", "mia")
    posts.post_create(author=alice, text="hi @mia@m.example", visibility=Visibility.UNLISTED)
    drain(outbox)
    assert inboxes(only_activity("Create")) == followers_expected(network) | {
        "https://m.example/inbox"
    }


def test_reply_to_a_remote_post_reaches_the_parent_author(alice, network, outbox):
    zed = remote("z.example", "zed")
    parent = Post.objects.create(
        author=zed,
        uri="https://z.example/users/zed/statuses/1",
        content="<p>question</p>",
        local=False,
    )
    reply = posts.post_create(author=alice, text="answer", in_reply_to=parent)
    drain(outbox)

    create = only_activity("Create")
    assert inboxes(create) == followers_expected(network) | {"https://z.example/inbox"}
    assert body(create)["object"]["inReplyTo"] == parent.uri
    assert reply.in_reply_to_id == parent.id


def test_events_of_remote_actors_produce_nothing(alice, network, outbox):
    zed = remote("z.example", "zed")
    follow(zed, alice)
    remote_post = Post.objects.create(
        author=zed, uri="https://z.example/users/zed/statuses/2", content="x", local=False
    )
    mine = posts.post_create(author=alice, text="mine")
    drain(outbox)
    OutgoingActivity.objects.all().delete()

    for kind in ("post.created", "post.updated", "post.deleted", "post.removed"):
        outbox_record(kind=kind, payload={"post_id": remote_post.id, "author_id": zed.id})
    like = interactions.like_create(account=zed, post=mine, uri="https://z.example/likes/1")
    repost = interactions.repost_create(account=zed, post=mine, uri="https://z.example/boosts/1")
    account_services.block_create(account=zed, target=alice, uri="https://z.example/blocks/1")
    outbox_record(kind="account.updated", payload={"account_id": zed.id})
    drain(outbox)

    assert activities() == []
    assert like.pk and repost.pk


def test_local_only_interactions_produce_nothing(alice, outbox):
    carol = local_account("carol")
    post = posts.post_create(author=alice, text="local")
    interactions.like_create(account=carol, post=post)
    interactions.repost_create(account=carol, post=post)
    account_services.follow_create(follower=carol, target=alice)
    account_services.block_create(account=carol, target=local_account("dave"))
    drain(outbox)
    assert activities() == []


# --- Update and Delete ----------------------------------------------------------------------------


def test_update_reaches_every_earlier_recipient_and_new_followers(alice, network, outbox):
    post = posts.post_create(author=alice, text="first")
    drain(outbox)
    newcomer = remote("new.example")
    follow(newcomer, alice)
    posts.post_update(post=post, editor=alice, text="second")
    drain(outbox)

    update = only_activity("Update")
    post.refresh_from_db()
    assert update.uri == f"{post.uri}#updates/{int(post.edited_at.timestamp())}"
    assert inboxes(update) == followers_expected(network) | {"https://new.example/inbox"}
    document = body(update)
    assert document["object"]["id"] == post.uri
    assert "second" in document["object"]["content"]
    assert "updated" in document["object"]
    # The new recipient is remembered for a later Delete.
    assert PostInbox.objects.filter(post=post, inbox="https://new.example/inbox").exists()


def test_delete_reaches_post_inboxes_and_interactors(alice, network, outbox):
    post = posts.post_create(author=alice, text="soon gone")
    drain(outbox)
    liker = remote("liker.example")
    booster = remote("booster.example", shared=False)
    replier = remote("replier.example")
    interactions.like_create(account=liker, post=post, uri="https://liker.example/l/1")
    interactions.repost_create(account=booster, post=post, uri="https://booster.example/b/1")
    Post.objects.create(
        author=replier,
        uri="https://replier.example/s/1",
        content="re",
        local=False,
        in_reply_to=post,
        in_reply_to_uri=post.uri,
    )
    # A follower who joined after the post never got it and gets no Delete either.
    follow(remote("late.example"), alice)
    posts.post_delete(post=post, actor=alice)
    drain(outbox)

    delete = only_activity("Delete")
    assert delete.uri == f"{post.uri}#delete"
    assert inboxes(delete) == followers_expected(network) | {
        "https://liker.example/inbox",
        booster.inbox_uri,
        "https://replier.example/inbox",
    }
    document = body(delete)
    assert document["actor"] == alice.uri
    assert document["object"]["type"] == "Tombstone"
    assert document["object"]["id"] == post.uri


def test_moderation_removal_sends_one_delete_signed_by_the_author(alice, network, outbox):
    post = posts.post_create(author=alice, text="removed by the community")
    drain(outbox)
    assert posts.post_remove(post=post) is True
    assert posts.post_remove(post=post) is False
    drain(outbox)

    delete = only_activity("Delete")
    assert delete.actor == alice
    assert body(delete)["actor"] == alice.uri
    assert inboxes(delete) == followers_expected(network)


def test_removal_payload_extra_is_merged_into_the_delete(alice, network, outbox):
    post = posts.post_create(author=alice, text="x")
    drain(outbox)
    Post.objects.filter(pk=post.pk).update(state=Post.State.REMOVED)
    decision = "https://testserver/moderation/decisions/1"
    outbox_record(
        kind="post.removed",
        payload={
            "post_id": post.id,
            "author_id": alice.id,
            "extra": {"summary": "Removed by community vote", "decision": decision},
        },
    )
    drain(outbox)
    document = body(only_activity("Delete"))
    assert document["summary"] == "Removed by community vote"
    assert document["decision"] == decision


# --- Likes and boosts ---------------------------------------------------------------------------


@pytest.fixture
def zed_post():
    zed = remote("z.example", "zed", shared=True)
    post = Post.objects.create(
        author=zed, uri="https://z.example/users/zed/statuses/9", content="<p>hi</p>", local=False
    )
    return zed, post


def test_like_and_unlike_go_to_the_authors_personal_inbox(alice, zed_post, outbox):
    zed, post = zed_post
    like = interactions.like_create(account=alice, post=post)
    drain(outbox)
    sent = only_activity("Like")
    assert sent.uri == like.uri
    assert inboxes(sent) == {zed.inbox_uri}
    assert body(sent) == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": like.uri,
        "type": "Like",
        "actor": alice.uri,
        "object": post.uri,
    }

    interactions.like_delete(account=alice, post=post)
    drain(outbox)
    undo = only_activity("Undo")
    assert undo.uri == f"{like.uri}/undo"
    assert inboxes(undo) == {zed.inbox_uri}
    inner = body(undo)["object"]
    assert inner["id"] == like.uri
    assert inner["type"] == "Like"
    assert "@context" not in inner


def test_boost_goes_to_followers_and_the_original_author(alice, network, zed_post, outbox):
    zed, post = zed_post
    repost = interactions.repost_create(account=alice, post=post)
    drain(outbox)
    announce = only_activity("Announce")
    assert announce.uri == repost.uri
    assert inboxes(announce) == followers_expected(network) | {"https://z.example/inbox"}
    document = body(announce)
    assert document["object"] == post.uri
    assert zed.uri in document["cc"]

    newcomer = remote("new.example")
    follow(newcomer, alice)
    interactions.repost_delete(account=alice, post=post)
    drain(outbox)
    undo = only_activity("Undo")
    assert undo.uri == f"{repost.uri}/undo"
    assert body(undo)["object"]["id"] == repost.uri
    assert inboxes(undo) == inboxes(announce) | {"https://new.example/inbox"}


# --- Follows -------------------------------------------------------------------------------------


def test_follow_and_unfollow_of_a_remote_account(alice, zed_post, outbox):
    zed, _ = zed_post
    row = account_services.follow_create(follower=alice, target=zed)
    drain(outbox)
    sent = only_activity("Follow")
    assert sent.uri == row.uri
    assert inboxes(sent) == {zed.inbox_uri}
    assert body(sent)["object"] == zed.uri

    # Their Accept is processed through the service: nothing goes back out.
    account_services.follow_accept(follow=row)
    drain(outbox)
    assert activities("Accept") == []

    account_services.follow_delete(follower=alice, target=zed)
    drain(outbox)
    undo = only_activity("Undo")
    assert undo.uri == f"{row.uri}/undo"
    assert inboxes(undo) == {zed.inbox_uri}
    # The Undo embeds the Follow exactly as it was sent (without its @context).
    assert body(undo)["object"] == {k: v for k, v in body(sent).items() if k != "@context"}


def test_remote_follow_of_an_unlocked_account_is_accepted_with_its_own_id(alice, outbox):
    bob = remote("b.example", "bob")
    their_id = "https://b.example/4f2c-follow"
    row = account_services.follow_create(follower=bob, target=alice, uri=their_id)
    drain(outbox)
    assert activities("Follow") == []
    accept = only_activity("Accept")
    assert accept.uri == f"{alice.uri}#accepts/follows/{row.id}"
    assert inboxes(accept) == {bob.inbox_uri}
    document = body(accept)
    assert document["actor"] == alice.uri
    assert document["object"]["id"] == their_id
    assert document["object"]["actor"] == bob.uri
    assert document["object"]["object"] == alice.uri


def test_locked_account_accepts_later_or_rejects(outbox):
    lena = local_account("lena")
    account_services.account_update_profile(account=lena, locked=True)
    drain(outbox)
    bob, eve = remote("b.example", "bob"), remote("e.example", "eve")
    first = account_services.follow_create(follower=bob, target=lena, uri="https://b.example/f1")
    second = account_services.follow_create(follower=eve, target=lena, uri="https://e.example/f2")
    drain(outbox)
    assert activities("Accept") == []

    account_services.follow_accept(follow=first)
    account_services.follow_reject(follow=second)
    drain(outbox)
    accept, reject = only_activity("Accept"), only_activity("Reject")
    assert inboxes(accept) == {bob.inbox_uri}
    assert inboxes(reject) == {eve.inbox_uri}
    assert reject.uri == f"{lena.uri}#rejects/follows/{second.id}"
    assert body(reject)["object"]["id"] == "https://e.example/f2"


def test_repeated_accept_is_sent_again(alice, outbox):
    bob = remote("b.example", "bob")
    row = account_services.follow_create(follower=bob, target=alice, uri="https://b.example/f")
    drain(outbox)
    accept = only_activity("Accept")
    Delivery.objects.filter(activity=accept).update(state=Delivery.State.SENT, attempts=1)

    outbox_record(
        kind="follow.accepted",
        payload={"follow_id": row.id, "follower_id": bob.id, "target_id": alice.id},
    )
    drain(outbox)
    assert only_activity("Accept") == accept  # same id, same stored body
    (again,) = Delivery.objects.filter(activity=accept)
    assert again.state == Delivery.State.PENDING
    assert again.attempts == 0


# --- Profile and blocks ------------------------------------------------------------------------


def test_profile_update_goes_to_followers_servers(alice, network, outbox):
    account_services.account_update_profile(account=alice, display_name="Alice A.")
    drain(outbox)
    update = only_activity("Update")
    assert inboxes(update) == followers_expected(network)
    document = body(update)
    assert document["object"]["id"] == alice.uri
    assert document["object"]["name"] == "Alice A."


def test_block_and_unblock_of_a_remote_account(alice, zed_post, outbox):
    zed, _ = zed_post
    follow(zed, alice)
    block = account_services.block_create(account=alice, target=zed)
    drain(outbox)
    sent = only_activity("Block")
    assert sent.uri == block.uri
    assert inboxes(sent) == {zed.inbox_uri}
    # Blocking also removed zed's follow: Mastodon sends a Reject of it too.
    assert inboxes(only_activity("Reject")) == {zed.inbox_uri}

    account_services.block_delete(account=alice, target=zed)
    drain(outbox)
    undo = only_activity("Undo")
    assert undo.uri == f"{block.uri}/undo"
    assert body(undo)["object"]["type"] == "Block"
    assert inboxes(undo) == {zed.inbox_uri}


# --- Domain policy and bookkeeping ---------------------------------------------------------------


def test_suspended_and_unavailable_domains_get_skipped_rows(alice, network, outbox):
    instance = federation_services.instance_get_or_create("a.example")
    federation_services.instance_set_policy(instance=instance, policy=Instance.Policy.SUSPEND)
    Instance.objects.create(domain="c.example", unavailable_since=instance.first_seen_at)
    posts.post_create(author=alice, text="hi")
    drain(outbox)

    create = only_activity("Create")
    assert inboxes(create, Delivery.State.PENDING) == {a.inbox_uri for a in network["b"]}
    skipped = dict(
        Delivery.objects.filter(activity=create, state=Delivery.State.SKIPPED).values_list(
            "domain", "last_error"
        )
    )
    assert skipped == {"a.example": "domain suspended", "c.example": "domain unavailable"}


def test_deliveries_are_queued_after_commit_in_chunks(
    alice, outbox, monkeypatch, django_capture_on_commit_callbacks
):
    total = 2 * DELIVERY_CHUNK + 50
    for _ in range(total):
        follow(remote("many.example", shared=False), alice)
    queued: list[list[int]] = []
    monkeypatch.setattr(
        "federation.tasks_delivery.delivery_send.apply_async",
        lambda args, countdown=None: queued.append(args[0]),
    )
    posts.post_create(author=alice, text="to many")
    with django_capture_on_commit_callbacks(execute=True):
        drain(outbox)

    create = only_activity("Create")
    assert [len(chunk) for chunk in queued] == [DELIVERY_CHUNK, DELIVERY_CHUNK, 50]
    all_ids = [i for chunk in queued for i in chunk]
    assert len(set(all_ids)) == total
    assert set(all_ids) == set(
        Delivery.objects.filter(activity=create).values_list("id", flat=True)
    )


def test_publishing_is_exactly_once_per_activity_and_inbox(alice):
    bob = remote("b.example")
    activity = {"id": f"{alice.uri}#test/1", "type": "Test", "actor": alice.uri}
    first = consumers.activity_publish(
        activity=activity, actor=alice, inboxes=[bob.inbox_uri, bob.inbox_uri]
    )
    assert Delivery.objects.filter(activity=first).count() == 1
    second = consumers.activity_publish(activity=activity, actor=alice, inboxes=[bob.inbox_uri])
    assert second == first
    assert Delivery.objects.filter(activity=first).count() == 1
    # A different body under a taken id gets an id of its own; stored bodies never change.
    changed = consumers.activity_publish(
        activity={**activity, "extra": 1}, actor=alice, inboxes=[bob.inbox_uri]
    )
    assert changed.uri.startswith(activity["id"] + "-")
    assert orjson.loads(bytes(first.body)) == activity


def test_own_and_non_http_inboxes_are_dropped(alice, settings):
    own = f"https://{settings.OURVOICE_DOMAIN}/inbox"
    result = consumers.activity_publish(
        activity={"id": f"{alice.uri}#t", "type": "Test"},
        actor=alice,
        inboxes=[own, "ftp://x.example/inbox", ""],
    )
    assert result is None
    assert activities() == []


def test_suspension_sends_delete_person_to_everyone_who_may_hold_the_account(
    alice, network, zed_post, outbox
):
    zed, _ = zed_post  # alice follows zed: zed's server knows her too
    follow(alice, zed)
    post = posts.post_create(author=alice, text="hello", visibility=Visibility.PUBLIC)
    drain(outbox)
    PostInbox.objects.create(post=post, inbox="https://once.example/inbox")  # delivered before

    account_services.account_suspend(account=alice)
    drain(outbox)

    delete = only_activity("Delete")
    document = body(delete)
    assert document["actor"] == alice.uri
    assert document["object"] == alice.uri
    assert delete.actor_id == alice.pk
    expected = followers_expected(network) | {
        network["pending"].preferred_inbox,
        zed.preferred_inbox,
        "https://once.example/inbox",
    }
    assert inboxes(delete) == expected

    account_services.account_unsuspend(account=alice)
    drain(outbox)
    update = [a for a in activities() if a.type == "Update"]
    assert len(update) == 1
    assert inboxes(update[0]) == expected
    assert body(update[0])["object"]["id"] == alice.uri


def test_suspension_of_a_remote_account_sends_no_delete(alice, zed_post, outbox):
    zed, _ = zed_post
    follow(zed, alice)
    drain(outbox)
    account_services.account_suspend(account=zed)
    drain(outbox)
    assert not [a for a in activities() if a.type == "Delete"]
