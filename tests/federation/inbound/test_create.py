"""Create{Note}: replayed payloads from Mastodon, GoToSocial, Pleroma/Akkoma, Misskey and
Pixelfed, and the origin, ownership, tombstone and sanitising rules (federation.md §4, §5)."""

from __future__ import annotations

import copy

import pytest

from federation.inbound.errors import Ignore, Reject
from federation.models import RemoteTombstone
from ourvoice.accounts.models import Follow
from ourvoice.accounts.services import account_suspend, follow_accept, follow_create
from ourvoice.core.models import OutboxEvent
from ourvoice.notifications.models import Notification
from ourvoice.posts.models import FeedEntry, MediaAttachment, Mention, Post, Visibility
from tests.factories import local_account
from tests.federation.inbound.conftest import handle, load, remote_actor

pytestmark = pytest.mark.django_db

ANA = "https://mastodon.example/users/ana"
ANA_NOTE = "https://mastodon.example/users/ana/statuses/113400000000000001"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def follow(follower, target) -> None:
    f = follow_create(follower=follower, target=target, uri=f"{follower.uri}/follows/1")
    follow_accept(follow=f)


def nothing_persisted(uri: str) -> None:
    assert not Post.objects.filter(uri=uri).exists()
    assert not Post.objects.filter(local=False).exists()
    assert not MediaAttachment.objects.filter(remote_url__gt="").exists()
    assert not OutboxEvent.objects.filter(kind="post.created").exists()


# --- Mastodon ----------------------------------------------------------------------------------


def test_mastodon_note_is_stored_with_mentions_tags_media_and_counters(alice, outbox):
    ana = remote_actor(ANA)
    follow(alice, ana)

    handle(load("mastodon/create_note"), ana)

    post = Post.objects.get(uri=ANA_NOTE)
    assert post.local is False
    assert post.author == ana
    assert post.url == "https://mastodon.example/@ana/113400000000000001"
    assert post.visibility == Visibility.PUBLIC
    assert post.language == "en"
    assert post.spoiler_text == ""
    assert post.sensitive is False
    assert post.published_at.isoformat() == "2025-03-14T09:26:53+00:00"
    assert "the tide tables for the weekend are up" in post.content
    assert 'class="u-url mention"' in post.content  # Mastodon's mention markup survives
    assert list(post.mentions.all()) == [alice]
    assert set(post.hashtags.values_list("name", flat=True)) == {"sailing"}
    (media,) = post.media.all()
    assert media.type == MediaAttachment.Type.IMAGE
    assert media.mime_type == "image/png"
    assert media.remote_url == media.url
    assert media.remote_url.startswith("https://files.mastodon.example/media_attachments/")
    assert media.description.startswith("A printed tide table")
    assert media.blurhash == "UKO2?U%2Tw=w]~RBVZRi};RPxuwH%3s8tLOt"
    assert (media.width, media.height) == (1200, 900)
    assert (media.focus_x, media.focus_y) == (-0.25, 0.5)
    ana.refresh_from_db()
    assert ana.statuses_count == 1
    assert ana.last_status_at == post.published_at
    assert FeedEntry.objects.filter(owner=alice, post=post).exists()

    outbox.drain()
    assert Notification.objects.filter(
        recipient=alice, type=Notification.Type.MENTION, post=post, from_account=ana
    ).exists()


def test_replayed_create_is_a_no_op(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")

    handle(activity, ana)
    handle(copy.deepcopy(activity), ana)

    assert Post.objects.filter(uri=ANA_NOTE).count() == 1
    assert MediaAttachment.objects.count() == 1
    assert OutboxEvent.objects.filter(kind="post.created").count() == 1
    ana.refresh_from_db()
    assert ana.statuses_count == 1


def test_mastodon_reply_to_a_local_post(alice, alice_post, outbox):
    ana = remote_actor(ANA)

    handle(load("mastodon/create_note_reply", LOCAL_POST_ID=alice_post.id), ana)

    reply = Post.objects.get(uri="https://mastodon.example/users/ana/statuses/113400000000000002")
    assert reply.in_reply_to == alice_post
    assert reply.in_reply_to_uri == alice_post.uri
    assert reply.in_reply_to_account == alice
    assert reply.thread_root == alice_post
    # Public only in cc: unlisted; a summary is a content warning and makes it sensitive.
    assert reply.visibility == Visibility.UNLISTED
    assert reply.spoiler_text == "boats, long"
    assert reply.sensitive is True
    alice_post.refresh_from_db()
    assert alice_post.replies_count == 1
    outbox.drain()
    assert Notification.objects.filter(recipient=alice, type="mention", post=reply).exists()


# --- GoToSocial, Pleroma/Akkoma, Misskey, Pixelfed ------------------------------------------


def test_gotosocial_followers_only_note_with_string_addressing(alice):
    gabe = remote_actor("https://gts.example/users/gabe")
    follow(alice, gabe)
    bob = local_account("bob")

    handle(load("gotosocial/create_note_followers_only"), gabe)

    post = Post.objects.get(uri__startswith="https://gts.example/users/gabe/statuses/")
    assert post.visibility == Visibility.PRIVATE
    assert post.spoiler_text == ""  # GtS always sends "summary": ""
    assert post.sensitive is False
    assert list(post.mentions.all()) == [alice]  # `tag` as a single object
    assert FeedEntry.objects.filter(owner=alice, post=post).exists()
    assert not FeedEntry.objects.filter(owner=bob).exists()


def test_pleroma_note_with_context_and_conversation(alice):
    pat = remote_actor("https://akkoma.example/users/pat")

    handle(load("pleroma/create_note"), pat)

    post = Post.objects.get(
        uri="https://akkoma.example/objects/7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918"
    )
    assert post.visibility == Visibility.PUBLIC
    assert post.spoiler_text == ""
    assert post.sensitive is False  # "sensitive": null
    assert post.language == ""
    assert set(post.hashtags.values_list("name", flat=True)) == {"baking"}
    assert "<img" not in post.content
    assert "onerror" not in post.content
    assert "sourdough starter is alive" in post.content


def test_misskey_quote_keeps_its_re_line_once(alice, alice_post):
    miko = remote_actor("https://misskey.example/users/9zq0x1y2z3")

    handle(load("misskey/create_note_quote", LOCAL_POST_ID=alice_post.id), miko)

    post = Post.objects.get(uri="https://misskey.example/notes/a1b2c3d4f0")
    assert post.content.count("RE: ") == 1
    assert post.content.count(f'href="{alice_post.uri}"') == 1
    assert post.visibility == Visibility.PUBLIC
    assert "$[tada" in post.content  # MFM stays text; `_misskey_content` is not rendered


def test_misskey_quote_without_link_in_content_gets_one(alice, alice_post):
    miko = remote_actor("https://misskey.example/users/9zq0x1y2z3")
    activity = load("misskey/create_note_quote", LOCAL_POST_ID=alice_post.id)
    activity["object"]["content"] = "<p>this is exactly what I meant</p>"

    handle(activity, miko)

    post = Post.objects.get(uri="https://misskey.example/notes/a1b2c3d4f0")
    assert f'<p>RE: <a href="{alice_post.uri}"' in post.content


def test_pixelfed_note_with_image_attachments(alice):
    pia = remote_actor("https://pixelfed.example/users/pia")

    handle(load("pixelfed/create_note_images"), pia)

    post = Post.objects.get(uri="https://pixelfed.example/p/pia/781234567890123456")
    assert post.spoiler_text == ""  # "summary": null
    assert set(post.hashtags.values_list("name", flat=True)) == {"seascape"}
    first, second = post.media.order_by("position")
    assert first.type == second.type == MediaAttachment.Type.IMAGE
    assert first.description == "Wooden pier posts standing in wet sand at low tide"
    assert second.description == ""  # "name": null
    assert (first.width, first.height) == (1080, 1350)
    assert first.blurhash and second.blurhash
    assert first.position == 0 and second.position == 1


def test_media_is_not_recorded_when_the_domain_rejects_media(alice, set_policy):
    pia = remote_actor("https://pixelfed.example/users/pia")
    set_policy("pixelfed.example", reject_media=True)

    handle(load("pixelfed/create_note_images"), pia)

    post = Post.objects.get(uri="https://pixelfed.example/p/pia/781234567890123456")
    assert not post.media.exists()


# --- Origin and ownership ---------------------------------------------------------------------


def test_cross_origin_create_is_rejected_and_nothing_is_persisted(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["id"] = "https://elsewhere.example/users/ana/statuses/1"

    with pytest.raises(Reject):
        handle(activity, ana)

    nothing_persisted("https://elsewhere.example/users/ana/statuses/1")


def test_create_attributed_to_another_account_is_rejected(alice):
    """The NodeBB advisory: `attributedTo` must be bound to the sender."""
    ana = remote_actor(ANA)
    remote_actor("https://mastodon.example/users/bea")
    activity = load("mastodon/create_note")
    activity["object"]["attributedTo"] = "https://mastodon.example/users/bea"

    with pytest.raises(Reject):
        handle(activity, ana)

    nothing_persisted(ANA_NOTE)


@pytest.mark.parametrize("attributed", [None, "1", 1, [], {"type": "Person"}])
def test_create_with_a_missing_or_junk_attributed_to_is_rejected(alice, attributed):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["attributedTo"] = attributed

    with pytest.raises(Reject):
        handle(activity, ana)

    nothing_persisted(ANA_NOTE)


def test_create_attributed_to_a_local_account_is_rejected(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["attributedTo"] = alice.uri

    with pytest.raises(Reject):
        handle(activity, ana)

    nothing_persisted(ANA_NOTE)


def test_create_after_delete_is_ignored(alice, outbox):
    ana = remote_actor(ANA)
    handle(load("mastodon/delete_note"), ana)

    with pytest.raises(Ignore):
        handle(load("mastodon/create_note"), ana)

    assert RemoteTombstone.objects.filter(uri=ANA_NOTE).exists()
    nothing_persisted(ANA_NOTE)


def test_create_by_a_suspended_account_is_ignored(alice):
    ana = remote_actor(ANA)
    account_suspend(account=ana)

    with pytest.raises(Ignore):
        handle(load("mastodon/create_note"), ana)

    assert not Post.objects.filter(uri=ANA_NOTE).exists()


def test_create_of_an_unsupported_type_is_ignored(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["type"] = "ChatMessage"

    with pytest.raises(Ignore):
        handle(activity, ana)

    assert not Post.objects.filter(local=False).exists()


def test_create_with_an_object_id_is_fetched_from_the_origin(alice, remote_web):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    remote_web.serve(activity["object"])
    activity["object"] = ANA_NOTE

    handle(activity, ana)

    assert remote_web.fetched == [ANA_NOTE]
    assert Post.objects.filter(uri=ANA_NOTE, author=ana).exists()


# --- Sanitising -------------------------------------------------------------------------------


def test_script_bearing_html_is_sanitised(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["content"] = (
        '<p onclick="steal()">hello<script>alert(document.cookie)</script>'
        '<a href="javascript:alert(1)">click</a> <a href="https://ok.example/" '
        'onmouseover="x()">ok</a><img src=x onerror=alert(1)>'
        '<iframe src="https://evil.example/"></iframe><style>p{}</style></p>'
    )
    activity["object"]["contentMap"] = {"en": activity["object"]["content"]}
    activity["object"]["summary"] = "<b onmouseover=x()>cw</b><script>1</script>"

    handle(activity, ana)

    post = Post.objects.get(uri=ANA_NOTE)
    lowered = post.content.lower()
    for needle in (
        "<script",
        "onclick",
        "onmouseover",
        "onerror",
        "javascript:",
        "<iframe",
        "<img",
        "<style",
    ):
        assert needle not in lowered, needle
    assert "hello" in post.content
    assert 'href="https://ok.example/"' in post.content
    assert post.spoiler_text == "cw"


# --- Addressing -------------------------------------------------------------------------------


PUBLIC_SPELLINGS = [PUBLIC, "as:Public", "Public"]


def _addressed(to, cc) -> dict:
    activity = load("mastodon/create_note")
    for holder in (activity, activity["object"]):
        holder["to"], holder["cc"] = to, cc
    return activity


@pytest.mark.parametrize("spelling", PUBLIC_SPELLINGS)
@pytest.mark.parametrize("as_list", [True, False])
def test_public_in_to_is_public_in_every_spelling(alice, spelling, as_list):
    ana = remote_actor(ANA)
    to = [spelling] if as_list else spelling

    handle(_addressed(to, f"{ANA}/followers"), ana)

    assert Post.objects.get(uri=ANA_NOTE).visibility == Visibility.PUBLIC


@pytest.mark.parametrize("spelling", PUBLIC_SPELLINGS)
@pytest.mark.parametrize("as_list", [True, False])
def test_public_in_cc_is_unlisted_in_every_spelling(alice, spelling, as_list):
    ana = remote_actor(ANA)
    cc = [spelling] if as_list else spelling

    handle(_addressed(f"{ANA}/followers", cc), ana)

    assert Post.objects.get(uri=ANA_NOTE).visibility == Visibility.UNLISTED


@pytest.mark.parametrize("as_list", [True, False])
def test_followers_only_and_direct(alice, as_list):
    ana = remote_actor(ANA)
    followers = f"{ANA}/followers"

    handle(_addressed([followers] if as_list else followers, []), ana)
    assert Post.objects.get(uri=ANA_NOTE).visibility == Visibility.PRIVATE

    activity = _addressed([alice.uri] if as_list else alice.uri, None)
    activity["id"] = activity["id"].replace("0001/activity", "0099/activity")
    activity["object"]["id"] = ANA_NOTE.replace("0001", "0099")
    handle(activity, ana)
    direct = Post.objects.get(uri=ANA_NOTE.replace("0001", "0099"))
    assert direct.visibility == Visibility.DIRECT
    assert Mention.objects.filter(post=direct, account=alice).exists()


def test_addressing_falls_back_to_the_activity(alice):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    del activity["object"]["to"], activity["object"]["cc"]
    activity["to"], activity["cc"] = [f"{ANA}/followers"], []

    handle(activity, ana)

    assert Post.objects.get(uri=ANA_NOTE).visibility == Visibility.PRIVATE


# --- Threads and mentions fetched from their origin -------------------------------------------


def _note(n: int, parent: int | None) -> dict:
    return {
        "id": f"{ANA}/statuses/{n}",
        "type": "Note",
        "attributedTo": ANA,
        "content": f"<p>note {n}</p>",
        "inReplyTo": f"{ANA}/statuses/{parent}" if parent is not None else None,
        "to": [PUBLIC],
        "published": f"2025-03-01T00:00:{n:02d}Z",
    }


def test_unknown_parents_are_fetched_up_to_five_levels(alice, remote_web):
    ana = remote_actor(ANA)
    for n in range(1, 9):  # 1 <- 2 <- ... <- 8
        remote_web.serve(_note(n, n - 1 if n > 1 else None))
    activity = load("mastodon/create_note")
    activity["object"]["inReplyTo"] = f"{ANA}/statuses/8"

    handle(activity, ana)

    assert remote_web.fetched == [f"{ANA}/statuses/{n}" for n in (8, 7, 6, 5, 4)]
    leaf = Post.objects.get(uri=ANA_NOTE)
    assert leaf.in_reply_to.uri == f"{ANA}/statuses/8"
    top = Post.objects.get(uri=f"{ANA}/statuses/4")
    assert top.in_reply_to is None
    assert top.in_reply_to_uri == f"{ANA}/statuses/3"
    assert Post.objects.get(uri=f"{ANA}/statuses/5").in_reply_to == top


def test_an_unfetchable_parent_keeps_the_reply(alice, remote_web):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["inReplyTo"] = f"{ANA}/statuses/404"

    handle(activity, ana)

    post = Post.objects.get(uri=ANA_NOTE)
    assert post.in_reply_to is None
    assert post.in_reply_to_uri == f"{ANA}/statuses/404"


def test_a_parent_arriving_later_adopts_its_replies(alice, remote_web):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    activity["object"]["inReplyTo"] = f"{ANA}/statuses/1"
    handle(activity, ana)

    parent = {**_note(1, None), "id": f"{ANA}/statuses/1"}
    handle(
        {"id": f"{ANA}/statuses/1/activity", "type": "Create", "actor": ANA, "object": parent},
        ana,
    )

    parent_post = Post.objects.get(uri=f"{ANA}/statuses/1")
    assert Post.objects.get(uri=ANA_NOTE).in_reply_to == parent_post
    assert parent_post.replies_count == 1


def test_unknown_mentioned_actors_are_resolved_at_most_five(alice, remote_web):
    ana = remote_actor(ANA)
    activity = load("mastodon/create_note")
    others = [f"https://far{n}.example/users/u{n}" for n in range(7)]
    for uri in others:
        remote_web.serve_actor(uri)
    activity["object"]["tag"] += [{"type": "Mention", "href": uri} for uri in others]

    handle(activity, ana)

    post = Post.objects.get(uri=ANA_NOTE)
    assert [uri for uri, _ in remote_web.resolved] == others[:5]
    assert set(post.mentions.values_list("uri", flat=True)) == {alice.uri, *others[:5]}


def test_follow_state_does_not_leak_followers_only_posts(alice):
    """Pixelfed CVE-2025-30741: a pending follower gets no followers-only post in its feed."""
    gabe = remote_actor("https://gts.example/users/gabe")
    follow_create(follower=alice, target=gabe, uri="")  # remote target: stays pending
    assert Follow.objects.get(follower=alice).state == Follow.State.PENDING

    handle(load("gotosocial/create_note_followers_only"), gabe)

    assert not FeedEntry.objects.filter(owner=alice).exists()


# --- Hot path ---------------------------------------------------------------------------------


def test_a_plain_create_costs_a_bounded_number_of_queries(alice, django_assert_max_num_queries):
    """bench/inbox.py processes Create(Note) for 20 local followers: keep it lean and flat."""
    ana = remote_actor(ANA)
    for n in range(20):
        follow(local_account(f"reader{n}"), ana)
    activity = load("mastodon/create_note")
    activity["object"]["attachment"] = []

    with django_assert_max_num_queries(26):
        handle(activity, ana)

    assert FeedEntry.objects.filter(post__uri=ANA_NOTE).count() == 20
