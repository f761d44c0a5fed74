"""federation.services resolution (account_resolve, post_resolve) and the search hook."""

from __future__ import annotations

import pytest
from django.conf import settings

from federation import services
from federation.models import Instance
from ourvoice.accounts.models import Account
from ourvoice.api.mastodon.views import search as search_view
from ourvoice.posts.models import Post
from tests.factories import local_account
from tests.federation.remote import Remote, reset_caches, stub_dns
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def remote(httpx_mock, monkeypatch):
    stub_dns(monkeypatch)
    return Remote(httpx_mock)


def _serve_webfinger(remote: Remote, username: str) -> None:
    remote.httpx_mock.add_response(
        url=(f"{remote.base}/.well-known/webfinger?resource=acct%3A{username}%40{remote.domain}"),
        json={
            "subject": f"acct:{username}@{remote.domain}",
            "links": [
                {
                    "rel": "self",
                    "type": "application/activity+json",
                    "href": remote.actor_id(username),
                }
            ],
        },
    )


@pytest.mark.parametrize(
    "query", ["@alice@remote.example", "alice@remote.example", "acct:alice@remote.example"]
)
def test_account_resolve_by_address(remote, query):
    _serve_webfinger(remote, "alice")
    remote.serve_actor("alice")
    account = services.account_resolve(query)
    assert account is not None
    assert account.acct == "alice@remote.example"


def test_account_resolve_by_actor_id(remote):
    remote.serve_actor("alice")
    assert services.account_resolve(remote.actor_id("alice")).username == "alice"


def test_account_resolve_by_profile_url(remote):
    """The profile page, asked for AP JSON, answers with the actor (its id differs)."""
    document = remote.serve_actor("alice")
    remote.serve(f"{remote.base}/@alice", document)
    assert services.account_resolve(f"{remote.base}/@alice").uri == remote.actor_id("alice")


def test_known_accounts_are_not_fetched(remote, httpx_mock):
    remote.serve_actor("alice")
    alice = services.account_resolve(remote.actor_id("alice"))
    assert services.account_resolve(remote.actor_id("alice")) == alice
    assert services.account_resolve(alice.url) == alice
    assert len(httpx_mock.get_requests()) == 1


def test_local_accounts_resolve_without_requests(httpx_mock):
    bob = local_account("bob")
    assert services.account_resolve(bob.uri) == bob
    assert services.account_resolve(f"bob@{settings.OURVOICE_DOMAIN}") == bob
    assert services.account_resolve(f"{settings.OURVOICE_BASE_URL}/users/nobody") is None
    assert httpx_mock.get_requests() == []


def test_account_resolve_of_a_suspended_domain_is_none_without_requests(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    assert services.account_resolve("alice@remote.example") is None
    assert services.account_resolve(remote.actor_id("alice")) is None
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("query", ["", "   ", "alice", "not a query", "ftp://remote.example/a"])
def test_account_resolve_of_junk_is_none(query, httpx_mock):
    assert services.account_resolve(query) is None


def test_account_resolve_of_a_note_url_is_none(remote):
    note = remote.note("alice")
    remote.serve(note["id"], note)
    assert services.account_resolve(note["id"]) is None


def test_post_resolve_imports_the_note(remote):
    remote.serve_actor("alice")
    note = remote.note("alice", content="<p>Fetched <script>x</script>hello</p>")
    remote.serve(note["id"], note)

    post = services.post_resolve(note["id"])

    assert isinstance(post, Post)
    assert post.uri == note["id"]
    assert post.author.uri == remote.actor_id("alice")
    assert "script" not in post.content
    assert services.post_resolve(note["id"]) == post


def test_post_resolve_hands_fetched_documents_to_note_import(remote, monkeypatch):
    note = remote.note("alice")
    remote.serve(note["id"], note)
    calls = []
    monkeypatch.setattr(
        services,
        "note_import",
        lambda obj, *, fetched_by_id: calls.append((obj["id"], fetched_by_id)),
    )
    services.post_resolve(note["id"])
    assert calls == [(note["id"], True)]


def test_post_resolve_of_an_author_on_a_suspended_domain_is_none(remote, httpx_mock):
    """The note is fetched from a good host, but its author's domain is suspended."""
    Instance.objects.create(domain="evil.example", policy=Instance.Policy.SUSPEND)
    note = remote.note("alice", attributedTo="https://evil.example/users/mallory")
    remote.serve(note["id"], note)
    assert services.post_resolve(note["id"]) is None
    assert Post.objects.count() == 0
    assert all(r.url.host != "evil.example" for r in httpx_mock.get_requests())


def test_post_resolve_of_a_suspended_domain_sends_nothing(remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    assert services.post_resolve("https://remote.example/users/alice/statuses/1") is None
    assert httpx_mock.get_requests() == []


def test_actor_url_is_fetched_once_for_post_then_account(remote, httpx_mock):
    remote.serve_actor("alice")
    url = remote.actor_id("alice")
    assert services.post_resolve(url) is None
    assert services.account_resolve(url).uri == url
    assert len(httpx_mock.get_requests()) == 1


def test_search_hook_uses_federation_resolution(remote):
    _serve_webfinger(remote, "alice")
    remote.serve_actor("alice")
    assert isinstance(search_view._resolve_remote("@alice@remote.example"), Account)
    note = remote.note("alice")
    remote.serve(note["id"], note)
    assert isinstance(search_view._resolve_remote(note["id"]), Post)


def test_search_api_resolves_a_remote_account(remote):
    viewer = local_account("viewer")
    client = ApiClient(make_token(viewer.user))
    _serve_webfinger(remote, "alice")
    remote.serve_actor("alice")

    response = client.get(
        "/api/v2/search", {"q": "@alice@remote.example", "resolve": "true", "type": "accounts"}
    )

    assert response.status_code == 200
    assert [a["acct"] for a in response.json()["accounts"]] == ["alice@remote.example"]
