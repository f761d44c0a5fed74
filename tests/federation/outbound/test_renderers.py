"""federation.outbound.renderers: Mastodon-compatible shapes of actors, Notes and activities."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from federation.jsonld import PUBLIC, expand
from federation.outbound import renderers
from federation.outbound.renderers import (
    ACTIVITYSTREAMS,
    CONTEXT,
    audience_of,
    render_accept,
    render_actor,
    render_actor_suspended,
    render_announce,
    render_block,
    render_create,
    render_delete_actor,
    render_delete_note,
    render_follow,
    render_like,
    render_note,
    render_reject,
    render_tombstone,
    render_undo,
    render_update_actor,
    render_update_note,
)
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import (
    account_update_profile,
    block_create,
    follow_create,
    system_actor_get,
)
from ourvoice.interactions.services import like_create, repost_create
from ourvoice.posts.models import MediaAttachment
from ourvoice.posts.services import post_create, post_delete, post_remove, post_update
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db

BASE = "https://testserver"
AS = "https://www.w3.org/ns/activitystreams#"


@pytest.fixture
def alice(db):
    return local_account("alice", display_name="Alice")


@pytest.fixture
def bob(db):
    return local_account("bob")


@pytest.fixture
def carol(db):
    return RemoteAccountFactory(username="carol", domain="remote.example")


def write(author, text="Hello", **kwargs):
    return post_create(author=author, text=text, **kwargs)


# --- @context --------------------------------------------------------------------------------


def test_context_has_the_term_map():
    assert CONTEXT[0] == ACTIVITYSTREAMS
    assert CONTEXT[1] == "https://w3id.org/security/v1"
    terms = CONTEXT[2]
    assert terms["toot"] == "http://joinmastodon.org/ns#"
    assert terms["manuallyApprovesFollowers"] == "as:manuallyApprovesFollowers"
    assert terms["featured"] == {"@id": "toot:featured", "@type": "@id"}
    assert terms["PropertyValue"] == "schema:PropertyValue"
    assert terms["ov"] == renderers.OV_NAMESPACE
    assert terms["moderationService"] == {"@id": "ov:moderationService", "@type": "@id"}


def test_actor_and_note_expand_offline_with_their_context(alice, bob):
    """Every term we emit is defined: JSON-LD expansion (bundled contexts only) keeps them."""
    account_update_profile(account=alice, fields=[{"name": "site", "value": "https://a.example"}])
    expanded = expand(render_actor(alice))[0]
    assert expanded[f"{AS}manuallyApprovesFollowers"][0]["@value"] is False
    assert "http://joinmastodon.org/ns#featured" in expanded
    assert "http://joinmastodon.org/ns#discoverable" in expanded
    assert renderers.WEBFINGER_TERM in expanded
    field = expanded[f"{AS}attachment"][0]
    assert field["@type"] == ["http://schema.org#PropertyValue"]
    assert "http://schema.org#value" in field

    instance = expand(render_actor(system_actor_get(role=Account.Role.INSTANCE)))[0]
    assert instance[f"{renderers.OV_NAMESPACE}moderationService"] == [
        {"@id": f"{BASE}/users/moderation"}
    ]

    note = expand(render_note(write(alice, "Hi @bob #tag", spoiler_text="cw")))[0]
    assert note[f"{AS}sensitive"][0]["@value"] is True
    types = {tag["@type"][0] for tag in note[f"{AS}tag"]}
    assert types == {f"{AS}Mention", f"{AS}Hashtag"}


# --- actors ----------------------------------------------------------------------------------


def test_render_actor_person(alice):
    account_update_profile(
        account=alice,
        note="Hello <b>there</b>",
        fields=[{"name": "Pronouns", "value": "she/her"}],
        avatar_url="https://testserver/media/a.png",
        header_url="https://testserver/media/h.jpg",
    )
    alice.refresh_from_db()
    doc = render_actor(alice)
    assert doc["@context"] == CONTEXT
    assert doc["id"] == f"{BASE}/users/alice"
    assert doc["type"] == "Person"
    assert doc["preferredUsername"] == "alice"
    assert doc["name"] == "Alice"
    assert doc["summary"] == alice.note
    assert doc["inbox"] == f"{BASE}/users/alice/inbox"
    assert doc["outbox"] == f"{BASE}/users/alice/outbox"
    assert doc["followers"] == f"{BASE}/users/alice/followers"
    assert doc["following"] == f"{BASE}/users/alice/following"
    assert doc["featured"] == f"{BASE}/users/alice/collections/featured"
    assert doc["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert doc["url"] == f"{BASE}/@alice"
    assert doc["publicKey"] == {
        "id": f"{BASE}/users/alice#main-key",
        "owner": f"{BASE}/users/alice",
        "publicKeyPem": alice.public_key_pem,
    }
    assert doc["manuallyApprovesFollowers"] is False
    assert doc["discoverable"] is True
    assert doc["indexable"] is False
    assert doc["published"] == alice.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert doc["icon"] == {
        "type": "Image",
        "url": "https://testserver/media/a.png",
        "mediaType": "image/png",
    }
    assert doc["image"]["mediaType"] == "image/jpeg"
    assert doc["attachment"] == [{"type": "PropertyValue", "name": "Pronouns", "value": "she/her"}]
    assert doc["webfinger"] == "acct:alice@testserver"
    assert "moderationService" not in doc
    assert "privateKeyPem" not in str(doc)
    assert "PRIVATE KEY" not in str(doc)


def test_render_actor_locked_bot_flags(alice):
    alice.locked = True
    alice.kind = Account.Kind.SERVICE
    doc = render_actor(alice)
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["type"] == "Service"


def test_render_instance_actor():
    instance = system_actor_get(role=Account.Role.INSTANCE)
    doc = render_actor(instance)
    assert doc["type"] == "Application"
    assert doc["id"] == f"{BASE}/actor"
    assert doc["preferredUsername"] == "testserver"
    assert doc["webfinger"] == "acct:testserver@testserver"
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["moderationService"] == f"{BASE}/users/moderation"
    assert doc["url"] == f"{BASE}/about"
    for absent in ("followers", "following", "featured"):
        assert absent not in doc


def test_render_moderation_actor():
    doc = render_actor(system_actor_get(role=Account.Role.MODERATION))
    assert doc["type"] == "Service"
    assert doc["webfinger"] == "acct:moderation@testserver"
    assert "moderationService" not in doc


def test_render_actor_suspended(alice):
    account_update_profile(account=alice, note="bio", avatar_url="https://testserver/a.png")
    alice.refresh_from_db()
    doc = render_actor_suspended(alice)
    assert doc["suspended"] is True
    assert doc["name"] == ""
    assert doc["summary"] == ""
    assert doc["attachment"] == []
    assert "icon" not in doc
    assert doc["publicKey"]["id"] == alice.key_id
    assert doc["inbox"] == alice.inbox_uri


def test_render_update_and_delete_actor(alice):
    update = render_update_actor(alice)
    assert update["type"] == "Update"
    assert update["id"] == f"{alice.uri}#updates/{int(alice.updated_at.timestamp())}"
    assert update["actor"] == alice.uri
    assert update["to"] == [PUBLIC]
    assert update["object"]["id"] == alice.uri
    assert "@context" not in update["object"]
    assert update["@context"] == CONTEXT

    delete = render_delete_actor(alice)
    assert delete == {
        "@context": CONTEXT,
        "id": f"{alice.uri}#delete",
        "type": "Delete",
        "actor": alice.uri,
        "to": [PUBLIC],
        "object": alice.uri,
    }


# --- addressing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        ("public", [PUBLIC], ["followers", "bob", "carol"]),
        ("unlisted", ["followers"], [PUBLIC, "bob", "carol"]),
        ("private", ["followers"], ["bob", "carol"]),
        ("direct", ["bob", "carol"], []),
    ],
)
def test_audience_by_visibility(alice, bob, carol, visibility, to, cc):
    post = write(alice, "Hi @bob and @carol@remote.example", visibility=visibility)
    names = {"followers": alice.followers_uri, "bob": bob.uri, "carol": carol.uri, PUBLIC: PUBLIC}
    expected = ([names[n] for n in to], [names[n] for n in cc])
    assert audience_of(post) == expected
    note = render_note(post)
    assert (note["to"], note["cc"]) == expected
    create = render_create(post)
    assert (create["to"], create["cc"]) == expected


def test_direct_addressees_all_have_mention_tags(alice, bob, carol):
    post = write(alice, "secret for @bob and @carol@remote.example", visibility="direct")
    note = render_note(post)
    mentions = {tag["href"] for tag in note["tag"] if tag["type"] == "Mention"}
    assert set(note["to"]) | set(note["cc"]) <= mentions
    assert PUBLIC not in note["to"] + note["cc"]
    assert alice.followers_uri not in note["to"] + note["cc"]


def test_direct_without_mentions_reaches_nobody(alice):
    assert audience_of(write(alice, "note to self", visibility="direct")) == ([], [])


# --- Note ------------------------------------------------------------------------------------


def test_render_note_shape(alice, bob, carol):
    parent = write(bob, "parent")
    post = write(
        alice,
        "Hi @bob and @carol@remote.example #Fediverse",
        in_reply_to=parent,
        language="en",
        spoiler_text="content warning",
    )
    note = render_note(post)
    assert note["@context"] == CONTEXT
    assert note["id"] == post.uri == f"{BASE}/users/alice/statuses/{post.id}"
    assert note["type"] == "Note"
    assert note["attributedTo"] == alice.uri
    assert note["url"] == f"{BASE}/@alice/{post.id}"
    assert note["inReplyTo"] == parent.uri
    assert note["summary"] == "content warning"
    assert note["sensitive"] is True
    assert note["content"] == post.content
    assert note["contentMap"] == {"en": post.content}
    assert note["published"] == post.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "updated" not in note
    assert note["attachment"] == []
    mentions = [tag for tag in note["tag"] if tag["type"] == "Mention"]
    assert {tag["name"]: tag["href"] for tag in mentions} == {
        "@bob@testserver": bob.uri,
        "@carol@remote.example": carol.uri,
    }
    hashtags = [tag for tag in note["tag"] if tag["type"] == "Hashtag"]
    assert hashtags == [{"type": "Hashtag", "href": f"{BASE}/tags/fediverse", "name": "#fediverse"}]
    assert note["replies"]["id"] == f"{post.uri}/replies"
    assert note["replies"]["type"] == "Collection"
    assert note["replies"]["first"]["partOf"] == f"{post.uri}/replies"
    assert note["likes"] == {"id": f"{post.uri}/likes", "type": "Collection", "totalItems": 0}
    assert note["shares"]["totalItems"] == 0


def test_render_note_plain(alice):
    note = render_note(write(alice, "plain"))
    assert note["summary"] is None
    assert note["sensitive"] is False
    assert note["inReplyTo"] is None
    assert "contentMap" not in note
    assert note["tag"] == []


def test_render_note_attachment(alice):
    media = MediaAttachment.objects.create(
        account=alice,
        type=MediaAttachment.Type.IMAGE,
        mime_type="image/png",
        url="https://testserver/media/cat.png",
        description="A cat",
        blurhash="UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
        width=640,
        height=480,
        focus_x=0.5,
        focus_y=-0.25,
    )
    post = write(alice, "look", media_ids=[media.id])
    assert render_note(post)["attachment"] == [
        {
            "type": "Document",
            "mediaType": "image/png",
            "url": "https://testserver/media/cat.png",
            "name": "A cat",
            "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
            "focalPoint": [0.5, -0.25],
            "width": 640,
            "height": 480,
        }
    ]


def test_render_update_note_ids_are_unique_per_edit(alice):
    post = write(alice, "first")
    post = post_update(post=post, editor=alice, text="second")
    first = render_update_note(post)
    assert first["type"] == "Update"
    assert first["id"] == f"{post.uri}#updates/{int(post.edited_at.timestamp())}"
    assert first["object"]["updated"] == post.edited_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first["object"]["content"] == post.content
    assert "@context" not in first["object"]
    assert (first["to"], first["cc"]) == audience_of(post)
    post.edited_at = post.edited_at + timedelta(seconds=5)
    assert render_update_note(post)["id"] != first["id"]


def test_render_create(alice):
    post = write(alice, "created")
    create = render_create(post)
    assert create["@context"] == CONTEXT
    assert create["id"] == f"{post.uri}/activity"
    assert create["type"] == "Create"
    assert create["actor"] == alice.uri
    assert create["published"] == create["object"]["published"]
    assert create["object"]["id"] == post.uri
    assert "@context" not in create["object"]


@pytest.mark.parametrize("how", ["delete", "remove"])
def test_render_tombstone_and_delete(alice, bob, how):
    post = write(alice, "bye @bob", visibility="unlisted")
    if how == "delete":
        post_delete(post=post, actor=alice)
    else:
        post_remove(post=post)
    post.refresh_from_db()
    tombstone = render_tombstone(post)
    assert tombstone == {
        "id": post.uri,
        "type": "Tombstone",
        "formerType": "Note",
        "deleted": post.state_changed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    delete = render_delete_note(post)
    assert delete["id"] == f"{post.uri}#delete"
    assert delete["type"] == "Delete"
    assert delete["actor"] == alice.uri
    assert delete["object"] == tombstone
    assert (delete["to"], delete["cc"]) == ([alice.followers_uri], [PUBLIC, bob.uri])


def test_render_delete_note_with_moderation_extra(alice):
    post = write(alice, "removed")
    post_remove(post=post)
    post.refresh_from_db()
    delete = render_delete_note(
        post,
        activity_id=f"{post.uri}#moderation/1",
        extra={"summary": "Removed by community vote", "decision": "https://testserver/d/1"},
    )
    assert delete["id"] == f"{post.uri}#moderation/1"
    assert delete["summary"] == "Removed by community vote"
    assert delete["decision"] == "https://testserver/d/1"
    assert delete["object"]["type"] == "Tombstone"


# --- relations and interactions --------------------------------------------------------------


def test_render_follow_accept_reject(alice, carol, bob):
    follow = follow_create(follower=alice, target=carol)
    assert render_follow(follow) == {
        "@context": ACTIVITYSTREAMS,
        "id": follow.uri,
        "type": "Follow",
        "actor": alice.uri,
        "object": carol.uri,
    }
    assert follow.uri == f"{BASE}/users/alice/follows/{follow.id}"

    incoming = follow_create(follower=carol, target=bob, uri="https://remote.example/follows/9")
    accept = render_accept(incoming)
    assert accept == {
        "@context": ACTIVITYSTREAMS,
        "id": f"{bob.uri}#accepts/follows/{incoming.id}",
        "type": "Accept",
        "actor": bob.uri,
        "object": {
            "id": "https://remote.example/follows/9",
            "type": "Follow",
            "actor": carol.uri,
            "object": bob.uri,
        },
    }
    reject = render_reject(incoming)
    assert reject["id"] == f"{bob.uri}#rejects/follows/{incoming.id}"
    assert reject["type"] == "Reject"
    assert reject["object"] == accept["object"]


def test_render_undo_embeds_the_activity(alice, bob):
    like = like_create(account=alice, post=write(bob))
    inner = render_like(like)
    undo = render_undo(inner, actor_uri=alice.uri, activity_id=f"{like.uri}/undo")
    assert undo == {
        "@context": ACTIVITYSTREAMS,
        "id": f"{like.uri}/undo",
        "type": "Undo",
        "actor": alice.uri,
        "object": {
            "id": like.uri,
            "type": "Like",
            "actor": alice.uri,
            "object": like.post.uri,
        },
    }


def test_render_undo_keeps_addressing(alice, bob):
    repost = repost_create(account=alice, post=write(bob))
    inner = render_announce(repost)
    undo = render_undo(inner, actor_uri=alice.uri, activity_id=f"{repost.uri}/undo")
    assert undo["to"] == inner["to"]
    assert undo["cc"] == inner["cc"]
    assert undo["object"]["id"] == repost.uri
    assert "@context" not in undo["object"]


def test_render_like(alice, bob):
    post = write(bob)
    like = like_create(account=alice, post=post)
    assert render_like(like) == {
        "@context": ACTIVITYSTREAMS,
        "id": f"{BASE}/users/alice/likes/{like.id}",
        "type": "Like",
        "actor": alice.uri,
        "object": post.uri,
    }


@pytest.mark.parametrize(
    ("visibility", "to", "cc"),
    [
        ("public", [PUBLIC], ["followers", "author"]),
        ("unlisted", ["followers"], [PUBLIC, "author"]),
        ("private", ["followers"], ["author"]),
    ],
)
def test_render_announce(alice, carol, visibility, to, cc):
    from ourvoice.posts.models import Post

    post = Post.objects.create(
        author=carol, content="<p>remote</p>", uri="https://remote.example/notes/1", local=False
    )
    repost = repost_create(account=alice, post=post, visibility=visibility)
    names = {"followers": alice.followers_uri, "author": carol.uri, PUBLIC: PUBLIC}
    announce = render_announce(repost)
    assert announce["id"] == repost.uri == f"{BASE}/users/alice/reposts/{repost.id}"
    assert announce["type"] == "Announce"
    assert announce["actor"] == alice.uri
    assert announce["object"] == post.uri
    assert announce["to"] == [names[n] for n in to]
    assert announce["cc"] == [names[n] for n in cc]
    assert announce["published"] == repost.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_render_block(alice, carol):
    block = block_create(account=alice, target=carol)
    assert render_block(block) == {
        "@context": ACTIVITYSTREAMS,
        "id": block.uri,
        "type": "Block",
        "actor": alice.uri,
        "object": carol.uri,
    }
    assert block.uri.startswith(f"{BASE}/users/alice/blocks/")


def test_iso_is_utc_seconds():
    from datetime import datetime
    from datetime import timezone as dt_timezone

    value = datetime(2026, 7, 1, 12, 30, 15, 999, tzinfo=dt_timezone(timedelta(hours=2)))
    assert renderers.iso(value) == "2026-07-01T10:30:15Z"
    assert renderers.iso(timezone.now()).endswith("Z")
