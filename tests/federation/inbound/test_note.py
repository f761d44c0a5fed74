"""note_import: the AS2 → post mapping (conversions, language, media metadata, limits)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from federation.inbound.errors import Ignore, Reject
from federation.inbound.note import note_import
from ourvoice.posts.models import MediaAttachment

pytestmark = pytest.mark.django_db

AUTHOR = "https://wp.example/author/jo"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@pytest.fixture
def jo(db):
    from tests.federation.inbound.conftest import remote_actor

    return remote_actor(AUTHOR)


def note(**fields) -> dict:
    return {
        "id": "https://wp.example/2025/03/notes/1",
        "type": "Note",
        "attributedTo": AUTHOR,
        "to": [PUBLIC],
        "content": "<p>hello</p>",
        **fields,
    }


def imported(obj: dict):
    with transaction.atomic():
        return note_import(obj, fetched_by_id=True)


def test_article_gets_its_name_and_link_in_front(jo):
    post = imported(
        note(
            type="Article",
            name="On <tides>",
            url=[
                {
                    "type": "Link",
                    "mediaType": "application/pdf",
                    "href": "https://wp.example/a.pdf",
                },
                {"type": "Link", "mediaType": "text/html", "href": "https://wp.example/tides"},
            ],
            summary="An abstract, not a content warning",
            content="<p>Body text</p>",
        )
    )

    assert post.content.startswith("<p><strong>On &lt;tides&gt;</strong></p>")
    assert '<a href="https://wp.example/tides"' in post.content
    assert post.content.endswith("<p>Body text</p>")
    assert post.url == "https://wp.example/tides"
    assert post.spoiler_text == ""


def test_question_lists_its_options(jo):
    post = imported(
        note(
            type="Question",
            content="<p>Best knot?</p>",
            oneOf=[
                {"type": "Note", "name": "Bowline", "replies": {"totalItems": 3}},
                {"type": "Note", "name": "<b>Clove</b> hitch"},
            ],
        )
    )

    assert "<p>Best knot?</p>" in post.content
    assert "<li>Bowline</li>" in post.content
    assert "<li>&lt;b&gt;Clove&lt;/b&gt; hitch</li>" in post.content


def test_language_and_content_from_content_map(jo):
    post = imported(note(content=None, contentMap={"de": "<p>Hallo</p>", "en": "<p>Hi</p>"}))

    assert post.content == "<p>Hallo</p>"
    assert post.language == "de"


def test_junk_language_is_dropped(jo):
    post = imported(note(contentMap={"<script>": "<p>hello</p>"}))

    assert post.language == ""


def test_attachment_metadata_mapping(jo):
    post = imported(
        note(
            attachment=[
                {"type": "Document", "mediaType": "video/mp4", "url": "https://wp.example/v.mp4"},
                {"type": "Audio", "url": [{"type": "Link", "href": "https://wp.example/a.ogg"}]},
                {"type": "Link", "href": "https://news.example/article"},
                {"type": "PropertyValue", "name": "x", "value": "y"},
                {"type": "Image", "url": "javascript:alert(1)"},
                {
                    "type": "Image",
                    "url": "https://wp.example/i.png",
                    "focalPoint": [5, -7],
                    "blurhash": "<not a blurhash>",
                    "width": "wide",
                    "height": -3,
                    "name": "<b>alt</b>",
                },
            ]
        )
    )

    video, audio, image = post.media.order_by("position")
    assert (video.type, video.mime_type) == (MediaAttachment.Type.VIDEO, "video/mp4")
    assert (audio.type, audio.remote_url) == (
        MediaAttachment.Type.AUDIO,
        "https://wp.example/a.ogg",
    )
    assert image.type == MediaAttachment.Type.IMAGE
    assert (image.focus_x, image.focus_y) == (1.0, -1.0)
    assert image.blurhash == ""
    assert (image.width, image.height) == (None, None)
    assert image.description == "alt"


def test_attachments_are_capped(jo):
    many = [{"type": "Image", "url": f"https://wp.example/{n}.png"} for n in range(40)]

    post = imported(note(attachment=many))

    assert post.media.count() == 16


def test_hashtag_names_are_cleaned(jo):
    post = imported(
        note(
            tag=[
                {"type": "Hashtag", "name": "#Sailing"},
                {"type": "Hashtag", "name": "sailing"},
                {"type": "Hashtag", "name": "#not a tag"},
                {"type": "Hashtag", "name": "#<script>"},
                {"type": "Hashtag"},
                "#junk",
            ]
        )
    )

    assert list(post.hashtags.values_list("name", flat=True)) == ["sailing"]


def test_times_are_bounded(jo):
    future = (timezone.now() + timedelta(days=30)).isoformat()
    post = imported(note(published=future, updated="2001-01-01T00:00:00Z"))

    assert post.published_at <= timezone.now()
    assert post.edited_at is None  # an `updated` before `published` is no edit


def test_object_of_another_origin_than_its_author_is_rejected(jo):
    with pytest.raises(Reject):
        imported(note(id="https://elsewhere.example/notes/1"))


def test_unsupported_type_is_ignored(jo):
    with pytest.raises(Ignore):
        imported(note(type="Event"))


def test_unknown_author_that_cannot_be_resolved_is_rejected(db):
    with pytest.raises(Reject):
        imported(note())
