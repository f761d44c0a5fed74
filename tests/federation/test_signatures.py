"""HTTP signatures: round trips, fixed OpenSSL vectors, Mastodon's inbound rules, key rotation.

Advisories covered: Misskey CVE-2023-49079 (Digest not checked → body spoofing) and
CVE-2026-28432 (malformed, partial or empty Signature accepted).
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from federation import signatures
from federation.signatures import (
    DigestMismatch,
    SignatureError,
    SignatureExpired,
    SignatureInvalid,
    SignatureMalformed,
    SignatureMissing,
    content_digest,
    digest_sha256,
    load_private_key,
    load_public_key,
    parse_message_signature,
    parse_signature_header,
    sign_request,
    sign_request_rfc9421,
    verify_request,
)
from tests.federation import signature_vectors as v

NOW = datetime(2026, 7, 7, 12, 0, tzinfo=UTC)
INBOX = "https://ourvoice.example/users/bob/inbox"


def _other_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


OTHER_PRIVATE, OTHER_PUBLIC = _other_key()


class Resolver:
    """Key resolver double: returns the given PEMs in turn and records every call."""

    def __init__(self, *pems: str, owner: str = v.ACTOR) -> None:
        self.pems = list(pems)
        self.owner = owner
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, key_id: str, refresh: bool) -> tuple[str, str]:
        self.calls.append((key_id, refresh))
        pem = self.pems[min(len(self.calls), len(self.pems)) - 1]
        return pem, self.owner


class Forbidden:
    """A resolver that must never be called."""

    calls = 0

    def __call__(self, key_id: str, refresh: bool) -> tuple[str, str]:
        self.calls += 1
        raise AssertionError("the key resolver must not be called for this request")


def _verify(headers, *, body=v.BODY, method="POST", path="/users/bob/inbox", query="", **kw):
    kw.setdefault("key_resolver", Resolver(v.TEST_PUBLIC_KEY))
    kw.setdefault("now", NOW)
    return verify_request(method=method, path=path, query=query, headers=headers, body=body, **kw)


def _signed_post(url=INBOX, body=v.BODY, now=NOW, key=v.TEST_PRIVATE_KEY, headers=None):
    return sign_request(
        method="POST",
        url=url,
        headers=headers or {"Content-Type": "application/activity+json"},
        body=body,
        key_id=v.KEY_ID,
        private_key_pem=key,
        now=now,
    )


def _raw_sign(text: str, key: str = v.TEST_PRIVATE_KEY) -> str:
    signature = load_private_key(key).sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


# --- Digests and keys ---------------------------------------------------------------------------


def test_digest_values():
    empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert digest_sha256(b"") == f"SHA-256={empty}"
    assert content_digest(b"") == f"sha-256=:{empty}:"
    assert digest_sha256(v.BODY) == v.DIGEST
    assert content_digest(v.BODY) == v.CONTENT_DIGEST


def test_keys_are_loaded_once_per_process():
    assert load_private_key(v.TEST_PRIVATE_KEY) is load_private_key(v.TEST_PRIVATE_KEY)
    assert load_public_key(v.TEST_PUBLIC_KEY) is load_public_key(v.TEST_PUBLIC_KEY)
    with pytest.raises(ValueError):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")


def test_pkcs1_public_keys_are_accepted():
    pkcs1 = (
        load_public_key(v.TEST_PUBLIC_KEY)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
        .decode()
    )
    assert "BEGIN RSA PUBLIC KEY" in pkcs1
    assert _verify(v.CAVAGE_HEADERS, key_resolver=Resolver(pkcs1)).owner == v.ACTOR


def test_non_rsa_keys_are_refused():
    ed_pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError):
        load_public_key(ed_pem)
    with pytest.raises(SignatureInvalid):
        _verify(v.CAVAGE_HEADERS, key_resolver=Resolver(ed_pem))


# --- Fixed vectors (signed by OpenSSL, not by our code) -----------------------------------------


def test_known_good_cavage_request_verifies():
    resolver = Resolver(v.TEST_PUBLIC_KEY)
    result = _verify(v.CAVAGE_HEADERS, key_resolver=resolver)
    assert result.key_id == v.KEY_ID
    assert result.owner == v.ACTOR
    assert result.standard == "cavage"
    assert result.created == NOW
    assert resolver.calls == [(v.KEY_ID, False)]


def test_our_cavage_signer_reproduces_the_openssl_signature():
    # PKCS#1 v1.5 is deterministic: same key, same string → same bytes.
    headers = _signed_post()
    assert headers["Date"] == v.DATE
    assert headers["Host"] == "ourvoice.example"
    assert headers["Digest"] == v.DIGEST
    assert headers["Signature"] == v.CAVAGE_HEADERS["Signature"]


def test_known_good_rfc9421_request_verifies():
    result = _verify(v.RFC9421_HEADERS)
    assert result.standard == "rfc9421"
    assert result.owner == v.ACTOR
    assert result.created == NOW


def test_our_rfc9421_signer_reproduces_the_openssl_signature():
    headers = sign_request_rfc9421(
        method="POST",
        url=INBOX,
        headers={},
        body=v.BODY,
        key_id=v.KEY_ID,
        private_key_pem=v.TEST_PRIVATE_KEY,
        now=NOW,
    )
    assert headers == v.RFC9421_HEADERS


def test_header_names_are_case_insensitive():
    lowered = {name.lower(): value for name, value in v.CAVAGE_HEADERS.items()}
    assert _verify(lowered).owner == v.ACTOR
    upper = {name.upper(): value for name, value in v.RFC9421_HEADERS.items()}
    assert _verify(upper).owner == v.ACTOR


# --- Round trips ----------------------------------------------------------------------------------


def test_round_trip_post_with_port_and_query():
    headers = _signed_post(url="https://peer.example:8443/inbox?x=1&y=%20")
    assert headers["Host"] == "peer.example:8443"
    assert 'headers="(request-target) host date digest content-type"' in headers["Signature"]
    result = _verify(headers, path="/inbox", query="x=1&y=%20")
    assert result.owner == v.ACTOR


def test_round_trip_get():
    headers = sign_request(
        method="GET",
        url="https://peer.example/users/alice",
        headers={},
        body=None,
        key_id=v.KEY_ID,
        private_key_pem=v.TEST_PRIVATE_KEY,
        now=NOW,
    )
    assert 'headers="(request-target) host date accept"' in headers["Signature"]
    assert headers["Accept"].startswith("application/activity+json")
    assert "Digest" not in headers
    result = _verify(headers, method="GET", path="/users/alice", body=None)
    assert result.owner == v.ACTOR


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_round_trip_rfc9421(method):
    body = v.BODY if method == "POST" else None
    headers = sign_request_rfc9421(
        method=method,
        url="https://peer.example:8443/users/alice?page=2",
        headers={},
        body=body,
        key_id=v.KEY_ID,
        private_key_pem=v.TEST_PRIVATE_KEY,
        now=NOW,
    )
    expected = '("@method" "@target-uri")' if method == "GET" else '"content-type")'
    assert expected in headers["Signature-Input"]
    result = _verify(headers, method=method, path="/users/alice", query="page=2", body=body)
    assert result.standard == "rfc9421"


def test_signature_survives_the_wire():
    """Sign, send through httpx, verify what httpx actually put on the wire."""
    seen = []

    def inbox(request: httpx.Request) -> httpx.Response:
        path, _, query = request.url.raw_path.decode().partition("?")
        seen.append(
            verify_request(
                method=request.method,
                path=path,
                query=query,
                headers=request.headers,
                body=request.content,
                key_resolver=Resolver(v.TEST_PUBLIC_KEY),
                now=NOW,
            )
        )
        return httpx.Response(202)

    client = httpx.Client(transport=httpx.MockTransport(inbox))
    for url in ("https://bücher.example:8443/inbox?a=b%2Fc", "https://peer.example/inbox"):
        headers = _signed_post(url=url)
        assert client.post(url, content=v.BODY, headers=headers).status_code == 202
        headers = sign_request_rfc9421(
            method="POST",
            url=url,
            headers={},
            body=v.BODY,
            key_id=v.KEY_ID,
            private_key_pem=v.TEST_PRIVATE_KEY,
            now=NOW,
        )
        assert client.post(url, content=v.BODY, headers=headers).status_code == 202
    assert [s.standard for s in seen] == ["cavage", "rfc9421", "cavage", "rfc9421"]


def test_signature_without_query_is_accepted_for_a_request_with_query():
    # Older Mastodon and GoToSocial's retry sign the path alone.
    headers = _signed_post(url="https://ourvoice.example/users/bob/inbox")
    assert _verify(headers, query="from=gts").owner == v.ACTOR


# --- Tampering ------------------------------------------------------------------------------------


def test_tampered_body_is_a_digest_mismatch_and_fetches_no_key():
    resolver = Forbidden()
    with pytest.raises(DigestMismatch):
        _verify(v.CAVAGE_HEADERS, body=v.BODY.replace(b"Hello", b"Hacked"), key_resolver=resolver)
    with pytest.raises(DigestMismatch):
        _verify(v.RFC9421_HEADERS, body=v.BODY + b" ", key_resolver=resolver)
    assert resolver.calls == 0


def test_tampered_body_with_recomputed_digest_is_invalid():
    body = v.BODY.replace(b"Hello", b"Hacked")
    headers = {**v.CAVAGE_HEADERS, "Digest": digest_sha256(body)}
    with pytest.raises(SignatureInvalid):
        _verify(headers, body=body)
    headers = {**v.RFC9421_HEADERS, "Content-Digest": content_digest(body)}
    with pytest.raises(SignatureInvalid):
        _verify(headers, body=body)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Host", "evil.example"),
        ("Date", "Tue, 07 Jul 2026 12:00:01 GMT"),
        ("Content-Type", "application/json"),
    ],
)
def test_tampered_signed_header_is_invalid(name, value):
    with pytest.raises(SignatureInvalid):
        _verify({**v.CAVAGE_HEADERS, name: value})


def test_tampered_path_or_method_is_invalid():
    with pytest.raises(SignatureInvalid):
        _verify(v.CAVAGE_HEADERS, path="/users/carol/inbox")
    with pytest.raises(SignatureInvalid):
        _verify(v.RFC9421_HEADERS, path="/users/carol/inbox")
    with pytest.raises(SignatureInvalid):
        _verify(v.RFC9421_HEADERS, scheme="http")


def test_tampered_signature_bytes_are_invalid():
    raw = bytearray(base64.b64decode(v.CAVAGE_SIGNATURE))
    raw[10] ^= 0x01
    forged = base64.b64encode(bytes(raw)).decode()
    headers = {
        **v.CAVAGE_HEADERS,
        "Signature": v.CAVAGE_HEADERS["Signature"].replace(v.CAVAGE_SIGNATURE, forged),
    }
    with pytest.raises(SignatureInvalid):
        _verify(headers)
    headers = {**v.RFC9421_HEADERS, "Signature": f"sig1=:{forged}:"}
    with pytest.raises(SignatureInvalid):
        _verify(headers)


def test_wrong_key_is_invalid():
    with pytest.raises(SignatureInvalid):
        _verify(v.CAVAGE_HEADERS, key_resolver=Resolver(OTHER_PUBLIC))


# --- Missing, empty and partial headers (Misskey CVE-2026-28432) ---------------------------------


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_empty_signature(value):
    headers = {k: val for k, val in v.CAVAGE_HEADERS.items() if k != "Signature"}
    if value is not None:
        headers["Signature"] = value
    resolver = Forbidden()
    with pytest.raises(SignatureMissing):
        _verify(headers, key_resolver=resolver)
    assert resolver.calls == 0


@pytest.mark.parametrize(
    "value",
    [
        f'keyId="{v.KEY_ID}"',
        f'signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="",signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",signature=""',
        f'keyId="{v.KEY_ID}",signature="not base64!"',
        f'keyId="{v.KEY_ID}",algorithm="rsa-sha256",signature="{v.CAVAGE_SIGNATURE}',
        f'keyId="{v.KEY_ID}",,signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",signature="{v.CAVAGE_SIGNATURE}",',
        f'keyId="{v.KEY_ID}" signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",keyId="{v.KEY_ID}",signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="a b",signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",algorithm="rsa-sha512",signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",algorithm="hmac-sha256",signature="{v.CAVAGE_SIGNATURE}"',
        f'keyId="{v.KEY_ID}",headers="",signature="{v.CAVAGE_SIGNATURE}"',
        "garbage",
        "Signature",
        "=",
    ],
)
def test_partial_or_malformed_signature_fetches_no_key(value):
    resolver = Forbidden()
    with pytest.raises(SignatureMalformed):
        _verify({**v.CAVAGE_HEADERS, "Signature": value}, key_resolver=resolver)
    assert resolver.calls == 0


@pytest.mark.parametrize("char", ["\t", "\n", "\x00", "\x1f", "\x7f", "\xa0", "\u2028", "\u3000"])
def test_key_id_with_whitespace_or_control_characters_fetches_no_key(char):
    resolver = Forbidden()
    value = f'keyId="{v.KEY_ID}{char}x",signature="{v.CAVAGE_SIGNATURE}"'
    with pytest.raises(SignatureMalformed, match="whitespace or control"):
        _verify({**v.CAVAGE_HEADERS, "Signature": value}, key_resolver=resolver)
    assert resolver.calls == 0


def test_key_id_character_check_refuses_exactly_whitespace_and_controls():
    """The keyId check (a regex) refuses exactly what `str.isspace()` or a C0/DEL code says."""
    import sys

    for code in range(sys.maxunicode + 1):
        char = chr(code)
        refused = bool(signatures._KEY_ID_FORBIDDEN.search(char))
        assert refused == (char.isspace() or code < 0x20 or code == 0x7F), hex(code)


def test_node_http_signature_prefix_is_tolerated():
    headers = {**v.CAVAGE_HEADERS, "Signature": "Signature " + v.CAVAGE_HEADERS["Signature"]}
    assert _verify(headers).owner == v.ACTOR


def test_parser_reads_tokens_quoted_strings_and_escapes():
    sig = parse_signature_header(
        'keyId="https://a.example/k\\"1" , algorithm=hs2019,headers="(created) Digest",'
        f'created=1783425600,signature="{v.CAVAGE_SIGNATURE}"'
    )
    assert sig.key_id == 'https://a.example/k"1'
    assert sig.algorithm == "hs2019"
    assert sig.headers == ("(created)", "digest")
    assert sig.created == "1783425600"
    assert sig.signature == base64.b64decode(v.CAVAGE_SIGNATURE)


# --- Strength rules ---------------------------------------------------------------------------


def _cavage_header(headers: str, text: str, algorithm: str = "rsa-sha256", extra: str = "") -> str:
    return (
        f'keyId="{v.KEY_ID}",algorithm="{algorithm}",headers="{headers}",'
        f'signature="{_raw_sign(text)}"{extra}'
    )


def test_post_must_sign_digest():
    text = "(request-target): post /users/bob/inbox\nhost: ourvoice.example\ndate: " + v.DATE
    headers = {**v.CAVAGE_HEADERS, "Signature": _cavage_header("(request-target) host date", text)}
    with pytest.raises(SignatureMalformed, match="Digest"):
        _verify(headers, key_resolver=Forbidden())


def test_get_must_sign_host():
    text = f"(request-target): get /users/alice\ndate: {v.DATE}"
    headers = {"Date": v.DATE, "Signature": _cavage_header("(request-target) date", text)}
    with pytest.raises(SignatureMalformed, match="Host"):
        _verify(headers, method="GET", path="/users/alice", body=None, key_resolver=Forbidden())


def test_date_or_created_must_be_signed():
    text = "(request-target): get /users/alice\nhost: ourvoice.example"
    headers = {
        "Host": "ourvoice.example",
        "Date": v.DATE,
        "Signature": _cavage_header("(request-target) host", text),
    }
    with pytest.raises(SignatureMalformed, match="Date"):
        _verify(headers, method="GET", path="/users/alice", body=None, key_resolver=Forbidden())


def test_request_target_or_digest_must_be_signed():
    text = f"host: ourvoice.example\ndate: {v.DATE}"
    headers = {
        "Host": "ourvoice.example",
        "Date": v.DATE,
        "Signature": _cavage_header("host date", text),
    }
    with pytest.raises(SignatureMalformed, match="request-target"):
        _verify(headers, method="GET", path="/users/alice", body=None, key_resolver=Forbidden())


def test_signed_header_must_be_present():
    text = f"(request-target): get /users/alice\nhost: ourvoice.example\ndate: {v.DATE}\naccept: x"
    headers = {
        "Host": "ourvoice.example",
        "Date": v.DATE,
        "Signature": _cavage_header("(request-target) host date accept", text),
    }
    with pytest.raises(SignatureMalformed, match="accept"):
        _verify(headers, method="GET", path="/users/alice", body=None, key_resolver=Forbidden())


def test_created_pseudo_header_requires_hs2019():
    text = (
        f"(request-target): post /users/bob/inbox\n(created): {v.CREATED}\n"
        f"host: ourvoice.example\ndigest: {v.DIGEST}"
    )
    signed = "(request-target) (created) host digest"
    created = f",created={v.CREATED}"
    headers = {**v.CAVAGE_HEADERS, "Signature": _cavage_header(signed, text, extra=created)}
    with pytest.raises(SignatureMalformed, match="hs2019"):
        _verify(headers, key_resolver=Forbidden())
    # The same signature labelled hs2019 verifies.
    headers = {
        **v.CAVAGE_HEADERS,
        "Signature": _cavage_header(signed, text, algorithm="hs2019", extra=created),
    }
    assert _verify(headers).owner == v.ACTOR


def test_hs2019_default_headers_are_too_weak():
    text = f"(created): {v.CREATED}"
    signature = f'keyId="{v.KEY_ID}",signature="{_raw_sign(text)}",created={v.CREATED}'
    with pytest.raises(SignatureMalformed):
        _verify({**v.CAVAGE_HEADERS, "Signature": signature}, key_resolver=Forbidden())


# --- Time window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-66), False),
        (timedelta(minutes=-64), True),
        (timedelta(minutes=-50), True),
        (timedelta(minutes=59), True),
        (timedelta(minutes=61), False),
    ],
)
def test_date_window_matches_mastodon(offset, accepted):
    headers = _signed_post(now=NOW + offset)
    rfc = sign_request_rfc9421(
        method="POST",
        url=INBOX,
        headers={},
        body=v.BODY,
        key_id=v.KEY_ID,
        private_key_pem=v.TEST_PRIVATE_KEY,
        now=NOW + offset,
    )
    for signed in (headers, rfc):
        if accepted:
            assert _verify(signed).owner == v.ACTOR
        else:
            resolver = Forbidden()
            with pytest.raises(SignatureExpired):
                _verify(signed, key_resolver=resolver)
            assert resolver.calls == 0


def test_invalid_date_header_is_malformed():
    headers = _signed_post(
        headers={"Date": "yesterday", "Content-Type": "application/activity+json"}
    )
    with pytest.raises(SignatureMalformed):
        _verify(headers, key_resolver=Forbidden())


def _hs2019_with_expires(created: int, expires: int) -> dict[str, str]:
    text = (
        f"(request-target): post /users/bob/inbox\n(created): {created}\n(expires): {expires}\n"
        f"host: ourvoice.example\ndigest: {v.DIGEST}"
    )
    signature = _cavage_header(
        "(request-target) (created) (expires) host digest",
        text,
        algorithm="hs2019",
        extra=f",created={created},expires={expires}",
    )
    return {"Host": "ourvoice.example", "Digest": v.DIGEST, "Signature": signature}


def test_hs2019_explicit_expires_is_honoured_up_to_12_hours():
    headers = _hs2019_with_expires(v.CREATED, v.CREATED + 24 * 3600)
    # Created 11 h ago with a 24 h expiry: still valid (5 min default would have expired).
    assert _verify(headers, now=NOW + timedelta(hours=11)).created == NOW
    # 12 h cap + 1 h skew: refused after 13 h.
    with pytest.raises(SignatureExpired):
        _verify(headers, now=NOW + timedelta(hours=13, minutes=1), key_resolver=Forbidden())


def test_hs2019_past_expires_is_refused():
    headers = _hs2019_with_expires(v.CREATED, v.CREATED + 60)
    assert _verify(headers, now=NOW + timedelta(minutes=30)).owner == v.ACTOR
    with pytest.raises(SignatureExpired):
        _verify(headers, now=NOW + timedelta(hours=1, minutes=2), key_resolver=Forbidden())


# --- Digest header variants ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "digest",
    [
        v.DIGEST,
        v.DIGEST.replace("SHA-256", "sha-256"),
        f"SHA-512=AAAA,{v.DIGEST}",
        f"{v.DIGEST}, SHA-512=AAAA",
    ],
)
def test_digest_header_forms(digest):
    headers = _signed_post(headers={"Digest": digest, "Content-Type": "application/activity+json"})
    assert _verify(headers).owner == v.ACTOR


@pytest.mark.parametrize(
    "digest", ["SHA-512=AAAA", "SHA-256=%%%", "MD5=abc", "SHA-256=" + "A" * 44]
)
def test_bad_digest_header_is_a_mismatch(digest):
    headers = _signed_post(headers={"Digest": digest, "Content-Type": "application/activity+json"})
    with pytest.raises(DigestMismatch):
        _verify(headers, key_resolver=Forbidden())


def test_missing_digest_header_is_a_mismatch():
    headers = {k: val for k, val in v.CAVAGE_HEADERS.items() if k != "Digest"}
    with pytest.raises(DigestMismatch):
        _verify(headers, key_resolver=Forbidden())
    headers = {k: val for k, val in v.RFC9421_HEADERS.items() if k != "Content-Digest"}
    with pytest.raises(DigestMismatch):
        _verify(headers, key_resolver=Forbidden())


# --- Key rotation -------------------------------------------------------------------------------


def test_key_rotation_refreshes_once_and_succeeds():
    resolver = Resolver(OTHER_PUBLIC, v.TEST_PUBLIC_KEY)
    result = _verify(v.CAVAGE_HEADERS, key_resolver=resolver)
    assert result.refreshed is True
    assert resolver.calls == [(v.KEY_ID, False), (v.KEY_ID, True)]


def test_key_rotation_rfc9421():
    resolver = Resolver(OTHER_PUBLIC, v.TEST_PUBLIC_KEY)
    assert _verify(v.RFC9421_HEADERS, key_resolver=resolver).refreshed is True
    assert len(resolver.calls) == 2


def test_wrong_key_after_refresh_fails_after_exactly_two_calls():
    resolver = Resolver(OTHER_PUBLIC, OTHER_PUBLIC)
    with pytest.raises(SignatureInvalid):
        _verify(v.CAVAGE_HEADERS, key_resolver=resolver)
    assert resolver.calls == [(v.KEY_ID, False), (v.KEY_ID, True)]


def test_garbage_cached_key_is_repaired_by_a_refresh():
    resolver = Resolver("not a pem", v.TEST_PUBLIC_KEY)
    assert _verify(v.CAVAGE_HEADERS, key_resolver=resolver).refreshed is True


def test_good_key_needs_one_call():
    resolver = Resolver(v.TEST_PUBLIC_KEY)
    assert _verify(v.CAVAGE_HEADERS, key_resolver=resolver).refreshed is False
    assert resolver.calls == [(v.KEY_ID, False)]


def test_resolver_errors_propagate():
    def unknown(key_id, refresh):
        raise signatures.KeyUnavailable(key_id)

    with pytest.raises(signatures.KeyUnavailable):
        _verify(v.CAVAGE_HEADERS, key_resolver=unknown)


# --- RFC 9421 rules -----------------------------------------------------------------------------


def _rfc_headers(params: str, base_lines: list[str], **extra: str) -> dict[str, str]:
    base = "\n".join([*base_lines, f'"@signature-params": {params}'])
    return {
        "Host": "ourvoice.example",
        "Content-Digest": v.CONTENT_DIGEST,
        "Content-Type": "application/activity+json",
        "Signature-Input": f"sig1={params}",
        "Signature": f"sig1=:{_raw_sign(base)}:",
        **extra,
    }


POST_LINES = [
    '"@method": POST',
    f'"@target-uri": {INBOX}',
    f'"content-digest": {v.CONTENT_DIGEST}',
    '"content-type": application/activity+json',
]
COMPONENTS = '("@method" "@target-uri" "content-digest" "content-type")'


def test_rfc9421_without_alg_is_accepted_with_an_rsa_key():
    params = f'{COMPONENTS};created={v.CREATED};keyid="{v.KEY_ID}"'
    assert _verify(_rfc_headers(params, POST_LINES)).standard == "rfc9421"


def test_rfc9421_extra_components_and_parameters_are_fine():
    params = f'("@method" "@target-uri" "@authority" "content-digest");created={v.CREATED};keyid="{v.KEY_ID}";nonce="abc";tag="fedify"'  # noqa: E501
    lines = [
        '"@method": POST',
        f'"@target-uri": {INBOX}',
        '"@authority": ourvoice.example',
        f'"content-digest": {v.CONTENT_DIGEST}',
    ]
    assert _verify(_rfc_headers(params, lines)).owner == v.ACTOR


@pytest.mark.parametrize(
    ("signature_input", "match"),
    [
        (f'{COMPONENTS};keyid="{v.KEY_ID}";alg="rsa-v1_5-sha256"', "created"),
        (f"{COMPONENTS};created={v.CREATED}", "keyid"),
        (f'{COMPONENTS};created={v.CREATED};keyid="{v.KEY_ID}";alg="ed25519"', "alg"),
        (f'{COMPONENTS};created={v.CREATED};keyid="{v.KEY_ID}";alg="rsa-pss-sha512"', "alg"),
        (
            f'("@method" "content-digest" "content-type");created={v.CREATED};keyid="{v.KEY_ID}"',
            "@target-uri",
        ),
        (
            f'("@target-uri" "content-digest");created={v.CREATED};keyid="{v.KEY_ID}"',
            "@method",
        ),
        (f'("@method" "@target-uri");created={v.CREATED};keyid="{v.KEY_ID}"', "content-digest"),
        (f'("@method" "@target-uri" "@status");created={v.CREATED};keyid="{v.KEY_ID}"', "@status"),
        (f'("@method" "@method");created={v.CREATED};keyid="{v.KEY_ID}"', "twice"),
        (f'("@method" "Host");created={v.CREATED};keyid="{v.KEY_ID}"', "header"),
        (f'("@method" "host";sf);created={v.CREATED};keyid="{v.KEY_ID}"', "plain"),
        (f'{COMPONENTS};created="{v.CREATED}";keyid="{v.KEY_ID}"', "created"),
        ("(", "structured"),
        ("sig1", "inner list"),
    ],
)
def test_rfc9421_rules_refuse_before_any_key_fetch(signature_input, match):
    headers = {**v.RFC9421_HEADERS, "Signature-Input": f"sig1={signature_input}"}
    if signature_input == "sig1":
        headers["Signature-Input"] = "sig1=:AAAA:"
    resolver = Forbidden()
    with pytest.raises(SignatureMalformed, match=match):
        _verify(headers, key_resolver=resolver)
    assert resolver.calls == 0


def test_rfc9421_exactly_one_signature():
    headers = {
        **v.RFC9421_HEADERS,
        "Signature-Input": f'{v.RFC9421_HEADERS["Signature-Input"]}, sig2=("@method");created=1',
    }
    with pytest.raises(SignatureMalformed, match="exactly one"):
        _verify(headers, key_resolver=Forbidden())
    headers = {
        **v.RFC9421_HEADERS,
        "Signature": v.RFC9421_HEADERS["Signature"].replace("sig1", "x"),
    }
    with pytest.raises(SignatureMalformed, match="labels"):
        _verify(headers, key_resolver=Forbidden())


def test_rfc9421_missing_signature_header():
    headers = {k: val for k, val in v.RFC9421_HEADERS.items() if k != "Signature"}
    with pytest.raises(SignatureMissing):
        _verify(headers, key_resolver=Forbidden())


@pytest.mark.parametrize(
    "value",
    [
        "sha-256=:AAAA:",
        "sha-512=:AAAA:",
        "md5=:AAAA:",
        "sha-256=abc",
        "nonsense(",
        "",
    ],
)
def test_rfc9421_bad_content_digest(value):
    headers = {**v.RFC9421_HEADERS, "Content-Digest": value}
    with pytest.raises(DigestMismatch):
        _verify(headers, key_resolver=Forbidden())


def test_rfc9421_parser_roundtrips_the_signature_params():
    parsed = parse_message_signature(
        v.RFC9421_HEADERS["Signature-Input"], v.RFC9421_HEADERS["Signature"]
    )
    assert parsed.label == "sig1"
    assert parsed.components == ("@method", "@target-uri", "content-digest", "content-type")
    assert parsed.signature_params() == v.RFC9421_SIGNATURE_PARAMS
    assert parsed.param("created") == v.CREATED


# --- Fuzzing: the parsers raise nothing but SignatureError --------------------------------------

_header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=300)
_pieces = st.lists(
    st.sampled_from(
        [
            "keyId",
            "signature",
            "algorithm",
            "headers",
            "created",
            "expires",
            "=",
            ",",
            '"',
            "\\",
            " ",
            "hs2019",
            "rsa-sha256",
            "(request-target)",
            "AAAA==",
            "sig1",
            "(",
            ")",
            ";",
            ":",
            "?1",
            "-1",
            "1.5",
            '"@method"',
            "\t",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(_header_text, _pieces))
def test_fuzz_cavage_parser(raw):
    with contextlib.suppress(SignatureError):
        parse_signature_header(raw)


@settings(max_examples=300, deadline=None)
@given(signature_input=st.one_of(_header_text, _pieces), signature=st.one_of(_header_text, _pieces))
def test_fuzz_rfc9421_parser(signature_input, signature):
    with contextlib.suppress(SignatureError):
        parse_message_signature(signature_input, signature)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.one_of(_header_text, _pieces),
    use_input=st.booleans(),
    method=st.sampled_from(["GET", "POST"]),
)
def test_fuzz_verify_request_never_fetches_a_key_for_junk(raw, use_input, method):
    headers = {"Host": "ourvoice.example", "Date": v.DATE, "Digest": v.DIGEST}
    headers["Signature-Input" if use_input else "Signature"] = raw
    if use_input:
        headers["Signature"] = "sig1=:AAAA:"
    resolver = Forbidden()
    with contextlib.suppress(SignatureError):
        _verify(headers, method=method, key_resolver=resolver)
    assert resolver.calls == 0
