"""federation.policy: domain rules (suspend, silence, reject media/reports), caching, floods."""

from __future__ import annotations

import pytest
from django.conf import settings

from federation import policy
from federation.models import Instance
from federation.policy import (
    DomainBlocked,
    check_domain_allowed,
    domain_is_silenced,
    domain_is_suspended,
    domain_of,
    inbox_rate_check,
    instance_for,
    policy_cache_clear,
    rejects_media,
    rejects_reports,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "spelling",
    [
        "remote.example",
        "REMOTE.Example",
        "remote.example.",
        "https://Remote.Example./users/alice",
        "https://remote.example:443/users/alice",
        "http://remote.example:80/x",
        "remote.example:443",
    ],
)
def test_domain_spellings_normalise_alike(spelling):
    """Mastodon CVE-2023-42451: case, trailing dot and default ports compare equal."""
    assert domain_of(spelling) == "remote.example"


def test_international_names_compare_in_ascii():
    assert domain_of("bücher.example") == domain_of("https://xn--bcher-kva.example/u/a")
    assert domain_of("https://BÜCHER.example/") == "xn--bcher-kva.example"


def test_ports_other_than_the_default_are_kept():
    assert domain_of("http://127.0.0.1:8001/users/a") == "127.0.0.1:8001"
    assert domain_of("https://remote.example:8443/") == "remote.example:8443"


@pytest.mark.parametrize("junk", ["", " ", "a b", "user@remote.example", "remote.example/x"])
def test_junk_is_not_a_domain(junk):
    with pytest.raises(ValueError):
        domain_of(junk)


def test_no_row_means_no_restriction():
    assert instance_for("remote.example") is None
    assert not domain_is_suspended("remote.example")
    assert not domain_is_silenced("remote.example")
    assert not rejects_media("remote.example")
    assert not rejects_reports("remote.example")
    assert check_domain_allowed("https://remote.example/u") == "remote.example"


def test_suspension_covers_spellings_subdomains_and_ports():
    Instance.objects.create(domain="evil.example", policy=Instance.Policy.SUSPEND)
    for value in (
        "evil.example",
        "EVIL.example.",
        "https://evil.example:443/users/x",
        "https://cdn.evil.example/a",
        "http://evil.example:8080/",
    ):
        assert domain_is_suspended(value), value
        with pytest.raises(DomainBlocked):
            check_domain_allowed(value)
    assert not domain_is_suspended("notevil.example")
    assert not domain_is_suspended("evil.example.org")


def test_most_specific_rule_wins():
    Instance.objects.create(domain="example", policy=Instance.Policy.SUSPEND)
    allowed = Instance.objects.create(domain="good.example", policy=Instance.Policy.NONE)
    assert instance_for("a.good.example") == allowed
    assert not domain_is_suspended("a.good.example")
    assert domain_is_suspended("bad.example")


def test_port_specific_rule_only_covers_that_port():
    Instance.objects.create(domain="127.0.0.1:8001", policy=Instance.Policy.SUSPEND)
    assert domain_is_suspended("http://127.0.0.1:8001/users/a")
    assert not domain_is_suspended("http://127.0.0.1:8002/users/a")


def test_silence_and_rejections():
    Instance.objects.create(
        domain="loud.example",
        policy=Instance.Policy.SILENCE,
        reject_media=True,
        reject_reports=True,
    )
    assert domain_is_silenced("loud.example")
    assert not domain_is_suspended("loud.example")
    assert rejects_media("https://loud.example/media/1.png")
    assert rejects_reports("loud.example")
    assert check_domain_allowed("loud.example") == "loud.example"


def test_suspension_implies_rejections():
    Instance.objects.create(domain="evil.example", policy=Instance.Policy.SUSPEND)
    assert rejects_media("evil.example")
    assert rejects_reports("evil.example")


def test_our_own_domain_is_always_allowed():
    assert check_domain_allowed(settings.OURVOICE_BASE_URL + "/users/a") == settings.OURVOICE_DOMAIN


def test_invalid_urls_are_blocked():
    with pytest.raises(DomainBlocked):
        check_domain_allowed("javascript:alert(1)")
    with pytest.raises(DomainBlocked):
        check_domain_allowed("https://user@remote.example/")


def test_lookups_are_cached_until_cleared(django_assert_num_queries):
    assert not domain_is_suspended("remote.example")
    Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
    with django_assert_num_queries(0):
        assert not domain_is_suspended("remote.example")  # cached for POLICY_TTL seconds
    policy_cache_clear("https://remote.example/x")
    assert domain_is_suspended("remote.example")


def test_rate_check_counts_per_domain(settings, monkeypatch):
    settings.OURVOICE_RATE_LIMITS = True
    monkeypatch.setattr(policy, "INBOX_RATE_LIMIT", 3)
    results = [inbox_rate_check("a.example") for _ in range(4)]
    assert results[:3] == [0, 0, 0]
    assert 1 <= results[3] <= policy.INBOX_RATE_WINDOW
    assert inbox_rate_check("b.example") == 0


def test_rate_check_is_off_without_rate_limits(settings, monkeypatch):
    settings.OURVOICE_RATE_LIMITS = False
    monkeypatch.setattr(policy, "INBOX_RATE_LIMIT", 0)
    assert inbox_rate_check("a.example") == 0


@pytest.mark.django_db(transaction=True)
def test_outside_transactions_lookups_stay_in_the_process(django_assert_num_queries):
    """The inbox runs in autocommit: its policy lookups cost neither a query nor a cache call
    after the first one; `policy_cache_clear` still applies a change at once."""
    from django.core.cache import cache

    policy_cache_clear()
    try:
        assert not domain_is_suspended("remote.example")
        Instance.objects.create(domain="remote.example", policy=Instance.Policy.SUSPEND)
        cache.clear()  # even without the shared cache entry
        with django_assert_num_queries(0):
            assert not domain_is_suspended("remote.example")
        policy_cache_clear("remote.example")
        assert domain_is_suspended("remote.example")
    finally:
        policy_cache_clear()


def test_inside_transactions_the_process_cache_is_not_used():
    cache = policy.ProcessCache(60)
    cache.set("k", 1)
    assert cache.get("k") is None
