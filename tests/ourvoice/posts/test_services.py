"""Service tests for ourvoice.posts.services: state, counters, history and outbox rows."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection

from ourvoice.accounts.services import account_suspend, block_create, follow_create
from ourvoice.core import urls
from ourvoice.core.errors import ApplicationError, Conflict, Invalid, NotAllowed, NotFound
from ourvoice.interactions.selectors import Page, timeline_home, timeline_public
from ourvoice.posts.models import Hashtag, Mention, Post, PostEdit, Visibility
from ourvoice.posts.selectors import post_get_for_admin, post_get_visible_to, posts_of_account
from ourvoice.posts.services import (
    post_archive,
    post_create,
    post_delete,
    post_remove,
    post_restore,
    post_update,
)
from tests.factories import RemoteAccountFactory, local_account
from tests.ourvoice.posts.helpers import counts, events, fresh

pytestmark = pytest.mark.django_db


def mentioned(post: Post) -> set[str]:
    return {m.account.acct for m in Mention.objects.filter(post=post).select_related("account")}


def tags(post: Post) -> set[str]:
    return set(post.hashtags.values_list("name", flat=True))


# --- post_create: rendering ------------------------------------------------------------------


def test_create_renders_paragraphs_and_line_breaks(alice):
    post = post_create(author=alice, text="First line\nsecond line\n\n\nNew paragraph")

    assert post.content == "<p>First line<br>second line</p><p>New paragraph</p>"
    assert post.source == "First line\nsecond line\n\n\nNew paragraph"
    assert fresh(post).content == post.content


def test_create_normalises_crlf(alice):
    post = post_create(author=alice, text="one\r\ntwo")

    assert post.source == "one\ntwo"
    assert post.content == "<p>one<br>two</p>"


def test_create_escapes_html(alice):
    post = post_create(author=alice, text="Hi <script>alert(1)</script> & <b>bold</b>")

    assert "<script" not in post.content
    assert "<b>" not in post.content
    assert post.content == (
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</p>"
    )
    assert post.source == "Hi <script>alert(1)</script> & <b>bold</b>"


def test_create_links_urls(alice):
    post = post_create(author=alice, text="Read https://example.org/a?b=1&c=2. Thanks")

    assert post.content == (
        '<p>Read <a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">'
        "example.org/a?b=1&amp;c=2</a>. Thanks</p>"
    )


def test_create_does_not_take_mentions_or_tags_from_inside_urls(alice, bob):
    post = post_create(author=alice, text="see https://example.org/@bob#top")

    assert mentioned(post) == set()
    assert tags(post) == set()
    assert post.content.count("<a ") == 1


def test_create_links_mentions_of_known_accounts_only(alice, bob, carol, remote):
    post = post_create(author=alice, text="hi @bob, @Carol, @ghost and @rita@remote.example")

    assert mentioned(post) == {"bob", "carol", "rita@remote.example"}
    for account, written in ((bob, "bob"), (carol, "Carol"), (remote, "rita")):
        assert (
            f'<span class="h-card" translate="no"><a href="{account.url}" class="u-url mention">'
            f"@<span>{written}</span></a></span>"
        ) in post.content
    # An unknown account stays plain text: no link, no Mention row.
    assert "@ghost and" in post.content
    assert post.content.count('class="u-url mention"') == 3


def test_create_mention_written_with_this_instance_domain_is_local(alice, bob):
    handle = f"@bob@{settings.OURVOICE_DOMAIN.upper()}"

    post = post_create(author=alice, text=f"psst {handle}", visibility=Visibility.DIRECT)

    assert mentioned(post) == {"bob"}
    assert f'<a href="{bob.url}" class="u-url mention">@<span>bob</span></a>' in post.content
    assert post_get_visible_to(viewer=bob, post_id=post.id) == post


def test_create_mention_of_unknown_remote_is_not_linked(alice):
    RemoteAccountFactory(username="bob", domain="other.example")

    post = post_create(author=alice, text="hello @bob@elsewhere.example")

    assert mentioned(post) == set()
    assert "mention" not in post.content
    assert "@bob@elsewhere.example" in post.content


def test_create_does_not_link_suspended_accounts(alice, bob):
    account_suspend(account=bob)

    post = post_create(author=alice, text="hi @bob")

    assert mentioned(post) == set()
    assert post.content == "<p>hi @bob</p>"


def test_create_hashtags(alice):
    post = post_create(author=alice, text="#Django and #python3, again #django")

    assert tags(post) == {"django", "python3"}
    assert (
        f'<a href="{urls.hashtag_url("django")}" class="mention hashtag" rel="tag">'
        "#<span>Django</span></a>"
    ) in post.content
    assert post.content.count('rel="tag"') == 3

    second = post_create(author=alice, text="more #DJANGO")

    assert Hashtag.objects.filter(name="django").count() == 1
    assert set(Hashtag.objects.get(name="django").posts.all()) == {post, second}


@pytest.mark.parametrize("visibility", [v.value for v in Visibility])
def test_create_stores_each_visibility(alice, visibility):
    post = post_create(author=alice, text="hello", visibility=visibility)

    assert fresh(post).visibility == visibility


def test_create_sets_ids_urls_and_defaults(alice):
    post = post_create(author=alice, text="hello", application_name="Tusky")

    post = fresh(post)
    assert post.uri == urls.post_uri("alice", post.id)
    assert post.url == urls.post_url("alice", post.id)
    assert post.local is True
    assert post.state == Post.State.ACTIVE
    assert post.visibility == Visibility.PUBLIC
    assert post.application_name == "Tusky"
    assert post.sensitive is False


def test_create_spoiler_marks_sensitive(alice):
    post = post_create(author=alice, text="spoilers", spoiler_text="  film ending  ")

    assert post.spoiler_text == "film ending"
    assert post.sensitive is True


def test_create_accepts_exactly_500_characters(alice):
    post = post_create(author=alice, text="a" * 500)

    assert len(fresh(post).source) == 500


def test_create_updates_author_counters(alice):
    first = post_create(author=alice, text="one")
    second = post_create(author=alice, text="two")

    alice = fresh(alice)
    assert alice.statuses_count == 2
    assert alice.last_status_at == second.published_at
    assert first.published_at <= second.published_at


def test_create_records_post_created(alice, outbox):
    post = post_create(author=alice, text="hello")

    assert outbox.kinds()[-1] == "post.created"
    assert events("post.created") == [{"post_id": post.id, "author_id": alice.id}]


def test_create_event_notifies_mentioned_local_account(alice, bob, outbox):
    post = post_create(author=alice, text="psst @bob", visibility=Visibility.DIRECT)

    outbox.drain()

    assert list(bob.notifications.values_list("type", "post_id")) == [("mention", post.id)]


def test_create_attaches_own_media_in_given_order(alice, make_media):
    first, second = make_media(alice), make_media(alice)

    post = post_create(author=alice, text="", media_ids=[str(second.id), first.id])

    assert list(post.media.values_list("id", "position")) == [(second.id, 0), (first.id, 1)]


# --- post_create: replies ----------------------------------------------------------------------


def test_reply_sets_threading_and_counts(alice, bob):
    parent = post_create(author=bob, text="root")

    reply = post_create(author=alice, text="@bob yes", in_reply_to=parent)
    deeper = post_create(author=bob, text="@alice ok", in_reply_to=reply)

    reply = fresh(reply)
    assert reply.in_reply_to == parent
    assert reply.in_reply_to_uri == parent.uri
    assert reply.in_reply_to_account == bob
    assert reply.thread_root == parent
    deeper = fresh(deeper)
    assert deeper.in_reply_to == reply
    assert deeper.in_reply_to_account == alice
    assert deeper.thread_root == parent
    assert fresh(parent).replies_count == 1
    assert fresh(reply).replies_count == 1
    assert fresh(deeper).replies_count == 0


def test_reply_to_remote_post(alice, remote, make_remote_post):
    parent = make_remote_post(remote)

    reply = post_create(author=alice, text="@rita@remote.example hi", in_reply_to=parent)

    assert reply.in_reply_to_uri == parent.uri
    assert reply.in_reply_to_account == remote
    assert fresh(parent).replies_count == 1


def test_reply_to_followers_only_post_of_followed_account(alice, bob):
    follow_create(follower=alice, target=bob)
    parent = post_create(author=bob, text="friends only", visibility=Visibility.PRIVATE)

    reply = post_create(author=alice, text="hi", in_reply_to=parent)

    assert reply.in_reply_to == parent


# --- post_create: bad input leaves nothing behind ---------------------------------------------


def _hidden_parent(p):
    parent = post_create(author=p.bob, text="for me alone", visibility=Visibility.DIRECT)
    return {"in_reply_to": parent}, parent


def _private_parent(p):
    parent = post_create(author=p.bob, text="followers", visibility=Visibility.PRIVATE)
    return {"in_reply_to": parent}, parent


def _deleted_parent(p):
    parent = post_create(author=p.bob, text="gone")
    post_delete(post=parent, actor=p.bob)
    return {"in_reply_to": parent}, parent


def _blocked_by_parent_author(p):
    parent = post_create(author=p.bob, text="public")
    block_create(account=p.bob, target=p.alice)
    return {"in_reply_to": parent}, parent


def _suspended_author(p):
    account_suspend(account=p.alice)
    return {}, None


def _remote_author(p):
    return {"author": RemoteAccountFactory()}, None


def _foreign_media(p):
    return {"media_ids": [p.make_media(p.bob).id]}, None


def _used_media(p):
    media = p.make_media(p.alice)
    post_create(author=p.alice, text="first", media_ids=[media.id])
    return {"media_ids": [media.id]}, None


def _too_many_media(p):
    return {"media_ids": [p.make_media(p.alice).id for _ in range(5)]}, None


BAD_INPUT = [
    pytest.param({"text": ""}, None, Invalid, "blank", id="empty-text"),
    pytest.param({"text": "  \n\t  "}, None, Invalid, "blank", id="whitespace-only"),
    pytest.param({"text": "@bob #tag " + "a" * 491}, None, Invalid, "500", id="too-long"),
    pytest.param({"visibility": "friends"}, None, Invalid, "Visibility", id="unknown-visibility"),
    pytest.param({"spoiler_text": "x" * 501}, None, Invalid, "Content warning", id="long-spoiler"),
    pytest.param({"language": "en<script>"}, None, Invalid, "Language", id="bad-language"),
    pytest.param({"media_ids": ["abc"]}, None, Invalid, "Media ids", id="media-id-not-number"),
    pytest.param({}, _hidden_parent, NotFound, "does not exist", id="reply-to-invisible-direct"),
    pytest.param({}, _private_parent, NotFound, "does not exist", id="reply-to-invisible-private"),
    pytest.param({}, _deleted_parent, NotFound, "does not exist", id="reply-to-deleted"),
    pytest.param({}, _blocked_by_parent_author, NotAllowed, "cannot reply", id="reply-blocked"),
    pytest.param({}, _suspended_author, NotAllowed, "suspended", id="suspended-author"),
    pytest.param({}, _remote_author, NotAllowed, "Remote", id="remote-author"),
    pytest.param({}, _foreign_media, Invalid, "Media attachment", id="media-of-other-account"),
    pytest.param({}, _used_media, Invalid, "already used", id="media-already-attached"),
    pytest.param({}, _too_many_media, Invalid, "At most 4", id="too-many-media"),
]


@pytest.mark.parametrize(("overrides", "setup", "error", "message"), BAD_INPUT)
def test_create_rejects_bad_input_and_writes_nothing(
    alice, bob, make_media, overrides, setup, error, message
):
    people = SimpleNamespace(alice=alice, bob=bob, make_media=make_media)
    kwargs = {"author": alice, "text": "hi @bob #tag", **overrides}
    parent = None
    if setup is not None:
        extra, parent = setup(people)
        kwargs.update(extra)
    author = kwargs["author"]
    before = counts()
    author_before = fresh(author).statuses_count
    parent_replies = fresh(parent).replies_count if parent else None

    with pytest.raises(error, match=message) as caught:
        post_create(**kwargs)

    assert isinstance(caught.value, ApplicationError)
    assert caught.value.message
    assert counts() == before
    assert fresh(author).statuses_count == author_before
    if parent is not None:
        assert fresh(parent).replies_count == parent_replies


def test_create_error_names_the_field(alice):
    with pytest.raises(Invalid) as caught:
        post_create(author=alice, text="a" * 501)
    assert caught.value.field == "status"

    with pytest.raises(Invalid) as caught:
        post_create(author=alice, text="hi", visibility="everyone")
    assert caught.value.field == "visibility"

    with pytest.raises(Invalid) as caught:
        post_create(author=alice, text="hi", spoiler_text="x" * 501)
    assert caught.value.field == "spoiler_text"


def test_reply_to_blocked_account_is_refused(alice, bob):
    """The replier blocked the parent's author: the post is hidden from the replier."""
    parent = post_create(author=bob, text="public")
    block_create(account=alice, target=bob)

    with pytest.raises(NotFound):
        post_create(author=alice, text="hi", in_reply_to=parent)
    assert fresh(parent).replies_count == 0


# --- post_update -------------------------------------------------------------------------------


def test_first_edit_keeps_original_and_new_version(alice):
    post = post_create(author=alice, text="first #old")
    original_content = post.content

    edited = post_update(post=post, editor=alice, text="second #new")

    history = list(PostEdit.objects.filter(post=post).order_by("id"))
    assert [e.source for e in history] == ["first #old", "second #new"]
    assert history[0].content == original_content
    assert history[0].created_at == post.published_at
    assert history[1].content == edited.content
    assert history[1].created_at == edited.edited_at
    stored = fresh(post)
    assert stored.source == "second #new"
    assert stored.edited_at is not None
    assert stored.edited_at >= stored.published_at
    assert "#<span>new</span>" in stored.content


def test_each_further_edit_adds_one_version(alice):
    post = post_create(author=alice, text="v1")
    post_update(post=post, editor=alice, text="v2")
    first_edited_at = fresh(post).edited_at

    post_update(post=post, editor=alice, text="v3")
    post_update(post=post, editor=alice, text="v4")

    assert list(post.edits.values_list("source", flat=True)) == ["v1", "v2", "v3", "v4"]
    assert fresh(post).edited_at >= first_edited_at
    assert fresh(post).source == "v4"


def test_edit_updates_hashtags_and_adds_mentions(alice, bob, carol):
    post = post_create(author=alice, text="hi @bob #old #kept")

    post_update(post=post, editor=alice, text="hi @carol #kept #new")

    assert tags(post) == {"kept", "new"}
    # New mentions are added; earlier ones keep their row, as Mastodon keeps them as silent
    # mentions so that someone who already saw a direct post does not lose access to it.
    assert mentioned(post) == {"bob", "carol"}
    content = fresh(post).content
    assert f'href="{carol.url}"' in content
    assert f'href="{bob.url}"' not in content


def test_edit_spoiler_sensitive_and_language(alice):
    post = post_create(author=alice, text="plain", language="en")

    post_update(post=post, editor=alice, text="plain", spoiler_text=" cw ")
    stored = fresh(post)
    assert (stored.spoiler_text, stored.sensitive, stored.language) == ("cw", True, "en")

    post_update(post=post, editor=alice, text="plain", spoiler_text="", sensitive=False)
    stored = fresh(post)
    assert (stored.spoiler_text, stored.sensitive) == ("", False)


def test_edit_replaces_media_and_history_records_it(alice, make_media):
    old, new = make_media(alice), make_media(alice)
    post = post_create(author=alice, text="pic", media_ids=[old.id])

    post_update(post=post, editor=alice, text="pic", media_ids=[new.id])

    assert fresh(old).post is None
    assert fresh(new).post == post
    assert list(post.edits.values_list("media_ids", flat=True)) == [[old.id], [new.id]]


def test_edit_records_post_updated(alice, outbox):
    post = post_create(author=alice, text="v1")

    post_update(post=post, editor=alice, text="v2")

    assert outbox.kinds()[-1] == "post.updated"
    assert events("post.updated") == [{"post_id": post.id, "author_id": alice.id}]


def test_only_the_author_can_edit(alice, bob):
    post = post_create(author=alice, text="mine")
    before = counts()

    with pytest.raises(NotAllowed):
        post_update(post=post, editor=bob, text="yours now")

    assert counts() == before
    assert fresh(post).source == "mine"
    assert fresh(post).edited_at is None


def test_edit_of_deleted_post_is_conflict(alice):
    post = post_create(author=alice, text="v1")
    post_delete(post=post, actor=alice)
    before = counts()

    with pytest.raises(Conflict):
        post_update(post=post, editor=alice, text="v2")

    assert counts() == before


def test_invalid_edit_changes_nothing(alice):
    post = post_create(author=alice, text="v1 #tag")
    before = counts()

    with pytest.raises(Invalid):
        post_update(post=post, editor=alice, text="x" * 501)
    with pytest.raises(Invalid):
        post_update(post=post, editor=alice, text="   ")

    assert counts() == before
    assert fresh(post).source == "v1 #tag"


# --- post_delete -------------------------------------------------------------------------------


def test_delete_marks_state_and_decrements_counters(alice, bob, outbox):
    parent = post_create(author=bob, text="root")
    reply = post_create(author=alice, text="reply", in_reply_to=parent)
    assert (fresh(parent).replies_count, fresh(alice).statuses_count) == (1, 1)

    deleted = post_delete(post=reply, actor=alice)

    assert deleted.state == Post.State.DELETED
    stored = fresh(reply)
    assert stored.state == Post.State.DELETED
    assert stored.state_changed_at is not None
    assert fresh(parent).replies_count == 0
    assert fresh(alice).statuses_count == 0
    assert fresh(bob).statuses_count == 1
    assert outbox.kinds()[-1] == "post.deleted"
    assert events("post.deleted") == [{"post_id": reply.id, "author_id": alice.id}]
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=reply.id)


def test_second_delete_is_conflict(alice):
    post = post_create(author=alice, text="once")
    post_delete(post=post, actor=alice)
    before = counts()

    with pytest.raises(Conflict):
        post_delete(post=post, actor=alice)

    assert counts() == before
    assert fresh(alice).statuses_count == 0


def test_only_the_author_can_delete(alice, bob):
    post = post_create(author=alice, text="mine")

    with pytest.raises(NotAllowed):
        post_delete(post=post, actor=bob)

    assert fresh(post).state == Post.State.ACTIVE
    assert fresh(alice).statuses_count == 1
    assert events("post.deleted") == []


def test_delete_of_archived_post_decrements_counters(alice):
    post = post_create(author=alice, text="old")
    post_archive(post=post)

    post_delete(post=post, actor=alice)

    assert fresh(post).state == Post.State.DELETED
    assert fresh(alice).statuses_count == 0


# --- post_archive / post_restore ---------------------------------------------------------------


def _timeline_ids(entries) -> list[int]:
    return [entry.post.id for entry in entries]


def test_archive_hides_from_timelines_and_other_viewers(alice, bob, outbox):
    follow_create(follower=bob, target=alice)
    post = post_create(author=alice, text="going away")
    kept = post_create(author=alice, text="staying")
    assert post.id in _timeline_ids(timeline_home(viewer=bob, page=Page()))

    archived = post_archive(post=post)

    assert archived.state == Post.State.ARCHIVED
    assert fresh(post).state == Post.State.ARCHIVED
    assert events("post.archived") == [{"post_id": post.id, "author_id": alice.id}]
    for entries in (
        timeline_home(viewer=bob, page=Page()),
        timeline_home(viewer=alice, page=Page()),
        timeline_public(viewer=None, page=Page()),
        timeline_public(viewer=bob, page=Page(), local=True),
    ):
        ids = _timeline_ids(entries)
        assert post.id not in ids
        assert kept.id in ids
    for viewer in (None, bob):
        with pytest.raises(NotFound):
            post_get_visible_to(viewer=viewer, post_id=post.id)
        assert list(posts_of_account(viewer=viewer, account=alice)) == [kept]
    # Its author and the admins still see it.
    assert post_get_visible_to(viewer=alice, post_id=post.id) == post
    assert list(posts_of_account(viewer=alice, account=alice)) == [kept, post]
    assert post_get_for_admin(post_id=post.id).state == Post.State.ARCHIVED
    # Archiving does not change the counters: the post still exists.
    assert fresh(alice).statuses_count == 2


def test_archive_twice_is_a_no_op(alice):
    post = post_create(author=alice, text="x")
    post_archive(post=post)

    again = post_archive(post=post)

    assert again.state == Post.State.ARCHIVED
    assert len(events("post.archived")) == 1


def test_archive_of_deleted_post_is_conflict(alice):
    post = post_create(author=alice, text="x")
    post_delete(post=post, actor=alice)

    with pytest.raises(Conflict):
        post_archive(post=post)

    assert fresh(post).state == Post.State.DELETED
    assert events("post.archived") == []


def test_restore_brings_archived_post_back(alice, bob):
    follow_create(follower=bob, target=alice)
    post = post_create(author=alice, text="back soon")
    post_archive(post=post)

    restored = post_restore(post=post)

    assert restored.state == Post.State.ACTIVE
    assert fresh(post).state == Post.State.ACTIVE
    assert events("post.restored") == [{"post_id": post.id, "author_id": alice.id}]
    assert post.id in _timeline_ids(timeline_home(viewer=bob, page=Page()))
    assert post.id in _timeline_ids(timeline_public(viewer=None, page=Page()))
    assert post_get_visible_to(viewer=bob, post_id=post.id) == post
    assert post_get_visible_to(viewer=None, post_id=post.id) == post
    assert fresh(alice).statuses_count == 1


def test_restore_of_active_post_is_a_no_op(alice):
    post = post_create(author=alice, text="x")

    assert post_restore(post=post).state == Post.State.ACTIVE
    assert events("post.restored") == []


def test_restore_of_deleted_post_is_conflict(alice):
    post = post_create(author=alice, text="x")
    post_delete(post=post, actor=alice)

    with pytest.raises(Conflict):
        post_restore(post=post)

    assert fresh(post).state == Post.State.DELETED
    assert fresh(alice).statuses_count == 0
    assert events("post.restored") == []


# --- post_remove -------------------------------------------------------------------------------


def test_remove_is_compare_and_set_with_one_event(alice, bob, outbox):
    parent = post_create(author=bob, text="root")
    post = post_create(author=alice, text="bad", in_reply_to=parent)

    assert post_remove(post=post) is True
    assert post_remove(post=post) is False

    assert fresh(post).state == Post.State.REMOVED
    assert outbox.kinds().count("post.removed") == 1
    assert events("post.removed") == [{"post_id": post.id, "author_id": alice.id}]
    assert fresh(parent).replies_count == 0
    assert fresh(alice).statuses_count == 0
    with pytest.raises(NotFound):
        post_get_visible_to(viewer=alice, post_id=post.id)


def test_remove_of_archived_post_and_restore(alice):
    post = post_create(author=alice, text="x")
    post_archive(post=post)

    assert post_remove(post=post) is True
    assert fresh(alice).statuses_count == 0

    post_restore(post=post)
    assert fresh(post).state == Post.State.ACTIVE
    assert fresh(alice).statuses_count == 1


def test_remove_of_deleted_post_does_nothing(alice):
    post = post_create(author=alice, text="x")
    post_delete(post=post, actor=alice)

    assert post_remove(post=post) is False
    assert fresh(post).state == Post.State.DELETED
    assert events("post.removed") == []


def test_delete_after_remove_is_conflict(alice):
    post = post_create(author=alice, text="x")
    post_remove(post=post)

    with pytest.raises(Conflict):
        post_delete(post=post, actor=alice)
    assert fresh(alice).statuses_count == 0


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def _run_at_once(count: int, work) -> list[BaseException]:
    """Run `work(i)` in `count` threads released together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as exc:  # reported to the test thread
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replies_keep_replies_count_exact():
    owner = local_account("owner")
    repliers = [local_account(f"replier{i}") for i in range(20)]
    parent = post_create(author=owner, text="reply to me")

    errors = _run_at_once(
        20, lambda i: post_create(author=repliers[i], text=f"reply {i}", in_reply_to=parent)
    )

    assert errors == []
    assert Post.objects.filter(in_reply_to=parent).count() == 20
    assert fresh(parent).replies_count == 20
    assert all(fresh(account).statuses_count == 1 for account in repliers)

    replies = list(Post.objects.filter(in_reply_to=parent).select_related("author"))
    errors = _run_at_once(20, lambda i: post_delete(post=replies[i], actor=replies[i].author))

    assert errors == []
    assert fresh(parent).replies_count == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_removals_record_one_event():
    author = local_account("author")
    post = post_create(author=author, text="contested")

    results: list[bool] = []
    errors = _run_at_once(10, lambda i: results.append(post_remove(post=post)))

    assert errors == []
    assert sorted(results) == [False] * 9 + [True]
    assert len(events("post.removed")) == 1
    assert fresh(author).statuses_count == 0
