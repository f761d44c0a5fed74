"""Authorized fetch (OURVOICE_AUTHORIZED_FETCH, federation.md §3): signed GETs required for
actors, objects and collections, never for the instance actor; blocked domains get 403.

`federation.verify.verify_signed_get` is called for real for unsigned and malformed requests
(it must reject them); valid signatures are simulated with the `signed_as` fixture.
"""

from __future__ import annotations

import orjson
import pytest

from federation import verify
from federation.policy import DomainBlocked
from ourvoice.accounts.services import block_create
from tests.federation.views.conftest import AP, BASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths(alice, post_of):
    post = post_of(alice, "signed only")
    return [
        "/users/alice",
        "/@alice",
        f"/users/alice/statuses/{post.id}",
        f"/users/alice/statuses/{post.id}/activity",
        f"/users/alice/statuses/{post.id}/replies",
        f"/users/alice/statuses/{post.id}/likes",
        "/users/alice/outbox",
        "/users/alice/outbox?page=true",
        "/users/alice/followers",
        "/users/alice/following?page=1",
        "/users/alice/collections/featured",
    ]


def test_unsigned_gets_are_401(ap_get, authorized_fetch, paths):
    for path in paths:
        response = ap_get(path)
        assert response.status_code == 401, path
        assert b"signed only" not in response.content


def test_malformed_signature_is_401(ap_get, authorized_fetch, paths):
    for path in paths[:3]:
        assert ap_get(path, HTTP_SIGNATURE="garbage").status_code == 401, path


def test_rejected_signature_is_401(ap_get, authorized_fetch, signed_as, paths):
    signed_as(verify.SignatureRejected("bad signature"))
    assert ap_get(paths[0], HTTP_SIGNATURE='keyId="x",signature="y"').status_code == 401


def test_valid_signature_is_served_privately(ap_get, authorized_fetch, signed_as, remote, paths):
    signed_as(remote)
    for path in paths:
        response = ap_get(path, HTTP_SIGNATURE='keyId="k",signature="s"')
        assert response.status_code == 200, path
        assert response["Content-Type"] == AP
        assert response["Cache-Control"] == "private"
        assert response["Vary"] == "Accept, Signature"


def test_blocked_domain_is_403(ap_get, authorized_fetch, signed_as, paths):
    signed_as(DomainBlocked("evil.example"))
    for path in paths[:3]:
        assert ap_get(path, HTTP_SIGNATURE='keyId="k",signature="s"').status_code == 403, path


def test_signer_blocked_by_the_owner_is_403(ap_get, authorized_fetch, signed_as, alice, remote):
    block_create(account=alice, target=remote)
    signed_as(remote)
    assert ap_get("/users/alice", HTTP_SIGNATURE='keyId="k",signature="s"').status_code == 403


def test_instance_actor_is_always_unsigned(ap_get, authorized_fetch, db):
    response = ap_get("/actor")
    assert response.status_code == 200
    assert orjson.loads(response.content)["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert ap_get("/actor/outbox").status_code == 200


def test_discovery_and_pages_need_no_signature(client, authorized_fetch, alice):
    assert client.get("/.well-known/webfinger?resource=acct:alice@testserver").status_code == 200
    assert client.get("/nodeinfo/2.1").status_code == 200
    assert client.get("/.well-known/host-meta").status_code == 200
    assert client.get("/@alice", HTTP_ACCEPT="text/html").status_code == 200


def test_unknown_actor_is_still_404(ap_get, authorized_fetch, db):
    assert ap_get("/users/nobody").status_code == 404


def test_off_serves_everyone_without_verifying(ap_get, alice, monkeypatch, settings):
    settings.OURVOICE_AUTHORIZED_FETCH = False

    def must_not_run(request):
        raise AssertionError("verify_signed_get called with authorized fetch off")

    monkeypatch.setattr(verify, "verify_signed_get", must_not_run)
    response = ap_get("/users/alice", HTTP_SIGNATURE='keyId="k",signature="s"')
    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=180, public"
    assert response["Vary"] == "Accept"


# --- with real HTTP signatures (federation.signatures + federation.verify, no network) --------


@pytest.fixture
def signer(db):
    """A remote actor whose key is stored here, so verification needs no fetch."""
    from ourvoice.core.keys import rsa_keypair_generate
    from tests.factories import RemoteAccountFactory

    private_pem, public_pem = rsa_keypair_generate()
    account = RemoteAccountFactory(
        username="dave", domain="signer.example", public_key_pem=public_pem
    )
    account.private_pem = private_pem
    return account


def signed_get(client, signer, path, *, url_path=None):
    from federation.signatures import sign_request

    headers = sign_request(
        method="GET",
        url=f"{BASE}{url_path or path}",
        headers={"Accept": AP},
        body=None,
        key_id=signer.key_id,
        private_key_pem=signer.private_pem,
    )
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return client.get(path, **extra)


def test_really_signed_get_is_served(client, authorized_fetch, alice, signer):
    response = signed_get(client, signer, "/users/alice")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"
    assert orjson.loads(response.content)["id"] == f"{BASE}/users/alice"


def test_signature_for_another_path_is_401(client, authorized_fetch, alice, signer):
    response = signed_get(client, signer, "/users/alice", url_path="/users/alice/outbox")
    assert response.status_code == 401


def test_really_signed_get_from_suspended_domain_is_403(client, authorized_fetch, alice, signer):
    from federation.models import Instance

    Instance.objects.create(domain="signer.example", policy=Instance.Policy.SUSPEND)
    assert signed_get(client, signer, "/users/alice").status_code == 403
