"""Federation transport of community moderation, end to end inside federation.

- incoming: a signed `ModerationVote` POSTed to our moderation actor's inbox is stored once and
  becomes one `moderation.vote.received` event; forged, replayed and relayed votes are refused
  and leave no event (and, refused at the inbox, no inbox item);
- discovery: `moderation_peers` finds an OUR Voice peer's moderation inbox through NodeInfo and
  the instance actor (guarded signed fetches, cached on `Instance`);
- outgoing: `moderation.vote.forward` / `.withdraw` / `moderation.flag` publish exactly one
  activity each, to exactly the right inbox, signed by the right key; a removal's Delete carries
  moderation's id and extras to every server that got or touched the post;
- our own documents expand as JSON-LD with the `ov:` terms; the moderation actor is advertised
  consistently by the instance actor and NodeInfo.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings
from django.utils import timezone

from federation import fetch, moderation_peers, processing, tasks_inbox
from federation.delivery import deliveries_send
from federation.jsonld import PUBLIC, expand
from federation.models import Delivery, InboxItem, Instance, OutgoingActivity, PostInbox
from federation.outbound.renderers import OV_NAMESPACE
from federation.policy import policy_cache_clear
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get
from ourvoice.core.models import OutboxEvent
from ourvoice.core.outbox import outbox_record
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create, post_remove
from tests.factories import local_account
from tests.federation.outbound import support
from tests.federation.remote import (
    ACTIVITY_JSON,
    Remote,
    body_of,
    other_keypair,
    post,
    reset_caches,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "federation" / "ourvoice"
PEER = "ov-b.example"
PEER_BASE = f"https://{PEER}"
PEER_SERVICE = f"{PEER_BASE}/users/moderation"
PEER_SERVICE_INBOX = f"{PEER_SERVICE}/inbox"
MOD_INBOX_PATH = "/users/moderation/inbox"
OV = OV_NAMESPACE
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture(autouse=True)
def _dns(monkeypatch):
    support.stub_dns(monkeypatch)


@pytest.fixture
def kicks(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks_inbox, "inbox_kick", lambda: calls.append(1))
    return calls


@pytest.fixture
def peer(httpx_mock) -> Remote:
    return Remote(httpx_mock, domain=PEER)


@pytest.fixture
def alice():
    return local_account("alice")


@pytest.fixture
def alice_post(alice):
    return post_create(author=alice, text="Tide tables, anyone?")


def fixture(name: str, **values: Any) -> dict[str, Any]:
    text = (FIXTURES / f"{name}.json").read_text(encoding="utf-8")
    for key, value in {"LOCAL": settings.OURVOICE_BASE_URL, **values}.items():
        text = text.replace("{{" + key + "}}", str(value))
    return json.loads(text)


def events(kind: str) -> list[dict[str, Any]]:
    return list(OutboxEvent.objects.filter(kind=kind).values_list("payload", flat=True))


def send(client, peer: Remote, activity, *, username="bob", path=MOD_INBOX_PATH, **sign):
    body = body_of(activity)
    headers = peer.signed_headers(body, username=username, path=path, **sign)
    return post(client, path, body, headers)


def process() -> None:
    processing.inbox_items_process()


# --- Incoming votes through the real inbox ---------------------------------------------------


def test_signed_vote_to_the_moderation_inbox_becomes_one_event(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, peer, vote)
    process()

    assert response.status_code == 202
    item = InboxItem.objects.get()
    assert (item.activity_type, item.state) == ("ModerationVote", InboxItem.State.DONE)
    (payload,) = events("moderation.vote.received")
    bob = Account.objects.get(uri=peer.actor_id("bob"))
    assert payload["actor_id"] == bob.pk
    assert payload["object"] == alice_post.uri
    assert payload["activity_id"] == vote["id"]
    assert payload["verdict"] == "remove"


def test_replayed_vote_is_stored_and_recorded_once(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    assert send(client, peer, vote).status_code == 202
    process()
    # The same activity again (freshly signed), and again with a changed verdict: the id was
    # seen, so nothing more is stored or recorded.
    assert send(client, peer, vote).status_code == 202
    assert send(client, peer, {**vote, "verdict": "keep"}).status_code == 202
    process()

    assert InboxItem.objects.count() == 1
    (payload,) = events("moderation.vote.received")
    assert payload["verdict"] == "remove"


def test_forged_vote_with_another_key_is_refused_and_leaves_nothing(
    client, peer, kicks, alice_post
):
    peer.serve_actor("bob")
    forged_key, _ = other_keypair()
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, peer, vote, private_pem=forged_key)
    process()

    assert response.status_code == 401
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []
    assert kicks == []


def test_vote_altered_after_signing_is_refused(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)
    headers = peer.signed_headers(body_of(vote), username="bob", path=MOD_INBOX_PATH)

    response = post(client, MOD_INBOX_PATH, body_of({**vote, "verdict": "keep"}), headers)
    process()

    assert response.status_code == 401
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []


def test_stale_vote_outside_the_date_window_is_refused(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, peer, vote, now=timezone.now() - timedelta(hours=2))
    process()

    assert response.status_code == 401
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []


def test_vote_relayed_by_a_third_server_is_refused(client, httpx_mock, kicks, alice_post):
    """carol@relay.example forwards bob's (unsigned-by-bob) vote: the signer is not the actor."""
    voter = Remote(httpx_mock, domain=PEER)
    relay = Remote(httpx_mock, domain="relay.example")
    voter.serve_actor("bob")
    relay.serve_actor("carol")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, relay, vote, username="carol")
    process()

    assert response.status_code == 401
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []


def test_vote_relayed_by_another_actor_of_the_same_server_is_refused(
    client, peer, kicks, alice_post
):
    peer.serve_actor("bob")
    peer.serve_actor("mallory")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, peer, vote, username="mallory")
    process()

    assert response.status_code == 401
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []


def test_public_vote_is_accepted_at_the_inbox_and_refused_by_processing(
    client, peer, kicks, alice_post
):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)
    vote["cc"] = [PUBLIC]

    assert send(client, peer, vote).status_code == 202
    process()

    assert InboxItem.objects.get().state == InboxItem.State.IGNORED
    assert events("moderation.vote.received") == []


def test_vote_from_a_suspended_domain_is_refused(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    Instance.objects.create(domain=PEER, policy=Instance.Policy.SUSPEND)
    policy_cache_clear(PEER)
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)

    response = send(client, peer, vote)
    process()

    assert response.status_code == 403
    assert not InboxItem.objects.exists()
    assert events("moderation.vote.received") == []


def test_undo_of_a_received_vote_by_id_through_the_inbox(client, peer, kicks, alice_post):
    peer.serve_actor("bob")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)
    assert send(client, peer, vote).status_code == 202
    process()

    undo = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{vote['id']}/undo",
        "type": "Undo",
        "actor": vote["actor"],
        "object": vote["id"],
    }
    assert send(client, peer, undo).status_code == 202
    process()

    (payload,) = events("moderation.vote.undo_received")
    assert payload["vote_uri"] == vote["id"]
    assert payload["activity_id"] == undo["id"]


# --- Discovery of OUR Voice peers ------------------------------------------------------------


def serve_ourvoice_peer(peer: Remote, *, nodeinfo: bool = True, actor: bool = True) -> None:
    if nodeinfo:
        peer.serve(
            f"{PEER_BASE}/.well-known/nodeinfo",
            {"links": [{"rel": NODEINFO_21, "href": f"{PEER_BASE}/nodeinfo/2.1"}]},
            content_type="application/json",
        )
        peer.serve(
            f"{PEER_BASE}/nodeinfo/2.1",
            {
                "version": "2.1",
                "software": {"name": "ourvoice", "version": "0.2.0"},
                "metadata": {"ourvoice": {"moderation": {"version": "1", "actor": PEER_SERVICE}}},
            },
            content_type=f'application/json; profile="{NODEINFO_21}#"',
        )
    if actor:
        peer.serve(
            f"{PEER_BASE}/actor",
            peer.actor_document("ov-b.example", id=f"{PEER_BASE}/actor", type="Application")
            | {"moderationService": PEER_SERVICE},
        )
    peer.serve(
        PEER_SERVICE,
        peer.actor_document("moderation", type="Service"),
    )


def requests_to(httpx_mock, path: str) -> int:
    return sum(1 for r in httpx_mock.get_requests() if r.url.path == path)


def test_ourvoice_peer_is_found_through_nodeinfo_and_cached(peer, httpx_mock):
    serve_ourvoice_peer(peer)

    service = moderation_peers.moderation_service(PEER)
    again = moderation_peers.moderation_service(PEER)

    assert service == moderation_peers.ModerationService(PEER_SERVICE, PEER_SERVICE_INBOX)
    assert again == service
    assert moderation_peers.moderation_service_inbox(PEER) == PEER_SERVICE_INBOX
    assert moderation_peers.instance_is_ourvoice(PEER) is True
    instance = Instance.objects.get(domain=PEER)
    assert instance.moderation_inbox == PEER_SERVICE_INBOX
    assert (instance.software, instance.software_version) == ("ourvoice", "0.2.0")
    assert instance.nodeinfo_fetched_at is not None
    # One discovery: later answers come from the Instance row.
    assert requests_to(httpx_mock, "/.well-known/nodeinfo") == 1
    assert requests_to(httpx_mock, "/nodeinfo/2.1") == 1
    # Every fetch was signed by our instance actor (peers in authorized-fetch mode answer).
    instance_key = system_actor_get(role=Account.Role.INSTANCE).key_id
    assert all(instance_key in r.headers["signature"] for r in httpx_mock.get_requests())


def test_peer_without_nodeinfo_is_found_through_its_instance_actor(peer, httpx_mock):
    peer.serve(f"{PEER_BASE}/.well-known/nodeinfo", b"not found", status=404)
    serve_ourvoice_peer(peer, nodeinfo=False)

    assert moderation_peers.moderation_service_inbox(PEER) == PEER_SERVICE_INBOX
    assert requests_to(httpx_mock, "/actor") == 1


def test_stale_answer_is_fetched_again(peer, httpx_mock):
    serve_ourvoice_peer(peer)
    assert moderation_peers.moderation_service_inbox(PEER) == PEER_SERVICE_INBOX
    Instance.objects.filter(domain=PEER).update(
        nodeinfo_fetched_at=timezone.now() - moderation_peers.PEER_INFO_TTL - timedelta(minutes=1)
    )

    assert moderation_peers.moderation_service_inbox(PEER) == PEER_SERVICE_INBOX
    assert requests_to(httpx_mock, "/nodeinfo/2.1") == 2


def test_mastodon_is_not_ourvoice_and_its_actor_is_not_fetched(httpx_mock):
    masto = Remote(httpx_mock, domain="masto.example")
    masto.serve(
        "https://masto.example/.well-known/nodeinfo",
        {"links": [{"rel": NODEINFO_21, "href": "https://masto.example/nodeinfo/2.1"}]},
        content_type="application/json",
    )
    masto.serve(
        "https://masto.example/nodeinfo/2.1",
        {"version": "2.1", "software": {"name": "mastodon", "version": "4.3.2"}, "metadata": {}},
        content_type="application/json",
    )

    assert moderation_peers.moderation_service("masto.example") is None
    assert moderation_peers.instance_is_ourvoice("masto.example") is False

    instance = Instance.objects.get(domain="masto.example")
    assert (instance.software, instance.software_version) == ("mastodon", "4.3.2")
    assert instance.moderation_inbox == ""
    assert instance.nodeinfo_fetched_at is not None
    assert requests_to(httpx_mock, "/actor") == 0
    assert requests_to(httpx_mock, "/nodeinfo/2.1") == 1  # the negative answer is cached too


def test_service_actor_on_another_origin_is_not_trusted(peer, httpx_mock):
    peer.serve(
        f"{PEER_BASE}/.well-known/nodeinfo",
        {"links": [{"rel": NODEINFO_21, "href": f"{PEER_BASE}/nodeinfo/2.1"}]},
        content_type="application/json",
    )
    peer.serve(
        f"{PEER_BASE}/nodeinfo/2.1",
        {
            "software": {"name": "ourvoice", "version": "0.2.0"},
            "metadata": {
                "ourvoice": {"moderation": {"actor": "https://victim.example/users/moderation"}}
            },
        },
        content_type="application/json",
    )

    assert moderation_peers.moderation_service(PEER) is None
    assert not any(r.url.host == "victim.example" for r in httpx_mock.get_requests())


def test_nodeinfo_link_to_another_origin_is_not_followed(peer, httpx_mock):
    peer.serve(
        f"{PEER_BASE}/.well-known/nodeinfo",
        {"links": [{"rel": NODEINFO_21, "href": "https://victim.example/nodeinfo/2.1"}]},
        content_type="application/json",
    )
    peer.serve(f"{PEER_BASE}/actor", b"gone", status=404)

    assert moderation_peers.moderation_service(PEER) is None
    assert not any(r.url.host == "victim.example" for r in httpx_mock.get_requests())


def test_suspended_domain_and_this_server_are_never_asked(httpx_mock):
    Instance.objects.create(domain=PEER, policy=Instance.Policy.SUSPEND)
    policy_cache_clear(PEER)

    assert moderation_peers.moderation_service(PEER) is None
    assert moderation_peers.moderation_service(settings.OURVOICE_DOMAIN) is None
    assert moderation_peers.instance_is_ourvoice(settings.OURVOICE_DOMAIN) is True
    assert moderation_peers.moderation_service("not a domain") is None
    assert httpx_mock.get_requests() == []


def test_unreachable_peer_caches_nothing_and_keeps_the_last_answer(peer, httpx_mock):
    httpx_mock.add_response(
        url=f"{PEER_BASE}/.well-known/nodeinfo", status_code=503, is_reusable=True
    )

    with pytest.raises(fetch.FetchTransient):
        moderation_peers.moderation_service(PEER)
    assert Instance.objects.get(domain=PEER).nodeinfo_fetched_at is None
    assert moderation_peers.instance_is_ourvoice(PEER) is False

    Instance.objects.filter(domain=PEER).update(
        moderation_inbox=PEER_SERVICE_INBOX,
        nodeinfo_fetched_at=timezone.now() - timedelta(days=3),
    )
    assert moderation_peers.instance_is_ourvoice(PEER) is True


# --- Outgoing: forwarded votes, withdrawals, Flags -------------------------------------------


@pytest.fixture
def peer_post(db) -> Post:
    author = support.remote(PEER, "dan")
    return Post.objects.create(
        author=author,
        uri=f"{PEER_BASE}/users/dan/statuses/77",
        url=f"{PEER_BASE}/@dan/77",
        content="<p>hi</p>",
        local=False,
    )


@pytest.fixture
def known_peer(db) -> None:
    """ov-b.example already discovered: its moderation actor is stored and fresh."""
    support.remote(PEER, "moderation", shared=False, kind=Account.Kind.SERVICE)
    Instance.objects.create(
        domain=PEER,
        software="ourvoice",
        moderation_inbox=PEER_SERVICE_INBOX,
        nodeinfo_fetched_at=timezone.now(),
    )


def forward_event(voter: Account, post_uri: str, **changes: Any) -> dict[str, Any]:
    payload = {
        "vote_uri": f"{voter.uri}/moderation/votes/42",
        "voter_id": voter.pk,
        "post_uri": post_uri,
        "verdict": "remove",
        "reason_code": "spam",
        "comment": "Same link in every thread.",
        "content_version": "sha256:abc",
        "published": "2026-11-20T14:03:11.123456+00:00",
        **changes,
    }
    outbox_record(kind="moderation.vote.forward", payload=payload)
    return payload


def test_forwarded_vote_goes_only_to_the_origins_moderation_inbox(
    alice, peer_post, known_peer, outbox, httpx_mock
):
    support.follow(support.remote(PEER, "erin"), alice)  # alice's followers are not addressed
    payload = forward_event(alice, peer_post.uri)

    outbox.drain()

    vote = support.only_activity("ModerationVote")
    assert vote.actor == alice
    assert support.inboxes(vote) == {PEER_SERVICE_INBOX}
    document = support.body(vote)
    assert document == {
        "@context": document["@context"],
        "id": payload["vote_uri"],
        "type": "ModerationVote",
        "actor": alice.uri,
        "object": peer_post.uri,
        "verdict": "remove",
        "reasonCode": "spam",
        "content": "Same link in every thread.",
        "published": "2026-11-20T14:03:11Z",
        "to": [PEER_SERVICE],
        "objectVersion": "sha256:abc",
    }
    assert PUBLIC not in json.dumps(document)
    expanded = expand(document)[0]
    assert expanded["@type"] == [f"{OV}ModerationVote"]
    assert expanded[f"{OV}verdict"] == [{"@value": "remove"}]
    assert expanded[f"{OV}reasonCode"] == [{"@value": "spam"}]
    assert expanded[f"{OV}objectVersion"] == [{"@value": "sha256:abc"}]

    # Sent as a POST signed with the voter's own key.
    httpx_mock.add_response(url=PEER_SERVICE_INBOX, status_code=202)
    ids = list(Delivery.objects.filter(activity=vote).values_list("id", flat=True))
    sender = support.HttpxSender()
    assert deliveries_send(ids=ids, client=sender).sent == 1
    sender.close()
    (request,) = httpx_mock.get_requests()
    assert request.content == bytes(vote.body)
    assert support.verify(request, alice) == alice


def test_forwarded_vote_discovers_the_peer_first(alice, peer_post, peer, outbox):
    serve_ourvoice_peer(peer)
    forward_event(alice, peer_post.uri)

    outbox.drain()

    assert support.inboxes(support.only_activity("ModerationVote")) == {PEER_SERVICE_INBOX}


def test_vote_on_a_non_ourvoice_origin_is_dropped(alice, outbox, httpx_mock):
    masto = support.remote("masto.example", "carol")
    masto_post = Post.objects.create(
        author=masto, uri="https://masto.example/users/carol/statuses/5", local=False
    )
    Instance.objects.create(
        domain="masto.example", software="mastodon", nodeinfo_fetched_at=timezone.now()
    )
    forward_event(alice, masto_post.uri)

    outbox.drain()

    assert not OutgoingActivity.objects.exists()
    assert OutboxEvent.objects.get(kind="moderation.vote.forward").processed_at is not None
    assert httpx_mock.get_requests() == []


def test_vote_forward_waits_for_an_unreachable_peer(alice, peer_post, peer, outbox, httpx_mock):
    httpx_mock.add_response(url=f"{PEER_BASE}/.well-known/nodeinfo", status_code=503)
    forward_event(alice, peer_post.uri)

    outbox.drain()

    event = OutboxEvent.objects.get(kind="moderation.vote.forward")
    assert event.processed_at is None and event.attempts == 1
    assert not OutgoingActivity.objects.exists()

    serve_ourvoice_peer(peer)
    outbox.drain()
    assert support.inboxes(support.only_activity("ModerationVote")) == {PEER_SERVICE_INBOX}


def test_vote_forward_of_a_local_post_or_a_remote_voter_sends_nothing(
    alice, alice_post, peer_post, known_peer, outbox
):
    forward_event(alice, alice_post.uri)
    forward_event(support.remote("x.example", "xavier"), peer_post.uri)

    outbox.drain()

    assert not OutgoingActivity.objects.exists()


def test_withdrawn_vote_is_an_undo_to_the_same_inbox(alice, peer_post, known_peer, outbox):
    vote_uri = f"{alice.uri}/moderation/votes/42"
    outbox_record(
        kind="moderation.vote.withdraw",
        payload={
            "vote_uri": vote_uri,
            "voter_id": alice.pk,
            "post_uri": peer_post.uri,
            "undo_uri": f"{vote_uri}/undo",
        },
    )

    outbox.drain()

    undo = support.only_activity("Undo")
    assert undo.actor == alice
    assert support.inboxes(undo) == {PEER_SERVICE_INBOX}
    document = support.body(undo)
    assert document["id"] == f"{vote_uri}/undo"
    assert document["actor"] == alice.uri
    assert document["to"] == [PEER_SERVICE]
    assert document["object"] == {
        "id": vote_uri,
        "type": "ModerationVote",
        "actor": alice.uri,
        "object": peer_post.uri,
    }
    assert expand(document)[0][f"{'https://www.w3.org/ns/activitystreams#'}object"][0]["@type"] == [
        f"{OV}ModerationVote"
    ]


def test_one_aggregated_flag_to_the_remote_authors_shared_inbox(outbox):
    carol = support.remote("masto.example", "carol")
    masto_post = Post.objects.create(
        author=carol, uri="https://masto.example/users/carol/statuses/5", local=False
    )
    decision = f"{settings.OURVOICE_BASE_URL}/moderation/decisions/9"
    flag_uri = f"{settings.OURVOICE_BASE_URL}/moderation/cases/9/flag"
    for _ in range(2):  # recorded twice (a retried decision): one activity, one delivery
        outbox_record(
            kind="moderation.flag",
            payload={
                "case_id": 9,
                "flag_uri": flag_uri,
                "post_id": masto_post.pk,
                "content": "Hidden after a community vote. " + "x" * 6000,
                "decision_url": decision,
            },
        )

    outbox.drain()

    flag = support.only_activity("Flag")
    moderator = system_actor_get(role=Account.Role.MODERATION)
    assert flag.actor == moderator
    assert support.inboxes(flag) == {"https://masto.example/inbox"}
    assert Delivery.objects.filter(activity=flag).count() == 1
    document = support.body(flag)
    assert document["id"] == flag_uri
    assert document["type"] == "Flag"
    assert document["actor"] == moderator.uri
    assert document["object"] == [carol.uri, masto_post.uri]
    assert document["to"] == [carol.uri]
    assert document["decision"] == decision
    assert len(document["content"]) == 5_000
    assert "Create" not in {a.type for a in OutgoingActivity.objects.all()}
    expanded = expand(document)[0]
    assert expanded[f"{OV}decision"] == [{"@id": decision}]


def test_flag_about_a_local_post_sends_nothing(alice_post, outbox):
    outbox_record(
        kind="moderation.flag",
        payload={
            "case_id": 1,
            "flag_uri": f"{settings.OURVOICE_BASE_URL}/moderation/cases/1/flag",
            "post_id": alice_post.pk,
            "content": "x",
            "decision_url": "",
        },
    )

    outbox.drain()

    assert not OutgoingActivity.objects.filter(type="Flag").exists()


# --- The removal Delete ----------------------------------------------------------------------


def test_removal_delete_carries_moderations_id_and_extras_to_every_interactor(alice, outbox):
    the_post = post_create(author=alice, text="will be removed")
    outbox.drain()
    PostInbox.objects.create(post=the_post, inbox="https://followers.example/inbox")
    replier = support.remote("replies.example", "rita")
    liker = support.remote("likes.example", "lee", shared=False)
    booster = support.remote("boosts.example", "bo")
    Post.objects.create(
        author=replier,
        uri="https://replies.example/users/rita/statuses/1",
        in_reply_to=the_post,
        in_reply_to_uri=the_post.uri,
        local=False,
    )
    Like.objects.create(account=liker, post=the_post, uri="https://likes.example/likes/1")
    Repost.objects.create(account=booster, post=the_post, uri="https://boosts.example/rp/1")
    decision = f"{settings.OURVOICE_BASE_URL}/moderation/decisions/5"
    extra = {
        "summary": "Removed by community moderation",
        "decision": decision,
        "ruleVersion": "ov-rule/1",
        "tally": {"removeWeight": 9.4, "keepWeight": 1.0, "voters": 14},
    }

    assert post_remove(post=the_post, activity_id=f"{the_post.uri}#moderation", extra=extra)
    outbox.drain()

    delete = support.only_activity("Delete")
    assert delete.actor == alice
    assert support.inboxes(delete) == {
        "https://followers.example/inbox",
        "https://replies.example/inbox",
        liker.inbox_uri,
        "https://boosts.example/inbox",
    }
    document = support.body(delete)
    assert document["id"] == f"{the_post.uri}#moderation"
    assert document["actor"] == alice.uri
    assert document["object"]["type"] == "Tombstone"
    assert document["object"]["id"] == the_post.uri
    for key, value in extra.items():
        assert document[key] == value
    expanded = expand(document)[0]
    assert expanded[f"{OV}decision"] == [{"@id": decision}]
    assert expanded[f"{OV}ruleVersion"] == [{"@value": "ov-rule/1"}]
    assert expanded[f"{OV}tally"][0]["@value"] == extra["tally"]


# --- What we advertise -----------------------------------------------------------------------


def test_instance_actor_and_nodeinfo_name_the_same_moderation_actor(client, peer, kicks):
    moderator = system_actor_get(role=Account.Role.MODERATION)
    accept = {"HTTP_ACCEPT": ACTIVITY_JSON}

    instance_actor = orjson.loads(client.get("/actor", **accept).content)
    nodeinfo = orjson.loads(client.get("/nodeinfo/2.1").content)
    nodeinfo_20 = orjson.loads(client.get("/nodeinfo/2.0").content)
    service = orjson.loads(client.get("/users/moderation", **accept).content)

    assert instance_actor["moderationService"] == moderator.uri
    assert expand(instance_actor)[0][f"{OV}moderationService"] == [{"@id": moderator.uri}]
    for document in (nodeinfo, nodeinfo_20):
        assert document["software"]["name"] == "ourvoice"
        assert document["metadata"]["ourvoice"]["moderation"] == {
            "version": "1",
            "actor": moderator.uri,
        }
    assert service["id"] == moderator.uri
    assert service["type"] == "Service"
    assert service["inbox"] == f"{settings.OURVOICE_BASE_URL}{MOD_INBOX_PATH}"

    # ...and that inbox takes a peer's signed vote.
    peer.serve_actor("bob")
    the_post = post_create(author=local_account("alice"), text="x")
    vote = fixture("moderation_vote", LOCAL_POST_ID=the_post.id)
    assert send(client, peer, vote).status_code == 202


# --- Through to moderation: the events leave exactly the vote rows they should ----------------


def test_votes_reach_moderation_once_and_refused_ones_leave_no_vote_row(
    client, httpx_mock, kicks, alice_post, outbox
):
    from moderation.models import Vote  # tests may look across the boundary; code never does

    peer = Remote(httpx_mock, domain=PEER)
    relay = Remote(httpx_mock, domain="relay.example")
    peer.serve_actor("bob")
    relay.serve_actor("carol")
    vote = fixture("moderation_vote", LOCAL_POST_ID=alice_post.id)
    forged_key, _ = other_keypair()

    assert send(client, peer, vote, private_pem=forged_key).status_code == 401  # forged
    assert send(client, relay, vote, username="carol").status_code == 401  # relayed
    assert send(client, peer, {**vote, "to": [PUBLIC]}).status_code == 202  # stored once...
    process()
    outbox.drain()
    assert not Vote.objects.exists()  # ...and refused: Public

    second = {**vote, "id": f"{vote['id']}-2"}
    assert send(client, peer, second).status_code == 202
    assert send(client, peer, second).status_code == 202  # replayed
    process()
    outbox.drain()
    assert send(client, peer, second).status_code == 202  # replayed after processing
    process()
    outbox.drain()

    (row,) = Vote.objects.all()
    assert row.uri == second["id"]
    assert row.voter.uri == peer.actor_id("bob")
    assert row.source == Vote.Source.REMOTE
    assert row.verdict == "remove"
