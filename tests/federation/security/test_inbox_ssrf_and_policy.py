"""Domain policy, SSRF and domain normalisation on the inbox/fetch path (federation.md §5).

Advisories: Mastodon CVE-2026-22245 and CVE-2026-46348 (missing ranges, `::`), Fedify
CVE-2026-50131 (special-use and translation ranges), Fedify CVE-2025-23221 (redirects to private
addresses), Mastodon CVE-2023-42451 (domain normalisation). Each refusal stores nothing and sends
nothing to the forbidden address (pytest-httpx records every request that would have left).
"""

from __future__ import annotations

import pytest

from federation.models import Instance
from tests.federation.remote import Remote, body_of, post, snapshot, stub_dns

pytestmark = pytest.mark.django_db

#: Hosts in every special-use range a keyId/actor URL might name directly.
SPECIAL_HOSTS = [
    "127.0.0.1",  # loopback
    "127.1.2.3",
    "10.0.0.1",  # private
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # link-local (cloud metadata)
    "100.64.0.1",  # CGNAT
    "0.0.0.0",  # this network
    "0.1.2.3",
    "192.0.0.8",  # IETF protocol assignments
    "192.0.2.10",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",  # benchmarking
    "192.88.99.1",  # 6to4 relay anycast
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    "[::1]",  # loopback
    "[::]",  # unspecified (Mastodon CVE-2026-46348)
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:a9fe:a9fe]",  # IPv4-mapped link-local
    "[::127.0.0.1]",  # IPv4-compatible
    "[64:ff9b::7f00:1]",  # NAT64
    "[64:ff9b:1::a00:1]",  # local-use NAT64
    "[2002:7f00:1::1]",  # 6to4 embedding 127.0.0.1
    "[2002:a00:1::1]",  # 6to4 embedding 10.0.0.1
    "[2001::1]",  # Teredo
    "[2001:db8::1]",  # documentation
    "[fc00::1]",  # unique local
    "[fd12:3456::1]",
    "[fe80::1]",  # link-local
    "[fec0::1]",  # site-local
    "[ff02::1]",  # multicast
    "[100::1]",  # discard-only
]


@pytest.mark.parametrize("host", SPECIAL_HOSTS)
def test_key_and_actor_on_special_addresses_are_never_requested(client, httpx_mock, dns, host):
    peer = Remote(httpx_mock, domain=host)
    body = body_of(peer.activity("alice"))
    headers = peer.signed_headers(body)
    before = snapshot()

    response = post(client, "/inbox", body, headers)

    assert response.status_code == 401
    assert snapshot() == before
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["127.0.0.1"], ["93.184.216.34", "192.168.0.1"], ["::1"], ["fe80::1%1"]],
    ids=["private", "loopback", "one-of-several", "ipv6-loopback", "scoped-link-local"],
)
def test_names_resolving_to_special_addresses_are_never_requested(
    client, httpx_mock, monkeypatch, addresses
):
    lookups = stub_dns(monkeypatch, {"internal.example": addresses})
    peer = Remote(httpx_mock, domain="internal.example")
    body = body_of(peer.activity("alice"))
    before = snapshot()

    response = post(client, "/inbox", body, peer.signed_headers(body))

    assert response.status_code == 401
    assert snapshot() == before
    assert lookups == ["internal.example"]  # resolved and vetted, then refused
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    "location",
    [
        "https://127.0.0.1/users/alice",
        "https://10.0.0.1/users/alice",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/users/alice",
        "https://[::ffff:10.0.0.1]/users/alice",
        "https://internal.example/users/alice",
        "http://remote.example/users/alice",  # https → http downgrade
    ],
)
def test_redirects_to_private_addresses_are_refused(client, httpx_mock, monkeypatch, location):
    """Fedify CVE-2025-23221: each redirect hop is vetted before anything is sent to it."""
    stub_dns(monkeypatch, {"internal.example": ["10.9.8.7"]})
    remote = Remote(httpx_mock)
    httpx_mock.add_response(
        url=remote.actor_id("alice"), status_code=302, headers={"Location": location}
    )
    body = body_of(remote.activity("alice"))
    before = snapshot()

    response = post(client, "/inbox", body, remote.signed_headers(body))

    assert response.status_code == 401
    assert snapshot() == before
    assert [str(r.url) for r in httpx_mock.get_requests()] == [remote.actor_id("alice")]


def test_suspended_domain_is_403_with_zero_outbound_requests(client, remote, httpx_mock):
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    before = snapshot()

    response = post(client, "/inbox", body, remote.signed_headers(body))

    assert response.status_code == 403
    assert snapshot() == before
    assert httpx_mock.get_requests() == []


def test_suspended_parent_domain_covers_subdomains(client, httpx_mock, dns):
    Instance.objects.create(domain="example.net", policy=Instance.Policy.SUSPEND)
    peer = Remote(httpx_mock, domain="social.example.net")
    body = body_of(peer.activity("alice"))
    before = snapshot()

    response = post(client, "/inbox", body, peer.signed_headers(body))

    assert response.status_code == 403
    assert snapshot() == before
    assert httpx_mock.get_requests() == []


def test_known_actor_of_a_suspended_domain_is_403(client, remote, httpx_mock):
    """Even with its key cached from before the suspension."""
    remote.serve_actor("alice")
    body = body_of(remote.activity("alice"))
    assert post(client, "/inbox", body, remote.signed_headers(body)).status_code == 202
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    from federation.policy import policy_cache_clear

    policy_cache_clear("remote.example")
    before = snapshot()

    body = body_of(remote.activity("alice"))
    response = post(client, "/inbox", body, remote.signed_headers(body))

    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    ("blocked", "actor_host"),
    [
        ("evil.example", "EVIL.example"),
        ("evil.example", "evil.example."),
        ("evil.example", "Evil.Example.:443"),
        ("xn--bcher-kva.example", "bücher.example"),
        ("xn--bcher-kva.example", "BÜCHER.example"),
    ],
)
def test_domain_spellings_cannot_dodge_a_suspension(client, httpx_mock, dns, blocked, actor_host):
    """Mastodon CVE-2023-42451: case, trailing dot, default port and IDNA compare equal."""
    Instance.objects.create(domain=blocked, policy=Instance.Policy.SUSPEND)
    peer = Remote(httpx_mock, domain=actor_host)
    body = body_of(peer.activity("alice"))
    headers = peer.signed_headers(body, key_id=f"https://{blocked}/users/alice#main-key")
    before = snapshot()

    response = post(client, "/inbox", body, headers)

    assert response.status_code == 403
    assert snapshot() == before
    assert httpx_mock.get_requests() == []
