"""Django admin for posts: pages render, nothing is editable, actions go through the services."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from ourvoice.posts.models import Hashtag, MediaAttachment, Post, Visibility
from ourvoice.posts.services import post_archive, post_create, post_delete, post_remove, post_update
from tests.factories import local_account
from tests.ourvoice.posts.helpers import counts, events, fresh

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:posts_post_changelist"


@pytest.fixture
def admin_client(client):
    account = local_account("admin1", is_admin=True)
    client.force_login(account.user)
    return client


def run_action(client, action: str, posts: list[Post]):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [p.pk for p in posts]},
        follow=True,
    )


def shown_messages(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


# --- pages -------------------------------------------------------------------------------------


def test_changelist_lists_posts(admin_client, alice, bob):
    post_create(author=alice, text="Hello <b>world</b> #hello")
    post_create(author=bob, text="direct @alice", visibility=Visibility.DIRECT)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert {p.author.username for p in rows} == {"alice", "bob"}
    body = response.content.decode()
    # The short content is the text of the HTML, escaped once more by the admin.
    assert "Hello &lt;b&gt;world&lt;/b&gt; #hello" in body
    assert "Archive selected posts" in body
    assert "Restore selected posts" in body
    assert "Delete selected" not in body


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, alice, django_assert_max_num_queries
):
    for i in range(30):
        post_create(author=alice, text=f"post {i}")
    url = reverse(CHANGELIST)

    with django_assert_max_num_queries(8):
        response = admin_client.get(url)

    assert len(response.context["cl"].result_list) == 30


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "needle"}, {"needle"}),
        ({"q": "bob"}, {"by bob"}),
        ({"visibility__exact": "unlisted"}, {"quiet"}),
        ({"state__exact": "archived"}, {"old"}),
        ({"local__exact": "1"}, {"needle", "quiet", "old", "by bob"}),
    ],
)
def test_changelist_search_and_filters(admin_client, alice, bob, params, expected):
    post_create(author=alice, text="a needle here")
    post_create(author=alice, text="quiet", visibility=Visibility.UNLISTED)
    post_archive(post=post_create(author=alice, text="old"))
    post_create(author=bob, text="by bob")
    sources = {"a needle here": "needle"}

    response = admin_client.get(reverse(CHANGELIST), params)

    assert response.status_code == 200
    found = {sources.get(p.source, p.source) for p in response.context["cl"].result_list}
    assert found == expected


def test_change_page_is_read_only_with_history(admin_client, alice, bob, make_media):
    media = make_media(alice, description="a cat")
    post = post_create(author=alice, text="first @bob #tag", media_ids=[media.id])
    post_update(post=post, editor=alice, text="second @bob #tag")

    response = admin_client.get(reverse("admin:posts_post_change", args=[post.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="source"' not in body  # no form field: the page only shows the post
    assert 'name="_save"' not in body
    assert "edit history" in body.lower()
    assert "first @bob #tag" in body  # the original version, kept by post_update
    assert "second @bob #tag" in body
    assert "a cat" in body  # media inline
    assert "#tag" in body


def test_change_page_for_replies_remote_and_gone_posts(
    admin_client, alice, bob, remote, make_remote_post
):
    parent = make_remote_post(remote, text="remote parent")
    reply = post_create(author=alice, text="@rita@remote.example hi", in_reply_to=parent)
    removed = post_create(author=bob, text="removed", in_reply_to=reply)
    post_remove(post=removed)
    deleted = post_create(author=bob, text="deleted")
    post_delete(post=deleted, actor=bob)

    for post in (parent, reply, removed, deleted):
        response = admin_client.get(reverse("admin:posts_post_change", args=[post.pk]))
        assert response.status_code == 200, post.state
        assert response.context["original"] == post

    body = admin_client.get(reverse("admin:posts_post_change", args=[reply.pk])).content.decode()
    assert parent.uri in body
    assert "rita@remote.example" in body  # the mention inline and the parent's author


def test_post_cannot_be_added_edited_or_deleted_here(admin_client, alice):
    post = post_create(author=alice, text="stay")
    before = counts()

    assert admin_client.get(reverse("admin:posts_post_add")).status_code == 403
    edit = admin_client.post(
        reverse("admin:posts_post_change", args=[post.pk]),
        {"source": "changed", "content": "<p>changed</p>", "state": "deleted"},
    )
    delete = admin_client.post(reverse("admin:posts_post_delete", args=[post.pk]), {"post": "yes"})

    assert edit.status_code == 403
    assert delete.status_code == 403
    assert fresh(post).source == "stay"
    assert fresh(post).state == Post.State.ACTIVE
    assert counts() == before


def test_media_and_hashtag_pages(admin_client, alice, make_media):
    media = make_media(alice, description="a dog")
    post_create(author=alice, text="#Dogs", media_ids=[media.id])
    tag = Hashtag.objects.get(name="dogs")

    pages = [
        reverse("admin:posts_mediaattachment_changelist"),
        reverse("admin:posts_mediaattachment_change", args=[media.pk]),
        reverse("admin:posts_hashtag_changelist"),
        reverse("admin:posts_hashtag_change", args=[tag.pk]),
    ]
    for url in pages:
        assert admin_client.get(url).status_code == 200, url

    hashtags = admin_client.get(reverse("admin:posts_hashtag_changelist"))
    assert [(t.name, t.post_count) for t in hashtags.context["cl"].result_list] == [("dogs", 1)]
    assert admin_client.get(reverse("admin:posts_mediaattachment_add")).status_code == 403
    assert admin_client.get(reverse("admin:posts_hashtag_add")).status_code == 403
    assert MediaAttachment.objects.get(pk=media.pk).description == "a dog"


def test_admin_pages_need_staff(client, alice):
    client.force_login(alice.user)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- actions -----------------------------------------------------------------------------------


def test_archive_action_uses_the_service(admin_client, alice, bob):
    first = post_create(author=alice, text="one")
    second = post_create(author=bob, text="two")
    already = post_create(author=alice, text="three")
    post_archive(post=already)

    response = run_action(admin_client, "archive_posts", [first, second, already])

    assert response.status_code == 200
    assert fresh(first).state == fresh(second).state == Post.State.ARCHIVED
    assert shown_messages(response) == [
        ("success", "2 posts archived."),
        ("warning", "1 post was already archived."),
    ]
    # The service recorded one event per change (and none for the post already archived).
    assert sorted(e["post_id"] for e in events("post.archived")) == sorted(
        [first.id, second.id, already.id]
    )
    assert LogEntry.objects.filter(object_id=str(first.pk)).count() == 1


def test_restore_action_uses_the_service(admin_client, alice):
    post = post_create(author=alice, text="back")
    post_archive(post=post)
    active = post_create(author=alice, text="never archived")

    response = run_action(admin_client, "restore_posts", [post, active])

    assert fresh(post).state == Post.State.ACTIVE
    assert events("post.restored") == [{"post_id": post.id, "author_id": alice.id}]
    assert shown_messages(response) == [
        ("success", "1 post restored."),
        ("warning", "1 post was already active."),
    ]


def test_action_shows_service_errors(admin_client, alice):
    deleted = post_create(author=alice, text="gone")
    post_delete(post=deleted, actor=alice)
    archived = post_create(author=alice, text="archived")
    post_archive(post=archived)

    response = run_action(admin_client, "restore_posts", [deleted, archived])

    assert fresh(deleted).state == Post.State.DELETED
    assert fresh(archived).state == Post.State.ACTIVE
    assert shown_messages(response) == [
        ("error", f"Post {deleted.pk}: A post deleted by its author cannot be restored."),
        ("success", "1 post restored."),
    ]

    response = run_action(admin_client, "archive_posts", [deleted])

    assert fresh(deleted).state == Post.State.DELETED
    assert shown_messages(response) == [
        ("error", f"Post {deleted.pk}: Only an active post can be archived."),
    ]
    assert len(events("post.archived")) == 1


def test_restore_action_leaves_moderation_removals_to_the_moderation_admin(admin_client, alice):
    post = post_create(author=alice, text="removed by votes")
    post_remove(post=post)

    response = run_action(admin_client, "restore_posts", [post])

    assert fresh(post).state == Post.State.REMOVED
    assert events("post.restored") == []
    [(level, message)] = shown_messages(response)
    assert level == "error"
    assert "community moderation" in message


def test_actions_need_the_change_permission(client, alice):
    staff = local_account("staffer")
    staff.user.is_staff = True
    staff.user.save(update_fields=["is_staff"])
    staff.user.user_permissions.add(Permission.objects.get(codename="view_post"))
    client.force_login(staff.user)
    post = post_create(author=alice, text="x")

    page = client.get(reverse(CHANGELIST))
    response = run_action(client, "archive_posts", [post])

    assert page.status_code == 200
    assert "Archive selected posts" not in page.content.decode()
    assert fresh(post).state == Post.State.ACTIVE
    assert events("post.archived") == []
    assert response.status_code == 200
