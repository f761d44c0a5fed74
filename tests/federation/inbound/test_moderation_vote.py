"""ModerationVote, Undo{ModerationVote} and Flag → outbox events for moderation (no rows here).

Each refusal asserts that nothing at all was recorded (no outbox event), since the moderation
package acts only on these events.
"""

from __future__ import annotations

import pytest

from federation.inbound.errors import Ignore, Reject
from federation.models import InboxItem
from ourvoice.core.models import OutboxEvent
from ourvoice.posts.services import post_create
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

BOB = "https://ov-b.example/users/bob"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
def bob():
    return remote_actor(BOB)


def events(kind: str) -> list[dict]:
    return list(OutboxEvent.objects.filter(kind=kind).values_list("payload", flat=True))


def vote(alice_post, **changes):
    activity = load("ourvoice/moderation_vote", LOCAL_POST_ID=alice_post.id)
    activity.update(changes)
    return {k: v for k, v in activity.items() if v is not None}


def nothing_recorded() -> bool:
    return not OutboxEvent.objects.filter(
        kind__in=["moderation.vote.received", "moderation.vote.undo_received"]
    ).exists()


# --- ModerationVote -------------------------------------------------------------------------


def test_vote_becomes_one_event_with_the_contract_payload(bob, alice_post):
    activity = vote(alice_post)

    handle(activity, bob)

    (payload,) = events("moderation.vote.received")
    assert payload == {
        "activity_id": activity["id"],
        "actor_id": bob.pk,
        "object": alice_post.uri,
        "verdict": "remove",
        "reason_code": "harassment",
        "comment": "Targets a named private person.",
        "object_version": activity["objectVersion"],
        "target": "",
    }


@pytest.mark.parametrize(
    "spelling",
    [
        "ModerationVote",
        "ov:ModerationVote",
        "https://ourvoice.example/ns/moderation#ModerationVote",
    ],
)
def test_every_spelling_of_the_type_is_accepted(bob, alice_post, spelling):
    handle(vote(alice_post, type=spelling, verdict="keep"), bob)

    (payload,) = events("moderation.vote.received")
    assert payload["verdict"] == "keep"


def test_keep_vote_with_target_and_defaults(bob, alice_post):
    target = f"{alice_post.uri.split('/users/')[0]}/moderation/cases/1"
    activity = vote(
        alice_post, verdict="keep", target=target, reasonCode=None, content=None, objectVersion=None
    )

    handle(activity, bob)

    (payload,) = events("moderation.vote.received")
    assert payload["target"] == target
    assert payload["reason_code"] == "other"
    assert payload["comment"] == ""
    assert payload["object_version"] == ""


def test_fields_are_bounded(bob, alice_post):
    activity = vote(
        alice_post,
        reasonCode="x" * 33,
        content="<b>" + "y" * 2_000 + "</b>",
        objectVersion="sha256:" + "a" * 100,
        target="https://elsewhere.example/cases/1",
    )

    handle(activity, bob)

    (payload,) = events("moderation.vote.received")
    assert payload["reason_code"] == "other"
    assert payload["comment"] == "y" * 500
    assert payload["object_version"] == ""
    assert payload["target"] == ""


def test_reason_codes_of_rules_are_kept(bob, alice_post):
    handle(vote(alice_post, reasonCode="rule:12"), bob)

    assert events("moderation.vote.received")[0]["reason_code"] == "rule:12"


@pytest.mark.parametrize(
    "addressing",
    [
        {"to": [PUBLIC]},
        {"cc": ["as:Public"]},
        {"to": "Public"},
        {"bcc": [PUBLIC]},
        {"cc": [f"{BOB}/followers", PUBLIC]},
    ],
)
def test_public_votes_are_refused(bob, alice_post, addressing):
    with pytest.raises(Reject, match="Public"):
        handle(vote(alice_post, **addressing), bob)

    assert nothing_recorded()


@pytest.mark.parametrize("verdict", ["delete", "", None, ["remove"], "REMOVE"])
def test_unknown_verdicts_are_refused(bob, alice_post, verdict):
    activity = vote(alice_post)
    activity["verdict"] = verdict

    with pytest.raises(Reject):
        handle(activity, bob)

    assert nothing_recorded()


def test_vote_on_a_remote_post_is_refused(bob, alice_post):
    with pytest.raises(Reject):
        handle(vote(alice_post, object="https://ov-c.example/users/carol/statuses/1"), bob)

    assert nothing_recorded()


def test_vote_on_an_unknown_local_post_is_ignored(bob, alice_post):
    with pytest.raises(Ignore):
        handle(vote(alice_post, object=f"{alice_post.uri}0"), bob)

    assert nothing_recorded()


def test_vote_without_object_is_refused(bob, alice_post):
    activity = vote(alice_post)
    del activity["object"]

    with pytest.raises(Reject):
        handle(activity, bob)

    assert nothing_recorded()


def test_vote_whose_id_is_on_another_origin_is_refused(bob, alice_post):
    with pytest.raises(Reject, match="origin"):
        handle(vote(alice_post, id="https://ov-c.example/modvotes/1"), bob)

    assert nothing_recorded()


def test_vote_naming_another_actor_is_refused(bob, alice_post):
    with pytest.raises(Reject):
        handle(vote(alice_post, actor="https://ov-b.example/users/mallory"), bob)

    assert nothing_recorded()


def test_suspended_voter_is_ignored(bob, alice_post):
    bob.suspended_at = bob.created_at
    bob.save(update_fields=["suspended_at"])

    with pytest.raises(Ignore):
        handle(vote(alice_post), bob)

    assert nothing_recorded()


def test_voter_on_a_suspended_domain_is_ignored(bob, alice_post, set_policy):
    set_policy("ov-b.example", policy="suspend")

    with pytest.raises(Ignore):
        handle(vote(alice_post), bob)

    assert nothing_recorded()


def test_vote_on_a_post_of_a_local_user_other_than_alice(bob, alice):
    post = post_create(author=local_account("dora"), text="another")

    handle(vote(post, object=post.uri), bob)

    assert events("moderation.vote.received")[0]["object"] == post.uri


# --- Undo{ModerationVote} -------------------------------------------------------------------


def test_undo_with_the_vote_embedded(bob, alice_post):
    activity = load("ourvoice/undo_moderation_vote", LOCAL_POST_ID=alice_post.id)

    handle(activity, bob)

    (payload,) = events("moderation.vote.undo_received")
    assert payload == {
        "activity_id": activity["id"],
        "actor_id": bob.pk,
        "vote_uri": activity["object"]["id"],
    }


def test_undo_by_id_of_a_vote_we_received(bob, alice_post):
    vote_uri = "https://ov-b.example/users/bob/modvotes/7"
    InboxItem.objects.create(
        activity_id=vote_uri,
        activity_type="ModerationVote",
        actor_uri=BOB,
        body={},
        state=InboxItem.State.DONE,
    )

    handle({"id": f"{vote_uri}/undo", "type": "Undo", "actor": BOB, "object": vote_uri}, bob)

    (payload,) = events("moderation.vote.undo_received")
    assert payload["vote_uri"] == vote_uri


def test_undo_by_id_of_someone_elses_vote_is_ignored(bob, alice_post):
    vote_uri = "https://ov-b.example/users/carol/modvotes/8"
    InboxItem.objects.create(
        activity_id=vote_uri,
        activity_type="ModerationVote",
        actor_uri="https://ov-b.example/users/carol",
        body={},
        state=InboxItem.State.DONE,
    )

    with pytest.raises(Ignore):
        handle({"id": f"{BOB}/undo/8", "type": "Undo", "actor": BOB, "object": vote_uri}, bob)

    assert nothing_recorded()


def test_undo_of_another_actors_embedded_vote_is_refused(bob, alice_post):
    activity = load("ourvoice/undo_moderation_vote", LOCAL_POST_ID=alice_post.id)
    activity["object"]["actor"] = "https://ov-b.example/users/carol"

    with pytest.raises(Reject):
        handle(activity, bob)

    assert nothing_recorded()


def test_undo_of_an_embedded_vote_without_actor_is_refused(bob, alice_post):
    activity = load("ourvoice/undo_moderation_vote", LOCAL_POST_ID=alice_post.id)
    del activity["object"]["actor"]

    with pytest.raises(Reject):
        handle(activity, bob)

    assert nothing_recorded()


def test_undo_of_a_vote_on_another_origin_is_refused(bob, alice_post):
    activity = load("ourvoice/undo_moderation_vote", LOCAL_POST_ID=alice_post.id)
    activity["object"]["id"] = "https://ov-c.example/users/bob/modvotes/1"

    with pytest.raises(Reject, match="origin"):
        handle(activity, bob)

    assert nothing_recorded()


def test_undo_by_a_suspended_actor_is_ignored(bob, alice_post):
    bob.suspended_at = bob.created_at
    bob.save(update_fields=["suspended_at"])

    with pytest.raises(Ignore):
        handle(load("ourvoice/undo_moderation_vote", LOCAL_POST_ID=alice_post.id), bob)

    assert nothing_recorded()


# --- Flag: the payload carries the reporter's account and our posts' ids -----------------------


def test_flag_payload_names_the_reporting_account(alice, alice_post):
    instance_actor = remote_actor(
        "https://mastodon.example/actor", kind="Application", username="mastodon.example"
    )

    handle(load("mastodon/flag", LOCAL_POST_ID=alice_post.id), instance_actor)

    (payload,) = events("report.received")
    assert payload["actor_id"] == instance_actor.pk
    assert payload["actor"] == instance_actor.uri
    assert alice_post.uri in payload["object_uris"]


def test_flag_naming_a_post_by_its_page_url_reports_its_id(alice, alice_post):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")
    assert alice_post.url and alice_post.url != alice_post.uri

    handle(
        {
            "id": "https://gts.example/reports/1",
            "type": "Flag",
            "actor": gts.uri,
            "object": [alice_post.url, alice_post.uri],
            "content": "spam",
        },
        gts,
    )

    (payload,) = events("report.received")
    assert payload["object_uris"] == [alice_post.uri]
    assert payload["actor_id"] == gts.pk


def test_flag_naming_only_a_post_yields_its_uri(alice, alice_post):
    gts = remote_actor("https://gts.example/users/gts.example", kind="Application")

    handle(
        {
            "id": "https://gts.example/reports/2",
            "type": "Flag",
            "actor": gts.uri,
            "object": alice_post.url,
        },
        gts,
    )

    (payload,) = events("report.received")
    assert payload["object_uris"] == [alice_post.uri]
