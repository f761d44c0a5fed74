"""federation.fetch: signed GETs, document validation, actors, WebFinger and keys."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from federation import signatures
from federation.fetch import (
    FetchBlocked,
    FetchGone,
    FetchRefused,
    FetchTransient,
    actor_resolve,
    is_activity_content_type,
    key_resolve,
    object_fetch,
    signed_get,
    webfinger_resolve,
)
from federation.models import Instance
from federation.policy import DomainBlocked, policy_cache_clear
from federation.signatures import KeyUnavailable
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get
from tests.factories import local_account
from tests.federation.remote import (
    ACTIVITY_JSON,
    LD_JSON,
    PUBLIC_KEY,
    Remote,
    other_keypair,
    reset_caches,
    stub_dns,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def dns(monkeypatch):
    return stub_dns(monkeypatch)


@pytest.fixture
def remote(httpx_mock, dns):
    return Remote(httpx_mock)


# --- Content types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("application/activity+json", True),
        ("application/activity+json; charset=utf-8", True),
        ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', True),
        ("Application/LD+JSON;profile=https://www.w3.org/ns/activitystreams", True),
        (
            'application/ld+json; profile="https://example.org/x https://www.w3.org/ns/activitystreams"',
            True,
        ),
        ("application/ld+json", False),
        ('application/ld+json; profile="https://example.org/other"', False),
        ("application/json", False),
        ("text/html; charset=utf-8", False),
        ("", False),
    ],
)
def test_activity_content_types(value, accepted):
    assert is_activity_content_type(value) is accepted


# --- signed_get / object_fetch --------------------------------------------------------------------


def test_signed_get_is_signed_by_the_instance_actor(remote, httpx_mock):
    remote.serve("https://remote.example/notes/1", {"id": "https://remote.example/notes/1"})

    signed_get("https://remote.example/notes/1")

    request = httpx_mock.get_requests()[0]
    instance = system_actor_get(role=Account.Role.INSTANCE)
    verified = signatures.verify_request(
        method="GET",
        path=request.url.raw_path.decode(),
        headers=dict(request.headers),
        body=None,
        key_resolver=lambda key_id, refresh: (instance.public_key_pem, key_id),
    )
    assert verified.owner == instance.key_id
    assert request.headers["Accept"] == signatures.AP_ACCEPT
    assert request.headers["User-Agent"].startswith("OURVoice/")


def test_object_fetch_returns_the_document(remote):
    note = remote.note("alice")
    remote.serve(note["id"], note)
    assert object_fetch(note["id"]) == note


def test_object_fetch_accepts_the_ld_json_profile(remote):
    note = remote.note("alice")
    remote.serve(note["id"], note, content_type=LD_JSON)
    assert object_fetch(note["id"])["id"] == note["id"]


def test_object_fetch_drops_the_fragment(remote):
    note = remote.note("alice")
    remote.serve(note["id"], note)
    assert object_fetch(note["id"] + "#part")["id"] == note["id"]


@pytest.mark.parametrize("content_type", ["application/json", "text/html", "application/ld+json"])
def test_non_activity_content_types_are_refused(remote, content_type):
    note = remote.note("alice")
    remote.serve(note["id"], note, content_type=content_type)
    with pytest.raises(FetchRefused, match="not an ActivityPub document"):
        object_fetch(note["id"])


def test_declared_id_on_the_same_origin_is_fetched_once(remote, httpx_mock):
    note = remote.note("alice")
    remote.serve("https://remote.example/@alice/1", note)
    remote.serve(note["id"], note)

    assert object_fetch("https://remote.example/@alice/1")["id"] == note["id"]
    assert [str(r.url) for r in httpx_mock.get_requests()] == [
        "https://remote.example/@alice/1",
        note["id"],
    ]


def test_declared_id_must_match_on_the_second_fetch(remote):
    remote.serve("https://remote.example/a", {"id": "https://remote.example/b"})
    remote.serve("https://remote.example/b", {"id": "https://remote.example/c"})
    with pytest.raises(FetchRefused, match="declares another id"):
        object_fetch("https://remote.example/a")


def test_declared_id_on_another_origin_is_refused_without_fetching_it(remote, httpx_mock):
    remote.serve("https://remote.example/a", {"id": "https://victim.example/users/admin"})
    with pytest.raises(FetchRefused, match="declares another id"):
        object_fetch("https://remote.example/a")
    assert len(httpx_mock.get_requests()) == 1


def test_redirect_to_another_host_is_refused(remote):
    remote.httpx_mock.add_response(
        url="https://remote.example/a",
        status_code=302,
        headers={"Location": "https://cdn.example/a"},
    )
    remote.serve("https://cdn.example/a", {"id": "https://remote.example/a"})
    with pytest.raises(FetchRefused, match="another host"):
        object_fetch("https://remote.example/a")


def test_redirect_on_the_same_host_is_followed(remote):
    remote.httpx_mock.add_response(
        url="https://remote.example/a",
        status_code=301,
        headers={"Location": "https://remote.example/b"},
    )
    remote.serve("https://remote.example/b", {"id": "https://remote.example/b"})
    assert object_fetch("https://remote.example/a")["id"] == "https://remote.example/b"


def test_too_many_redirects_are_refused(remote):
    for hop in range(7):
        remote.httpx_mock.add_response(
            url=f"https://remote.example/{hop}",
            status_code=302,
            headers={"Location": f"https://remote.example/{hop + 1}"},
            is_optional=True,
        )
    with pytest.raises(FetchRefused, match="TooManyRedirects"):
        object_fetch("https://remote.example/0")


@pytest.mark.parametrize(
    ("status", "error"),
    [(410, FetchGone), (404, FetchRefused), (403, FetchRefused), (503, FetchTransient)],
)
def test_status_codes(remote, status, error):
    remote.serve("https://remote.example/a", {"error": "x"}, status=status)
    with pytest.raises(error):
        object_fetch("https://remote.example/a")


def test_timeouts_are_transient(remote):
    remote.httpx_mock.add_exception(httpx.ReadTimeout("slow"), url="https://remote.example/a")
    with pytest.raises(FetchTransient):
        object_fetch("https://remote.example/a")


def test_transient_errors_are_not_refusals():
    """Handlers that drop an activity on FetchRefused must let a timeout through (retry)."""
    assert not issubclass(FetchTransient, FetchRefused)
    assert issubclass(FetchBlocked, FetchRefused)
    assert issubclass(FetchBlocked, DomainBlocked)


def test_oversized_documents_are_refused(remote):
    big = b'{"id": "https://remote.example/a", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    remote.serve("https://remote.example/a", big)
    with pytest.raises(FetchRefused, match="TooLarge"):
        object_fetch("https://remote.example/a")


@pytest.mark.parametrize(
    "document",
    [
        b"[]",
        b"not json",
        b'{"type": "Note"}',
        b'{"id": "https://remote.example/a", "@graph": []}',
        b'{"id": "https://remote.example/a", "object": {"@reverse": {}}}',
    ],
)
def test_unusable_documents_are_refused(remote, document):
    remote.serve("https://remote.example/a", document)
    with pytest.raises(FetchRefused):
        object_fetch("https://remote.example/a")


def test_suspended_domains_are_never_fetched(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    with pytest.raises(FetchBlocked):
        object_fetch("https://sub.remote.example/a")
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("url", ["ftp://remote.example/a", "https://user:pw@remote.example/a", ""])
def test_bad_urls_are_refused(remote, httpx_mock, url):
    with pytest.raises(FetchRefused):
        object_fetch(url)
    assert httpx_mock.get_requests() == []


# --- Actors ---------------------------------------------------------------------------------------


def test_actor_resolve_stores_the_actor(remote):
    document = remote.actor_document(
        "alice",
        name="Alice\u202e \x00Liddell",
        summary='<p>Hi <script>alert(1)</script><a href="javascript:x">x</a></p>',
        icon={"type": "Image", "url": "https://media.remote.example/a.png"},
        image=[{"type": "Image", "url": {"href": "https://media.remote.example/h.png"}}],
        featured="https://remote.example/users/alice/collections/featured",
        manuallyApprovesFollowers=True,
        discoverable=True,
        indexable=True,
        published="2020-01-02T03:04:05Z",
        attachment=[
            {"type": "PropertyValue", "name": "Site", "value": "<b>x</b><script>1</script>"}
        ],
        url=[
            {
                "type": "Link",
                "mediaType": "application/activity+json",
                "href": "https://x.example/j",
            },
            {"type": "Link", "mediaType": "text/html", "href": "https://remote.example/@alice"},
        ],
    )
    remote.serve(remote.actor_id("alice"), document)

    alice = actor_resolve(remote.actor_id("alice"))

    assert alice.username == "alice"
    assert alice.domain == "remote.example"
    assert alice.display_name == "Alice Liddell"
    assert "script" not in alice.note
    assert "javascript" not in alice.note
    assert alice.note.startswith("<p>Hi")
    assert alice.fields == [{"name": "Site", "value": "<b>x</b>"}]
    assert alice.avatar_url == "https://media.remote.example/a.png"
    assert alice.header_url == "https://media.remote.example/h.png"
    assert alice.url == "https://remote.example/@alice"
    assert alice.inbox_uri == "https://remote.example/users/alice/inbox"
    assert alice.shared_inbox_uri == "https://remote.example/inbox"
    assert alice.outbox_uri.endswith("/outbox")
    assert alice.followers_uri.endswith("/followers")
    assert alice.following_uri.endswith("/following")
    assert alice.featured_uri.endswith("/collections/featured")
    assert alice.key_id == remote.key_id("alice")
    assert alice.public_key_pem.strip() == PUBLIC_KEY.strip()
    assert alice.locked is True
    assert alice.discoverable is True
    assert alice.indexable is True
    assert alice.bot is False
    assert alice.created_at == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert alice.fetched_at is not None
    assert alice.silenced_at is None


@pytest.mark.parametrize(
    ("kind", "bot"), [("Service", True), ("Application", True), ("Group", False)]
)
def test_actor_types(remote, kind, bot):
    remote.serve_actor("alice", type=kind)
    alice = actor_resolve(remote.actor_id("alice"))
    assert (alice.kind, alice.bot) == (kind, bot)


def test_actor_update_keeps_first_seen(remote):
    remote.serve_actor("alice")
    first = actor_resolve(remote.actor_id("alice"))
    Account.objects.filter(pk=first.pk).update(
        first_seen_at=timezone.now() - timedelta(days=30), fetched_at=None
    )

    again = actor_resolve(remote.actor_id("alice"), refresh=True)

    assert again.pk == first.pk
    assert timezone.now() - again.first_seen_at > timedelta(days=29)
    assert Account.objects.filter(uri=remote.actor_id("alice")).count() == 1


def test_fresh_actor_is_not_refetched(remote, httpx_mock):
    remote.serve_actor("alice")
    actor_resolve(remote.actor_id("alice"))
    actor_resolve(remote.actor_id("alice"))
    assert len(httpx_mock.get_requests()) == 1


def test_stale_actor_is_refetched(remote, httpx_mock):
    remote.serve_actor("alice", name="New name")
    alice = actor_resolve(remote.actor_id("alice"))
    Account.objects.filter(pk=alice.pk).update(
        display_name="Old", fetched_at=timezone.now() - timedelta(hours=25)
    )
    assert actor_resolve(remote.actor_id("alice")).display_name == "New name"
    assert len(httpx_mock.get_requests()) == 2


def test_stale_actor_survives_a_failed_refetch(remote):
    remote.serve(remote.actor_id("alice"), {"error": "down"}, status=503)
    stale = Account.objects.create(
        username="alice",
        domain="remote.example",
        uri=remote.actor_id("alice"),
        fetched_at=timezone.now() - timedelta(days=3),
        updated_at=timezone.now() - timedelta(days=3),
    )
    assert actor_resolve(remote.actor_id("alice")) == stale
    with pytest.raises(FetchTransient):
        actor_resolve(remote.actor_id("alice"), refresh=True)


def test_gone_actor_is_suspended(remote):
    remote.serve_actor("alice")
    alice = actor_resolve(remote.actor_id("alice"))
    remote.httpx_mock.reset()
    remote.serve(remote.actor_id("alice"), {"type": "Tombstone"}, status=410)

    with pytest.raises(FetchGone):
        actor_resolve(remote.actor_id("alice"), refresh=True)
    alice.refresh_from_db()
    assert alice.is_suspended


def test_key_owned_by_someone_else_is_not_stored(remote):
    remote.serve_actor("alice", key_owner="https://remote.example/users/mallory")
    alice = actor_resolve(remote.actor_id("alice"))
    assert (alice.key_id, alice.public_key_pem) == ("", "")


def test_non_actor_documents_are_refused(remote):
    note = remote.note("alice")
    remote.serve(note["id"], note)
    with pytest.raises(FetchRefused, match="not an actor"):
        actor_resolve(note["id"])


def test_actor_without_preferred_username_is_refused(remote):
    document = remote.actor_document("alice")
    del document["preferredUsername"]
    remote.serve(remote.actor_id("alice"), document)
    with pytest.raises(FetchRefused):
        actor_resolve(remote.actor_id("alice"))
    assert not Account.objects.filter(uri=remote.actor_id("alice")).exists()


def test_local_actor_ids_resolve_without_requests(httpx_mock):
    bob = local_account("bob")
    assert actor_resolve(bob.uri) == bob
    with pytest.raises(FetchRefused):
        actor_resolve(f"{settings.OURVOICE_BASE_URL}/users/nobody")
    assert httpx_mock.get_requests() == []


def test_silenced_domain_silences_its_accounts(remote):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SILENCE)
    remote.serve_actor("alice")
    assert actor_resolve(remote.actor_id("alice")).silenced_at is not None


def test_reject_media_drops_avatar_and_header(remote):
    Instance.objects.create(domain="remote.example", reject_media=True)
    remote.serve_actor(
        "alice",
        icon={"type": "Image", "url": "https://remote.example/a.png"},
        image={"type": "Image", "url": "https://remote.example/h.png"},
    )
    alice = actor_resolve(remote.actor_id("alice"))
    assert (alice.avatar_url, alice.header_url) == ("", "")


def test_recreated_actor_takes_over_its_old_row(remote):
    old = Account.objects.create(
        username="alice", domain="remote.example", uri="https://remote.example/u/alice-old"
    )
    remote.serve_actor("alice")
    alice = actor_resolve(remote.actor_id("alice"))
    assert alice.pk == old.pk
    assert alice.uri == remote.actor_id("alice")


def test_loopback_actor_keeps_its_port_as_domain(httpx_mock, monkeypatch, settings):
    """Federation on loopback: two instances on 127.0.0.1 differ by port only."""
    settings.OURVOICE_SCHEME = "http"
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = (ipaddress.ip_network("127.0.0.0/8"),)
    peer = Remote(httpx_mock, domain="127.0.0.1:8001", scheme="http")
    peer.serve_actor("alice")

    alice = actor_resolve(peer.actor_id("alice"))

    assert alice.domain == "127.0.0.1:8001"
    assert alice.acct == "alice@127.0.0.1:8001"


# --- WebFinger ----------------------------------------------------------------------------------


def _jrd(subject: str, href: str) -> dict:
    return {
        "subject": subject,
        "links": [
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": href},
            {"rel": "self", "type": "application/activity+json", "href": href},
        ],
    }


def _serve_webfinger(remote: Remote, domain: str, acct: str, href: str, scheme="https"):
    remote.httpx_mock.add_response(
        url=f"{scheme}://{domain}/.well-known/webfinger?resource=acct%3A{acct.replace('@', '%40')}",
        json=_jrd(f"acct:{acct}", href),
        headers={"Content-Type": "application/jrd+json"},
        is_reusable=True,
    )


def test_webfinger_resolve(remote, httpx_mock):
    _serve_webfinger(remote, "remote.example", "alice@remote.example", remote.actor_id("alice"))
    remote.serve_actor("alice")

    alice = webfinger_resolve("@alice@remote.example")

    assert alice.uri == remote.actor_id("alice")
    assert alice.acct == "alice@remote.example"
    assert len(httpx_mock.get_requests()) == 2


def test_webfinger_accepts_acct_uri_and_case(remote):
    _serve_webfinger(remote, "remote.example", "Alice@remote.example", remote.actor_id("alice"))
    remote.serve_actor("alice")
    assert webfinger_resolve("acct:Alice@Remote.Example").uri == remote.actor_id("alice")


def test_webfinger_split_domain_is_confirmed_by_a_round_trip(remote, httpx_mock):
    social = Remote(httpx_mock, domain="social.example")
    _serve_webfinger(remote, "example.com", "alice@example.com", social.actor_id("alice"))
    _serve_webfinger(remote, "social.example", "alice@social.example", social.actor_id("alice"))
    social.serve_actor("alice")

    alice = webfinger_resolve("alice@example.com")

    assert alice.uri == social.actor_id("alice")
    assert alice.domain == "social.example"
    assert len(httpx_mock.get_requests()) == 3


def test_webfinger_round_trip_must_point_back(remote, httpx_mock):
    """evil.example claims remote.example's alice: her server does not confirm it."""
    _serve_webfinger(remote, "evil.example", "ceo@evil.example", remote.actor_id("alice"))
    _serve_webfinger(
        remote, "remote.example", "alice@remote.example", "https://remote.example/users/other"
    )
    remote.serve_actor("alice")
    with pytest.raises(FetchRefused, match="round trip"):
        webfinger_resolve("ceo@evil.example")


def test_webfinger_uses_http_on_loopback(httpx_mock, monkeypatch, settings):
    settings.OURVOICE_SCHEME = "http"
    settings.OURVOICE_ALLOWED_PRIVATE_ADDRESSES = (ipaddress.ip_network("127.0.0.0/8"),)
    peer = Remote(httpx_mock, domain="127.0.0.1:8001", scheme="http")
    _serve_webfinger(
        peer, "127.0.0.1:8001", "alice@127.0.0.1:8001", peer.actor_id("alice"), scheme="http"
    )
    peer.serve_actor("alice")
    assert webfinger_resolve("alice@127.0.0.1:8001").domain == "127.0.0.1:8001"


def test_webfinger_falls_back_to_host_meta(remote):
    remote.httpx_mock.add_response(
        url="https://remote.example/.well-known/webfinger?resource=acct%3Aalice%40remote.example",
        status_code=404,
    )
    remote.httpx_mock.add_response(
        url="https://remote.example/.well-known/host-meta",
        text=(
            '<?xml version="1.0"?><XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">'
            '<Link rel="lrdd" template="https://remote.example/wf?r={uri}"/></XRD>'
        ),
        headers={"Content-Type": "application/xrd+xml"},
    )
    remote.httpx_mock.add_response(
        url="https://remote.example/wf?r=acct%3Aalice%40remote.example",
        json=_jrd("acct:alice@remote.example", remote.actor_id("alice")),
    )
    remote.serve_actor("alice")
    assert webfinger_resolve("alice@remote.example").uri == remote.actor_id("alice")


def test_webfinger_without_self_link_is_refused(remote):
    remote.httpx_mock.add_response(
        url="https://remote.example/.well-known/webfinger?resource=acct%3Aalice%40remote.example",
        json={"subject": "acct:alice@remote.example", "links": []},
    )
    with pytest.raises(FetchRefused, match="self link"):
        webfinger_resolve("alice@remote.example")


def test_webfinger_of_a_suspended_domain_sends_nothing(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    policy_cache_clear("remote.example")
    with pytest.raises(FetchBlocked):
        webfinger_resolve("alice@remote.example")
    assert httpx_mock.get_requests() == []


def test_webfinger_of_a_local_address(httpx_mock):
    bob = local_account("bob")
    assert webfinger_resolve(f"bob@{settings.OURVOICE_DOMAIN}") == bob
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("acct", ["alice", "@alice@", "a@b@c", "alice@exa mple.com", "x@/y"])
def test_webfinger_refuses_junk(acct, httpx_mock):
    with pytest.raises(FetchRefused):
        webfinger_resolve(acct)


# --- Keys ---------------------------------------------------------------------------------------


def _key_document(key_id: str, owner: str) -> dict:
    return {"id": key_id, "type": "Key", "owner": owner, "publicKeyPem": PUBLIC_KEY}


def test_key_resolve_fetches_the_actor_of_a_fragment_key(remote):
    remote.serve_actor("alice")
    pem, owner = key_resolve(remote.key_id("alice"), False)
    assert pem.strip() == PUBLIC_KEY.strip()
    assert owner.uri == remote.actor_id("alice")


def test_key_resolve_follows_a_key_document_to_its_owner(remote, httpx_mock):
    """GoToSocial style: the key id is its own document, whose owner lists the key."""
    key_id = f"{remote.actor_id('alice')}/main-key"
    remote.serve(
        key_id,
        {
            "id": key_id,
            "type": "Key",
            "owner": remote.actor_id("alice"),
            "publicKeyPem": PUBLIC_KEY,
        },
    )
    remote.serve_actor("alice", key_id=key_id)

    pem, owner = key_resolve(key_id, False)

    assert owner.key_id == key_id
    assert pem.strip() == PUBLIC_KEY.strip()


def test_key_document_whose_owner_does_not_claim_it_is_refused(remote):
    key_id = f"{remote.actor_id('alice')}/other-key"
    remote.serve(
        key_id,
        {
            "id": key_id,
            "type": "Key",
            "owner": remote.actor_id("alice"),
            "publicKeyPem": PUBLIC_KEY,
        },
    )
    remote.serve_actor("alice")  # lists only #main-key
    with pytest.raises(KeyUnavailable, match="does not claim"):
        key_resolve(key_id, False)


def test_key_document_owned_by_another_origin_is_refused(remote, httpx_mock):
    key_id = "https://remote.example/keys/1"
    remote.serve(
        key_id,
        {"id": key_id, "type": "Key", "owner": "https://other.example/u/x", "publicKeyPem": "x"},
    )
    with pytest.raises(KeyUnavailable, match="another origin"):
        key_resolve(key_id, False)
    assert len(httpx_mock.get_requests()) == 1


def test_bogus_key_id_does_not_wipe_the_stored_key(remote):
    remote.serve_actor("alice")
    key_resolve(remote.key_id("alice"), False)
    with pytest.raises(KeyUnavailable):
        key_resolve(f"{remote.actor_id('alice')}#bogus", False)
    assert Account.objects.get(uri=remote.actor_id("alice")).key_id == remote.key_id("alice")


def test_cached_key_needs_no_query(
    remote, django_assert_num_queries, django_capture_on_commit_callbacks
):
    remote.serve_actor("alice")
    with django_capture_on_commit_callbacks(execute=True):  # cached once committed
        key_resolve(remote.key_id("alice"), False)
    with django_assert_num_queries(0):
        _, owner = key_resolve(remote.key_id("alice"), False)
    assert owner.uri == remote.actor_id("alice")


def test_key_refresh_is_rate_limited(remote, httpx_mock):
    _, other_public = other_keypair()
    remote.serve_actor("alice", public_pem=other_public)
    key_resolve(remote.key_id("alice"), False)
    pem, _ = key_resolve(remote.key_id("alice"), True)  # within the interval: no new fetch
    assert pem.strip() == other_public.strip()
    assert len(httpx_mock.get_requests()) == 1


def test_key_refresh_after_the_interval_refetches(remote, httpx_mock):
    from django.core.cache import cache

    _, other_public = other_keypair()
    remote.serve_actor("alice", public_pem=other_public)
    key_resolve(remote.key_id("alice"), False)
    cache.clear()  # the interval has passed
    remote.httpx_mock.reset()
    remote.serve_actor("alice")  # rotated to PUBLIC_KEY
    pem, _ = key_resolve(remote.key_id("alice"), True)
    assert pem.strip() == PUBLIC_KEY.strip()


def test_unknown_key_fetch_failure_is_not_retried_at_once(remote, httpx_mock):
    remote.serve(remote.actor_id("alice"), {"error": "x"}, status=404)
    for _ in range(3):
        with pytest.raises(KeyUnavailable):
            key_resolve(remote.key_id("alice"), False)
    assert len(httpx_mock.get_requests()) == 1


def test_local_keys_resolve_from_the_database(httpx_mock):
    bob = local_account("bob")
    assert key_resolve(bob.key_id, False) == (bob.public_key_pem, bob)
    assert key_resolve(bob.key_id, True)[1] == bob
    with pytest.raises(KeyUnavailable):
        key_resolve(f"{settings.OURVOICE_BASE_URL}/users/nobody#main-key", False)
    assert httpx_mock.get_requests() == []


def test_keys_of_suspended_domains_are_blocked(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    with pytest.raises(DomainBlocked):
        key_resolve(remote.key_id("alice"), False)
    assert httpx_mock.get_requests() == []


def test_repeated_fetches_query_nothing(remote, django_assert_num_queries):
    """The instance actor's key and the domain policy are cached after the first fetch."""
    remote.serve("https://remote.example/a", {"id": "https://remote.example/a"})
    signed_get("https://remote.example/a")
    with django_assert_num_queries(0):
        result = signed_get("https://remote.example/a")
    assert result.content_type == ACTIVITY_JSON
