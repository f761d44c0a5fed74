"""Fixtures for the incoming-activity tests: canned payloads, local and remote actors, and a
fake remote web for the fetcher (no network: `federation.fetch` is replaced per test)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from federation import fetch
from federation.inbound.dispatch import activity_handle
from federation.jsonld import host_of
from federation.models import Instance
from federation.policy import policy_cache_clear
from ourvoice.accounts.models import Account
from ourvoice.posts.models import Post
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory, local_account

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "federation"


def fixture_text(name: str) -> str:
    """Raw text of `tests/fixtures/federation/<software>/<name>.json` (name = "software/name")."""
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def load(name: str, **values: Any) -> dict[str, Any]:
    """A fixture with its `{{PLACEHOLDERS}}` filled: LOCAL (our base URL), LOCAL_DOMAIN, and
    whatever the test passes (LOCAL_POST_ID, FOLLOW_URI...)."""
    text = fixture_text(name)
    filled = {
        "LOCAL": settings.OURVOICE_BASE_URL,
        "LOCAL_DOMAIN": settings.OURVOICE_DOMAIN,
        **{k: str(v) for k, v in values.items()},
    }
    for key, value in filled.items():
        text = text.replace("{{" + key + "}}", value)
    assert "{{" not in text, f"unfilled placeholder in {name}"
    return json.loads(text)


def remote_actor(uri: str, *, kind: str = Account.Kind.PERSON, **fields: Any) -> Account:
    """A known remote account whose id is `uri` (as the inbox would have stored it)."""
    username = fields.pop("username", uri.rstrip("/").rsplit("/", 1)[-1])
    return RemoteAccountFactory(
        username=username,
        domain=host_of(uri),
        uri=uri,
        url=fields.pop("url", uri),
        inbox_uri=f"{uri}/inbox",
        followers_uri=fields.pop("followers_uri", f"{uri}/followers"),
        kind=kind,
        **fields,
    )


def handle(activity: dict[str, Any], actor: Account) -> None:
    """Run one activity through the dispatcher, as `federation.processing` does."""
    activity_handle(activity, actor=actor)


class FakeRemote:
    """The remote web as the fetcher sees it: documents by id, actors created on resolve."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.actors: dict[str, dict[str, Any]] = {}
        self.fetched: list[str] = []
        self.resolved: list[tuple[str, bool]] = []

    def serve(self, document: dict[str, Any]) -> None:
        self.documents[document["id"]] = copy.deepcopy(document)

    def serve_actor(self, uri: str, **fields: Any) -> None:
        self.actors[uri] = fields

    def object_fetch(self, uri: str) -> dict[str, Any]:
        self.fetched.append(uri)
        if uri not in self.documents:
            raise fetch.FetchRefused(f"404 {uri}")
        return copy.deepcopy(self.documents[uri])

    def actor_resolve(self, uri: str, *, refresh: bool = False) -> Account:
        self.resolved.append((uri, refresh))
        known = Account.objects.filter(uri=uri).first()
        if known is not None:
            return known
        if uri not in self.actors:
            raise fetch.FetchRefused(f"404 {uri}")
        return remote_actor(uri, **self.actors[uri])


@pytest.fixture
def remote_web(monkeypatch: pytest.MonkeyPatch) -> FakeRemote:
    fake = FakeRemote()
    monkeypatch.setattr(fetch, "object_fetch", fake.object_fetch)
    monkeypatch.setattr(fetch, "actor_resolve", fake.actor_resolve)
    return fake


@pytest.fixture(autouse=True)
def _no_network(remote_web: FakeRemote) -> None:
    """Every test runs against the fake remote web; nothing reaches a socket."""


@pytest.fixture
def alice(db) -> Account:
    return local_account("alice")


@pytest.fixture
def alice_post(alice: Account) -> Post:
    return post_create(author=alice, text="Tide tables, anyone? #sailing")


@pytest.fixture
def set_policy(db) -> Callable[..., Instance]:
    """Give a remote domain a policy row (suspend, reject_media, reject_reports...)."""

    def apply(domain: str, **fields: Any) -> Instance:
        instance, _ = Instance.objects.update_or_create(domain=domain, defaults=fields)
        policy_cache_clear(domain)
        return instance

    return apply
