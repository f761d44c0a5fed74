"""JSON-LD offline: bundled contexts only, reshaping keywords refused, AS2 accessors, origins.

Advisories covered: GHSA-9rfg-v8g9-9367 / Mastodon CVE-2026-46349 (documents reshaped with
`@graph`, `@reverse`, `@included`), Mastodon CVE-2023-42451 (domain-normalisation spoofing).
"""

from __future__ import annotations

import json
import socket

import pytest
from pyld import jsonld as pyld

from federation import jsonld
from federation.jsonld import (
    BUNDLED_CONTEXTS,
    CONTEXTS_DIR,
    PUBLIC,
    ContextNotAllowed,
    UnsafeDocument,
    as_list,
    expand,
    first_id,
    is_public,
    origin_of,
    pinned_document_loader,
    reject_reshaping_keywords,
    same_origin,
)

AS = "https://www.w3.org/ns/activitystreams#"

MASTODON_NOTE = {
    "@context": [
        "https://www.w3.org/ns/activitystreams",
        {
            "ostatus": "http://ostatus.org#",
            "atomUri": "ostatus:atomUri",
            "inReplyToAtomUri": "ostatus:inReplyToAtomUri",
            "conversation": "ostatus:conversation",
            "sensitive": "as:sensitive",
            "toot": "http://joinmastodon.org/ns#",
            "votersCount": "toot:votersCount",
            "blurhash": "toot:blurhash",
            "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
            "Hashtag": "as:Hashtag",
        },
    ],
    "id": "https://mastodon.example/users/alice/statuses/109",
    "type": "Note",
    "summary": None,
    "inReplyTo": None,
    "published": "2026-07-01T10:00:00Z",
    "url": "https://mastodon.example/@alice/109",
    "attributedTo": "https://mastodon.example/users/alice",
    "to": ["https://www.w3.org/ns/activitystreams#Public"],
    "cc": ["https://mastodon.example/users/alice/followers", "https://ourvoice.example/users/bob"],
    "sensitive": False,
    "atomUri": "https://mastodon.example/users/alice/statuses/109",
    "conversation": "tag:mastodon.example,2026-07-01:objectId=1:objectType=Conversation",
    "content": '<p>Hello <span class="h-card"><a href="https://ourvoice.example/@bob">@bob</a></span></p>',
    "contentMap": {"en": "<p>Hello</p>"},
    "attachment": [
        {
            "type": "Document",
            "mediaType": "image/png",
            "url": "https://files.mastodon.example/a.png",
            "name": "alt text",
            "blurhash": "UAAAA",
            "focalPoint": [0.0, 0.0],
            "width": 10,
            "height": 10,
        }
    ],
    "tag": [
        {
            "type": "Mention",
            "href": "https://ourvoice.example/users/bob",
            "name": "@bob@ourvoice.example",
        },
        {"type": "Hashtag", "href": "https://mastodon.example/tags/ourvoice", "name": "#ourvoice"},
    ],
    "replies": {
        "id": "https://mastodon.example/users/alice/statuses/109/replies",
        "type": "Collection",
        "first": {
            "type": "CollectionPage",
            "next": "https://mastodon.example/users/alice/statuses/109/replies?page=true",
            "partOf": "https://mastodon.example/users/alice/statuses/109/replies",
            "items": [],
        },
    },
}


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly if anything tries to open a socket or resolve a name."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- Bundled contexts and the pinned loader -----------------------------------------------------


@pytest.mark.parametrize("url", sorted(BUNDLED_CONTEXTS))
def test_every_bundled_context_is_valid_json_ld(url, no_network):
    document = json.loads((CONTEXTS_DIR / BUNDLED_CONTEXTS[url]).read_text())
    assert isinstance(document["@context"], dict)
    # pyld processes it as a context without fetching anything.
    expanded = expand({"@context": url, "id": "https://a.example/x", "type": "Object"})
    assert expanded[0]["@id"] == "https://a.example/x"


def test_activitystreams_context_defines_the_usual_terms():
    context = jsonld.bundled_context("https://www.w3.org/ns/activitystreams")["@context"]
    for term in (
        "Public",
        "sensitive",
        "manuallyApprovesFollowers",
        "Hashtag",
        "Note",
        "Create",
        "inbox",
        "sharedInbox",
        "alsoKnownAs",
        "movedTo",
        "Tombstone",
        "formerType",
    ):
        assert term in context, term


@pytest.mark.parametrize(
    "url",
    [
        "https://www.w3.org/ns/activitystreams",
        "http://www.w3.org/ns/activitystreams",
        "https://www.w3.org/ns/activitystreams#",
        "https://www.w3.org/ns/activitystreams.jsonld",
        "http://w3id.org/security/v1",
        "https://w3id.org/security/v1/",
        "https://w3id.org/identity/v1",
        "https://w3id.org/security/data-integrity/v1",
        "https://w3id.org/security/multikey/v1",
        "https://www.w3.org/ns/did/v1",
    ],
)
def test_loader_serves_bundled_variants(url, no_network):
    remote = pinned_document_loader(url)
    assert remote["documentUrl"] == url
    assert "@context" in remote["document"]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/context.jsonld",
        "https://www.w3.org/ns/activitystreams/../../evil",
        "https://w3id.org/security/v2",
        "https://www.w3.org/ns/activitystreams?x=1",
        "file:///etc/passwd",
        "",
    ],
)
def test_loader_refuses_everything_else(url, no_network):
    with pytest.raises(ContextNotAllowed) as info:
        pinned_document_loader(url)
    assert isinstance(info.value, pyld.JsonLdError)


def test_loader_returns_a_fresh_copy():
    first = pinned_document_loader("https://w3id.org/security/v1")["document"]
    first["@context"]["publicKeyPem"] = "tampered"
    again = pinned_document_loader("https://w3id.org/security/v1")["document"]
    assert again["@context"]["publicKeyPem"] == "sec:publicKeyPem"


def test_expand_mastodon_note_offline(no_network):
    [note] = expand(MASTODON_NOTE)
    assert note["@id"] == MASTODON_NOTE["id"]
    assert note["@type"] == [f"{AS}Note"]
    assert note[f"{AS}to"] == [{"@id": PUBLIC}]
    assert note[f"{AS}sensitive"] == [{"@value": False}]
    assert note[f"{AS}attributedTo"] == [{"@id": "https://mastodon.example/users/alice"}]
    tags = note[f"{AS}tag"]
    assert {t["@type"][0] for t in tags} == {f"{AS}Mention", f"{AS}Hashtag"}
    assert note[f"{AS}content"][0] == {"@value": MASTODON_NOTE["content"]}
    assert {"@value": "<p>Hello</p>", "@language": "en"} in note[f"{AS}content"]
    [attachment] = note[f"{AS}attachment"]
    assert attachment[f"{AS}mediaType"] == [{"@value": "image/png"}]
    focal_point = attachment["http://joinmastodon.org/ns#focalPoint"]
    assert focal_point == [{"@list": [{"@value": 0.0}, {"@value": 0.0}]}]


def test_expand_actor_with_security_context(no_network):
    actor = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": "https://mastodon.example/users/alice",
        "type": "Person",
        "manuallyApprovesFollowers": True,
        "publicKey": {
            "id": "https://mastodon.example/users/alice#main-key",
            "owner": "https://mastodon.example/users/alice",
            "publicKeyPem": "-----BEGIN PUBLIC KEY-----\n...",
        },
    }
    [expanded] = expand(actor)
    assert expanded[f"{AS}manuallyApprovesFollowers"] == [{"@value": True}]
    key = expanded["https://w3id.org/security#publicKey"][0]
    assert key["https://w3id.org/security#owner"] == [{"@id": actor["id"]}]


def test_expand_refuses_unknown_context_without_network(no_network):
    document = {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://evil.example/ctx"],
        "type": "Note",
    }
    with pytest.raises(ContextNotAllowed) as info:
        expand(document)
    assert info.value.url == "https://evil.example/ctx"


def test_expand_refuses_a_url_instead_of_a_document(no_network):
    with pytest.raises(TypeError):
        expand("https://evil.example/note")  # type: ignore[arg-type]


# --- Reshaping keywords -------------------------------------------------------------------------


def _nest(value, depth):
    for _ in range(depth):
        value = {"object": value}
    return value


@pytest.mark.parametrize("keyword", ["@graph", "@reverse", "@included", "@nest"])
@pytest.mark.parametrize("depth", [0, 1, 5, 20])
def test_reshaping_keywords_refused_at_any_depth(keyword, depth):
    document = {"@context": "https://www.w3.org/ns/activitystreams", "type": "Create"}
    document["object"] = _nest({keyword: [{"id": "https://evil.example/x"}]}, depth)
    with pytest.raises(UnsafeDocument):
        reject_reshaping_keywords(document)
    with pytest.raises(UnsafeDocument):
        expand(document)


def test_reshaping_keyword_inside_a_list():
    document = {"type": "Create", "object": [{"id": "a"}, {"tag": [{"@reverse": {}}]}]}
    with pytest.raises(UnsafeDocument):
        reject_reshaping_keywords(document)


@pytest.mark.parametrize(
    "context",
    [
        {"g": "@graph"},
        {"r": {"@reverse": "as:actor"}},
        {"p": {"@id": "as:object", "@container": "@graph"}},
        {"n": "@nest"},
    ],
)
def test_keyword_aliases_in_inline_contexts_are_refused(context):
    document = {"@context": ["https://www.w3.org/ns/activitystreams", context], "type": "Note"}
    with pytest.raises(UnsafeDocument):
        reject_reshaping_keywords(document)


def test_keyword_spelling_in_content_is_fine():
    document = {"type": "Note", "content": "I love @graph and @nest"}
    reject_reshaping_keywords(document)


def test_depth_limit():
    reject_reshaping_keywords(_nest("x", 31))
    with pytest.raises(UnsafeDocument, match="deeper"):
        reject_reshaping_keywords(_nest("x", 40))
    deep_list: object = "x"
    for _ in range(100):
        deep_list = [deep_list]
    with pytest.raises(UnsafeDocument):
        reject_reshaping_keywords(deep_list)


def test_a_mastodon_note_is_not_refused():
    reject_reshaping_keywords(MASTODON_NOTE)


# --- Tolerant accessors -------------------------------------------------------------------------


def test_as_list():
    assert as_list(None) == []
    assert as_list("a") == ["a"]
    assert as_list(["a", "b"]) == ["a", "b"]
    assert as_list({"id": "a"}) == [{"id": "a"}]
    original = ["a"]
    assert as_list(original) is not original


def test_first_id():
    assert first_id("https://a.example/1") == "https://a.example/1"
    assert first_id({"id": "https://a.example/1", "type": "Note"}) == "https://a.example/1"
    assert first_id({"@id": "https://a.example/1"}) == "https://a.example/1"
    assert first_id([{"type": "Note"}, "https://a.example/2"]) == "https://a.example/2"
    assert first_id({"type": "Note"}) is None
    assert first_id({"id": 5}) is None
    assert first_id("") is None
    assert first_id(None) is None
    assert first_id(42) is None


@pytest.mark.parametrize(
    "addressees",
    [
        "https://www.w3.org/ns/activitystreams#Public",
        "as:Public",
        "Public",
        ["https://a.example/users/x/followers", "as:Public"],
        [{"id": "https://www.w3.org/ns/activitystreams#Public"}],
    ],
)
def test_public_spellings(addressees):
    assert is_public(addressees)


@pytest.mark.parametrize(
    "addressees",
    [
        None,
        [],
        "https://a.example/users/x/followers",
        ["https://www.w3.org/ns/activitystreams#public"],
        ["https://www.w3.org/ns/activitystreams"],
        ["https://evil.example/Public"],
    ],
)
def test_not_public(addressees):
    assert not is_public(addressees)


def test_is_public_over_to_and_cc():
    assert is_public(["https://a.example/users/x/followers"], ["as:Public"])
    assert not is_public(["https://a.example/users/x/followers"], None)


# --- Origins (Mastodon CVE-2023-42451) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://mastodon.example/users/alice", "https://mastodon.example"),
        ("HTTPS://Mastodon.EXAMPLE/users/alice", "https://mastodon.example"),
        ("https://mastodon.example./users/alice", "https://mastodon.example"),
        ("https://mastodon.example:443/users/alice", "https://mastodon.example"),
        ("http://mastodon.example:80/", "http://mastodon.example"),
        ("https://mastodon.example:8443/x", "https://mastodon.example:8443"),
        ("https://mastodon.example:80/x", "https://mastodon.example:80"),
        ("http://mastodon.example:443/x", "http://mastodon.example:443"),
        ("https://bücher.example/@a", "https://xn--bcher-kva.example"),
        ("https://BÜCHER.example./@a", "https://xn--bcher-kva.example"),
        ("https://xn--bcher-kva.example/@a", "https://xn--bcher-kva.example"),
        ("https://[0:0:0:0:0:0:0:1]:8443/", "https://[::1]:8443"),
        ("https://127.0.0.1:8000/users/a", "https://127.0.0.1:8000"),
    ],
)
def test_origin_normalisation(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "url",
    [
        "ftp://mastodon.example/",
        "acct:alice@mastodon.example",
        "https://user:pass@mastodon.example/",
        "https://evil.example\\@mastodon.example/",
        "https://mastodon.example /x",
        "https:///path",
        "https://mastodon.example:99999/",
        "https://mastodon.example:abc/",
        "https://exa%6dple.com/",
        "https://a..example/",
        "//mastodon.example/x",
        "",
    ],
)
def test_origin_refuses_garbage(url):
    with pytest.raises(ValueError):
        origin_of(url)


def test_same_origin():
    assert same_origin("https://Bücher.example./a", "https://xn--bcher-kva.example:443/b")
    assert same_origin("https://a.example/users/x", "https://A.EXAMPLE/statuses/1")
    assert not same_origin("https://a.example/x", "https://a.example:8443/x")
    assert not same_origin("https://a.example/x", "http://a.example/x")
    assert not same_origin("https://a.example/x", "https://b.example/x")
    assert not same_origin("https://a.example.evil.example/x", "https://a.example/x")
    assert not same_origin("https://user@a.example/x", "https://a.example/x")
    assert not same_origin("nonsense", "nonsense")
