"""The read-only Django admin lists of likes, boosts and bookmarks."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ourvoice.interactions.models import Bookmark, Like, Repost
from ourvoice.interactions.services import bookmark_create, like_create, repost_create
from tests.factories import RemoteAccountFactory

pytestmark = pytest.mark.django_db

MODELS = [Like, Repost, Bookmark]


def url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:interactions_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def rows(alice, bob, remote, post_of):
    """bob and the remote actor each like, boost and bookmark one of alice's posts."""
    post = post_of(alice, "popular")
    like_create(account=bob, post=post)
    like_create(account=remote, post=post, uri="https://remote.example/likes/9")
    repost_create(account=bob, post=post)
    repost_create(account=remote, post=post, uri="https://remote.example/announces/9")
    bookmark_create(account=bob, post=post)
    bookmark_create(account=remote, post=post)
    return post


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_lists_and_searches(admin_client, rows, model):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "rita@remote.example" in body
    assert ">bob<" in body

    response = admin_client.get(url(model, "changelist"), {"q": "rita"})
    body = response.content.decode()
    assert "rita@remote.example" in body
    assert ">bob<" not in body

    response = admin_client.get(url(model, "changelist"), {"q": str(rows.id)})
    assert response.context["cl"].result_count == 2


def test_like_and_repost_lists_show_the_activity_ids(admin_client, rows):
    for model, remote_uri in ((Like, "likes/9"), (Repost, "announces/9")):
        body = admin_client.get(url(model, "changelist")).content.decode()
        assert f"https://remote.example/{remote_uri}" in body
        assert "https://testserver/users/bob/" in body


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_read_only(admin_client, rows, model):
    row = model.objects.first()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.get(url(model, "change", row.pk)).status_code == 200  # view only
    assert admin_client.post(url(model, "change", row.pk), {}).status_code == 403
    assert admin_client.post(url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    response = admin_client.get(url(model, "changelist"))
    assert "delete_selected" not in response.content.decode()
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, alice, post_of, model):
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url(model, "changelist")).status_code == 200
        return len(ctx.captured_queries)

    post = post_of(alice)
    create = {Like: like_create, Repost: repost_create, Bookmark: bookmark_create}[model]
    create(account=RemoteAccountFactory(), post=post)
    one = queries()
    for _ in range(10):
        create(account=RemoteAccountFactory(), post=post_of(alice))
    assert queries() == one
