"""Public HTML pages: hashtag, about, remote-interaction help (no JavaScript, all escaped)."""

from __future__ import annotations

import pytest

from ourvoice.posts.services import post_delete
from tests.factories import RemoteAccountFactory
from tests.federation.views.conftest import BASE

pytestmark = pytest.mark.django_db


def html_of(response, status=200):
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Vary"] == "Accept"
    html = response.content.decode()
    assert "<script" not in html.lower()
    return html


def test_tag_page_lists_public_posts_with_the_tag(client, alice, post_of):
    post_of(alice, "first #Fedi post")
    post_of(alice, "unlisted #fedi post", visibility="unlisted")
    post_of(alice, "private #fedi post", visibility="private")
    post_of(alice, "other #tag post")
    gone = post_of(alice, "deleted #fedi post")
    post_delete(post=gone, actor=alice)
    html = html_of(client.get("/tags/fedi"))
    assert "#fedi" in html
    assert "first" in html
    assert "unlisted #fedi" not in html  # public timelines leave unlisted posts out
    assert "private #fedi" not in html
    assert "other" not in html
    assert "deleted #fedi" not in html
    assert "first" in html_of(client.get("/tags/FEDI"))


def test_tag_page_escapes_the_name(client, db):
    html = html_of(client.get("/tags/%3Cscript%3Ealert(1)"))
    assert "&lt;script&gt;alert(1)" in html


def test_tag_page_shows_remote_authors_safely(client, db):
    from ourvoice.posts.models import Hashtag, Post

    author = RemoteAccountFactory(
        display_name="<img src=x onerror=alert(1)>", url="javascript:alert(1)"
    )
    post = Post.objects.create(
        author=author,
        content="<p>remote <script>alert(1)</script>#news</p>",
        uri=f"{author.uri}/statuses/1",
        url="javascript:alert(2)",
        local=False,
    )
    post.hashtags.add(Hashtag.objects.create(name="news"))
    html = html_of(client.get("/tags/news"))
    assert "javascript:" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<p>remote" in html


def test_about_page(client, alice, post_of):
    post_of(alice, "counted")
    html = html_of(client.get("/about"))
    assert "testserver" in html
    assert "1 people" in html
    assert "1 posts" in html
    assert f'href="{BASE}/@moderation"' in html
    assert f'<link rel="alternate" type="application/activity+json" href="{BASE}/actor">' in html


def test_authorize_interaction(client, alice):
    html = html_of(client.get("/authorize_interaction?uri=https://remote.example/notes/%3Cb%3E"))
    assert "https://remote.example/notes/&lt;b&gt;" in html
    profile = html_of(client.get("/authorize_interaction?uri=acct:alice@testserver"))
    assert "@alice@testserver" in profile
    assert "uri" in html_of(client.get("/authorize_interaction"))


def test_pages_missing(client, db):
    html_of(client.get("/@nobody", HTTP_ACCEPT="text/html"), status=404)
    html_of(client.get("/@nobody/123", HTTP_ACCEPT="text/html"), status=404)
