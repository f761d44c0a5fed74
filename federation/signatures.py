"""HTTP Signatures (draft-cavage-12 and RFC 9421) and body digests: pure functions, no models.

Nothing here reads settings or touches the database: callers pass keys, clocks and a key resolver.
Inbound rules mirror Mastodon's `SignatureVerification` (federation.md §3), so a request Mastodon
accepts is accepted here and the junk it refuses is refused before any key is looked up.

- Cavage (`Signature:` header): algorithm `rsa-sha256` or `hs2019` (absent = `hs2019`, whose
  default header list is `(created)`); `date` or `(created)` signed; `(request-target)` or `digest`
  signed; `host` signed on GET; `digest` signed on POST and equal to the body's SHA-256;
  `(created)`/`(expires)` only with `hs2019`. Verified with the query string first, then without
  (older Mastodon and GoToSocial sign the path alone).
- RFC 9421 (`Signature-Input:` present): exactly one signature, `created` required, `@method` and
  `@target-uri` covered, `content-digest` covered on POST and equal to the body's digest,
  `alg="rsa-v1_5-sha256"` or no `alg` with an RSA key.
- Time window (Mastodon): a signature is valid from its creation time (`(created)` or `Date`) for
  5 minutes, or until an explicit `expires` capped at 12 hours, with 1 hour of clock skew either
  side. So a `Date` older than 65 minutes or more than 1 hour in the future is refused.
- The key resolver is called only after the header parsed, the covered components are strong
  enough, the time window holds and the digest matches. On a cryptographic mismatch it is called
  once more with `refresh=True` (key rotation); rate limiting that refresh is the caller's job.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, TypeVar
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# --- Errors -------------------------------------------------------------------------------------


class SignatureError(Exception):
    """Base class: the request is not authenticated (the inbox answers 401)."""


class SignatureMissing(SignatureError):
    """No `Signature` (or `Signature-Input`) header, or an empty one."""


class SignatureMalformed(SignatureError):
    """The header does not parse, or signs too little, or uses an unsupported algorithm."""


class SignatureExpired(SignatureError):
    """The signature's creation time is outside the accepted window."""


class DigestMismatch(SignatureError):
    """The `Digest`/`Content-Digest` header is missing, unsupported or differs from the body."""


class SignatureInvalid(SignatureError):
    """The signature does not verify with the signer's key (even after one key refresh)."""


class KeyUnavailable(SignatureError):
    """For key resolvers: the key cannot be found or fetched (unknown actor, gone, blocked)."""


# --- Constants ----------------------------------------------------------------------------------

CLOCK_SKEW = timedelta(hours=1)
DEFAULT_VALIDITY = timedelta(minutes=5)
MAX_VALIDITY = timedelta(hours=12)

#: Longest signature header we parse (a 4096-bit RSA signature plus a long key id is ~1 KB).
MAX_HEADER_LENGTH = 8192
#: Longest key id we pass to a resolver.
MAX_KEY_ID_LENGTH = 2048

RSA_SHA256 = "rsa-sha256"
HS2019 = "hs2019"
RFC9421_ALG = "rsa-v1_5-sha256"
RFC9421_LABEL = "sig1"

ACTIVITY_JSON = "application/activity+json"
AP_ACCEPT = (
    "application/activity+json, "
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)

REQUEST_TARGET = "(request-target)"
CREATED = "(created)"
EXPIRES = "(expires)"

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Standard = Literal["cavage", "rfc9421"]
OwnerT = TypeVar("OwnerT")
#: `resolver(key_id, refresh) -> (public key PEM, owner)`; raise a SignatureError (e.g.
#: KeyUnavailable) when there is no usable key.
KeyResolver = Callable[[str, bool], tuple[str, OwnerT]]


@dataclass(frozen=True, slots=True)
class VerifiedSignature(Generic[OwnerT]):
    """A verified request: who signed it, and with which standard."""

    key_id: str
    owner: OwnerT
    standard: Standard
    created: datetime
    refreshed: bool = False


# --- Keys ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Load (once per process) one of OUR private keys.

    Only for keys this server generated itself (`ourvoice.core.keys.rsa_keypair_generate`) and
    stored: RSA key validation is skipped (`unsafe_skip_rsa_key_validation`), which turns a
    ~43 ms load into ~15 µs (performance.md §2.2). Never pass a private key from elsewhere here;
    use `load_private_key_validated` for imported keys.
    """
    key = serialization.load_pem_private_key(
        pem.encode("ascii"), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("HTTP signatures need an RSA private key")
    return key


def load_private_key_validated(pem: str) -> rsa.RSAPrivateKey:
    """Load a private key of unknown origin with full validation (slow; not cached)."""
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("HTTP signatures need an RSA private key")
    return key


@functools.lru_cache(maxsize=4096)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Load (once per process) a public key PEM (SubjectPublicKeyInfo or PKCS#1) as an RSA key.

    Raises ValueError for anything that is not an RSA public key.
    """
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except UnsupportedAlgorithm as exc:
        raise ValueError("unsupported public key algorithm") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def public_key_pem(private_pem: str) -> str:
    """The SubjectPublicKeyInfo PEM of one of our private keys."""
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


# --- Digests ------------------------------------------------------------------------------------


def digest_sha256(body: bytes) -> str:
    """The draft-cavage `Digest` header value: `SHA-256=<base64>`.

    Compute it once per activity body and reuse it for every inbox (performance.md §3).
    """
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest(body: bytes) -> str:
    """The RFC 9530 `Content-Digest` header value: `sha-256=:<base64>:`."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


# --- Shared helpers -----------------------------------------------------------------------------


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(tz=UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now


def _http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)


def _host_of(url: str) -> tuple[str, str, str, str]:
    """(scheme, Host header value, path, query) of an absolute http(s) URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    elif not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return scheme, host, parts.path or "/", parts.query


def _rsa_matches(pem: str, signature: bytes, candidates: list[bytes]) -> bool:
    """True when `signature` verifies over any candidate signing string with the key in `pem`.

    Every supported label (rsa-sha256, hs2019 with an RSA key, rsa-v1_5-sha256) means RSASSA
    PKCS#1 v1.5 with SHA-256. An unusable PEM counts as a mismatch, so a refresh can repair it.
    """
    try:
        key = load_public_key(pem)
    except (ValueError, TypeError):
        return False
    for data in candidates:
        try:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False


def _resolve_and_verify(
    key_id: str,
    signature: bytes,
    candidates: list[bytes],
    key_resolver: KeyResolver[OwnerT],
) -> tuple[OwnerT, bool]:
    """Look the key up, verify; on a mismatch refresh the key once and verify again."""
    pem, owner = key_resolver(key_id, False)
    if _rsa_matches(pem, signature, candidates):
        return owner, False
    fresh_pem, fresh_owner = key_resolver(key_id, True)
    if fresh_pem != pem and _rsa_matches(fresh_pem, signature, candidates):
        return fresh_owner, True
    raise SignatureInvalid(f"signature does not verify with key {key_id}")


def _check_window(
    created: datetime,
    expires: datetime | None,
    now: datetime,
    *,
    clock_skew: timedelta,
    default_validity: timedelta,
    max_validity: timedelta,
) -> None:
    if created > now + clock_skew:
        raise SignatureExpired("signature created in the future")
    end = expires if expires is not None else created + default_validity
    end = min(end, created + max_validity)
    if now > end + clock_skew:
        raise SignatureExpired("signature expired")


#: Whitespace (`str.isspace`, Unicode included) and control characters.
_KEY_ID_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f]")


def _check_key_id(key_id: str) -> None:
    if not key_id or len(key_id) > MAX_KEY_ID_LENGTH:
        raise SignatureMalformed("keyId is empty or too long")
    if _KEY_ID_FORBIDDEN.search(key_id):
        raise SignatureMalformed("keyId contains whitespace or control characters")


def _b64decode(value: str, what: str) -> bytes:
    try:
        data = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureMalformed(f"{what} is not base64") from exc
    if not data:
        raise SignatureMalformed(f"{what} is empty")
    return data


# --- Draft-cavage -------------------------------------------------------------------------------

_TOKEN = r"[0-9A-Za-z!#$%&'*+.^_`|~-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_CAVAGE_PARAM = re.compile(rf"[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:({_TOKEN})|({_QUOTED}))[ \t]*")
_UNESCAPE = re.compile(r"\\(.)")
_TIMESTAMP = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


@dataclass(frozen=True, slots=True)
class CavageSignature:
    """A parsed draft-cavage `Signature` header."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: str | None = None
    expires: str | None = None


def parse_signature_header(raw: str | None) -> CavageSignature:
    """Parse a draft-cavage `Signature` header strictly. Raises only SignatureError subclasses."""
    if raw is None or not raw.strip():
        raise SignatureMissing("request is not signed")
    if len(raw) > MAX_HEADER_LENGTH:
        raise SignatureMalformed("Signature header too long")
    text = raw.strip()
    # Old node-http-signature versions prefix the value with "Signature " (Mastodon tolerates it).
    text = text.removeprefix("Signature ")
    params: dict[str, str] = {}
    pos = 0
    while True:
        match = _CAVAGE_PARAM.match(text, pos)
        if match is None:
            raise SignatureMalformed("Signature header does not parse")
        name, token, quoted = match.groups()
        if name in params:
            raise SignatureMalformed(f"duplicate Signature parameter {name}")
        params[name] = token if token is not None else _UNESCAPE.sub(r"\1", quoted[1:-1])
        pos = match.end()
        if pos == len(text):
            break
        if text[pos] != ",":
            raise SignatureMalformed("Signature header does not parse")
        pos += 1

    key_id = params.get("keyId", "")
    signature_b64 = params.get("signature", "")
    if not key_id or not signature_b64:
        raise SignatureMalformed("keyId and signature are required")
    _check_key_id(key_id)
    algorithm = params.get("algorithm", HS2019).lower()
    if algorithm not in {RSA_SHA256, HS2019}:
        raise SignatureMalformed("unsupported algorithm (only rsa-sha256 and hs2019)")
    default_headers = CREATED if algorithm == HS2019 else "date"
    header_list = tuple(params.get("headers", default_headers).lower().split())
    if not header_list:
        raise SignatureMalformed("empty headers list")
    for name in ("created", "expires"):
        value = params.get(name)
        if value is not None and not _TIMESTAMP.fullmatch(value):
            raise SignatureMalformed(f"{name} is not a timestamp")
    return CavageSignature(
        key_id=key_id,
        algorithm=algorithm,
        headers=header_list,
        signature=_b64decode(signature_b64, "signature"),
        created=params.get("created"),
        expires=params.get("expires"),
    )


def _check_cavage_strength(sig: CavageSignature, method: str) -> None:
    signed = set(sig.headers)
    if "date" not in signed and CREATED not in signed:
        raise SignatureMalformed("the Date header or (created) must be signed")
    if REQUEST_TARGET not in signed and "digest" not in signed:
        raise SignatureMalformed("the Digest header or (request-target) must be signed")
    if method == "GET" and "host" not in signed:
        raise SignatureMalformed("the Host header must be signed on GET")
    if method == "POST" and "digest" not in signed:
        raise SignatureMalformed("the Digest header must be signed on POST")
    if sig.algorithm != HS2019 and (CREATED in signed or EXPIRES in signed):
        raise SignatureMalformed("(created) and (expires) are only allowed with hs2019")


def _cavage_string(
    sig: CavageSignature, method: str, target: str, headers: Mapping[str, str]
) -> bytes:
    lines = []
    for name in sig.headers:
        if name == REQUEST_TARGET:
            value = f"{method.lower()} {target}"
        elif name == CREATED:
            if sig.created is None:
                raise SignatureMalformed("(created) signed but the created parameter is missing")
            value = sig.created
        elif name == EXPIRES:
            if sig.expires is None:
                raise SignatureMalformed("(expires) signed but the expires parameter is missing")
            value = sig.expires
        elif name.startswith("("):
            raise SignatureMalformed(f"unknown pseudo-header {name}")
        else:
            header = headers.get(name)
            if header is None:
                raise SignatureMalformed(f"signed header {name} is missing")
            value = header.strip()
        if "\n" in value or "\r" in value:
            raise SignatureMalformed(f"newline in signed header {name}")
        lines.append(f"{name}: {value}")
    return "\n".join(lines).encode("utf-8")


def _parse_http_date(value: str) -> datetime:
    try:
        moment = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise SignatureMalformed("invalid Date header") from exc
    if moment is None:
        raise SignatureMalformed("invalid Date header")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _timestamp(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value.split(".", 1)[0]), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise SignatureMalformed("invalid timestamp") from exc


def _check_cavage_digest(headers: Mapping[str, str], body: bytes) -> None:
    raw = headers.get("digest")
    if raw is None or not raw.strip():
        raise DigestMismatch("Digest header missing")
    offered = None
    for part in raw.split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.strip().lower() == "sha-256":
            offered = value.strip()
            break
    if offered is None:
        raise DigestMismatch("only SHA-256 is supported in the Digest header")
    try:
        given = base64.b64decode(offered, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DigestMismatch("Digest value is not base64") from exc
    if not hmac.compare_digest(given, hashlib.sha256(body).digest()):
        raise DigestMismatch("Digest does not match the body")


def _verify_cavage(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    key_resolver: KeyResolver[OwnerT],
    now: datetime,
    clock_skew: timedelta,
    default_validity: timedelta,
    max_validity: timedelta,
) -> VerifiedSignature[OwnerT]:
    sig = parse_signature_header(headers.get("signature"))
    _check_cavage_strength(sig, method)
    if sig.algorithm == HS2019 and sig.created is not None:
        created = _timestamp(sig.created)
    elif "date" in headers:
        created = _parse_http_date(headers["date"])
    else:
        raise SignatureMalformed("no Date header and no created parameter")
    expires = _timestamp(sig.expires) if sig.expires is not None else None
    _check_window(
        created,
        expires,
        now,
        clock_skew=clock_skew,
        default_validity=default_validity,
        max_validity=max_validity,
    )
    if "digest" in sig.headers:
        _check_cavage_digest(headers, body)
    path = path or "/"
    targets = [f"{path}?{query}", path] if query else [path]
    candidates = [_cavage_string(sig, method, target, headers) for target in targets]

    owner, refreshed = _resolve_and_verify(sig.key_id, sig.signature, candidates, key_resolver)
    return VerifiedSignature(
        key_id=sig.key_id, owner=owner, standard="cavage", created=created, refreshed=refreshed
    )


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign a request the way Mastodon does (draft-cavage, `rsa-sha256`).

    Returns the headers to add to the request (Host, Date, Signature, and on POST Digest and
    Content-Type; on GET Accept). Values already present in `headers` (Date, Content-Type,
    Accept, Digest) are kept and signed as given. POST-like methods sign
    `(request-target) host date digest content-type`; GET and others sign
    `(request-target) host date accept`. `url` must be the URL exactly as it will be sent.
    """
    method = method.upper()
    given = _lower_headers(headers or {})
    _scheme, host, path, query = _host_of(url)
    target = f"{path}?{query}" if query else path
    out: dict[str, str] = {
        "Host": given.get("host", host),
        "Date": given.get("date") or _http_date(_aware(now)),
    }
    if method in _BODY_METHODS:
        out["Digest"] = given.get("digest") or digest_sha256(body or b"")
        out["Content-Type"] = given.get("content-type", ACTIVITY_JSON)
        names = (REQUEST_TARGET, "host", "date", "digest", "content-type")
    else:
        out["Accept"] = given.get("accept", AP_ACCEPT)
        names = (REQUEST_TARGET, "host", "date", "accept")
    values = {
        REQUEST_TARGET: f"{method.lower()} {target}",
        "host": out["Host"],
        "date": out["Date"],
        "digest": out.get("Digest", ""),
        "content-type": out.get("Content-Type", ""),
        "accept": out.get("Accept", ""),
    }
    signing_string = "\n".join(f"{name}: {values[name]}" for name in names).encode("utf-8")
    signature = load_private_key(private_key_pem).sign(
        signing_string, padding.PKCS1v15(), hashes.SHA256()
    )
    out["Signature"] = (
        f'keyId="{_quote_check(key_id)}",algorithm="{RSA_SHA256}",'
        f'headers="{" ".join(names)}",signature="{base64.b64encode(signature).decode("ascii")}"'
    )
    return out


def _quote_check(value: str) -> str:
    if '"' in value or "\\" in value or any(ord(ch) < 0x20 for ch in value):
        raise ValueError("key id must not contain quotes, backslashes or control characters")
    return value


# --- RFC 8941 structured fields (the subset RFC 9421 and RFC 9530 need) -------------------------


class _Token(str):
    """An sf-token (serialised bare, unlike an sf-string)."""


BareItem = int | float | str | bytes | bool
Params = tuple[tuple[str, BareItem], ...]
InnerList = tuple[tuple[tuple[BareItem, Params], ...], Params]

_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*")
_SF_NUMBER = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,3})?")
_SF_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _SFParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> SignatureMalformed:
        return SignatureMalformed(f"structured field: {what} at {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def skip_ows(self) -> None:
        while self.peek() in {" ", "\t"}:
            self.pos += 1

    def key(self) -> str:
        match = _SF_KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("bad key")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        ch = self.peek()
        if ch == '"':
            return self.string()
        if ch == ":":
            match = _SF_BYTES.match(self.text, self.pos)
            if match is None:
                raise self.fail("bad byte sequence")
            self.pos = match.end()
            try:
                return base64.b64decode(match.group(1), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise self.fail("bad base64") from exc
        if ch == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in {"0", "1"}:
                raise self.fail("bad boolean")
            self.pos += 2
            return value == "1"
        if ch == "-" or ch.isdigit():
            match = _SF_NUMBER.match(self.text, self.pos)
            if match is None:
                raise self.fail("bad number")
            self.pos = match.end()
            number = match.group()
            return float(number) if "." in number else int(number)
        match = _SF_TOKEN.match(self.text, self.pos)
        if match is None:
            raise self.fail("bad item")
        self.pos = match.end()
        return _Token(match.group())

    def string(self) -> str:
        self.pos += 1  # opening quote
        out = []
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail("unterminated string")
            self.pos += 1
            if ch == '"':
                return "".join(out)
            if ch == "\\":
                nxt = self.peek()
                if nxt not in {'"', "\\"}:
                    raise self.fail("bad escape")
                self.pos += 1
                out.append(nxt)
            elif not (0x20 <= ord(ch) <= 0x7E):
                raise self.fail("bad character in string")
            else:
                out.append(ch)

    def params(self) -> Params:
        items: list[tuple[str, BareItem]] = []
        seen = set()
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            name = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            if name in seen:
                raise self.fail(f"duplicate parameter {name}")
            seen.add(name)
            items.append((name, value))
        return tuple(items)

    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        members: list[tuple[BareItem, Params]] = []
        while True:
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return tuple(members), self.params()
            item = self.bare_item()
            members.append((item, self.params()))
            if self.peek() not in {" ", ")"}:
                raise self.fail("bad inner list")

    def dictionary(self) -> dict[str, tuple[BareItem | InnerList, Params]]:
        out: dict[str, tuple[BareItem | InnerList, Params]] = {}
        self.skip_sp()
        if self.pos == len(self.text):
            return out
        while True:
            name = self.key()
            if self.peek() == "=":
                self.pos += 1
                value: BareItem | InnerList
                if self.peek() == "(":
                    inner = self.inner_list()
                    value, params = inner, ()
                else:
                    value = self.bare_item()
                    params = self.params()
            else:
                value, params = True, self.params()
            if name in out:
                raise self.fail(f"duplicate member {name}")
            out[name] = (value, params)
            self.skip_ows()
            if self.pos == len(self.text):
                return out
            if self.peek() != ",":
                raise self.fail("expected comma")
            self.pos += 1
            self.skip_ows()
            if self.pos == len(self.text):
                raise self.fail("trailing comma")


def _sf_dictionary(raw: str, what: str) -> dict[str, tuple[BareItem | InnerList, Params]]:
    if len(raw) > MAX_HEADER_LENGTH:
        raise SignatureMalformed(f"{what} header too long")
    return _SFParser(raw.strip(" \t")).dictionary()


def _sf_serialize_item(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, _Token):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(value)


def _sf_serialize_params(params: Params) -> str:
    return "".join(
        f";{name}" if value is True else f";{name}={_sf_serialize_item(value)}"
        for name, value in params
    )


# --- RFC 9421 -----------------------------------------------------------------------------------

_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)


@dataclass(frozen=True, slots=True)
class MessageSignature:
    """One parsed RFC 9421 signature (its `Signature-Input` member and `Signature` bytes)."""

    label: str
    components: tuple[str, ...]
    params: Params
    signature: bytes

    def param(self, name: str) -> BareItem | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def signature_params(self) -> str:
        inner = " ".join(_sf_serialize_item(name) for name in self.components)
        return f"({inner}){_sf_serialize_params(self.params)}"


def parse_message_signature(signature_input: str | None, signature: str | None) -> MessageSignature:
    """Parse `Signature-Input` + `Signature` (exactly one signature). Raises only SignatureError."""
    if signature_input is None or not signature_input.strip():
        raise SignatureMissing("no Signature-Input header")
    if signature is None or not signature.strip():
        raise SignatureMissing("no Signature header")
    inputs = _sf_dictionary(signature_input, "Signature-Input")
    values = _sf_dictionary(signature, "Signature")
    if len(inputs) != 1 or len(values) != 1:
        raise SignatureMalformed("exactly one signature is supported")
    ((label, (inner, _)),) = inputs.items()
    if label not in values:
        raise SignatureMalformed("Signature and Signature-Input labels differ")
    raw_signature, _ = values[label]
    if not isinstance(raw_signature, bytes) or not raw_signature:
        raise SignatureMalformed("Signature value is not a byte sequence")
    if not isinstance(inner, tuple):
        raise SignatureMalformed("Signature-Input value is not an inner list")
    members, params = inner
    components: list[str] = []
    for item, item_params in members:
        if not isinstance(item, str) or isinstance(item, _Token) or item_params:
            raise SignatureMalformed("covered components must be plain strings")
        if item in components:
            raise SignatureMalformed(f"component {item} listed twice")
        if item.startswith("@"):
            if item not in _DERIVED:
                raise SignatureMalformed(f"unsupported derived component {item}")
        elif item != item.lower() or not item or not _SF_TOKEN.fullmatch(item):
            raise SignatureMalformed(f"bad header component {item!r}")
        components.append(item)
    return MessageSignature(
        label=label, components=tuple(components), params=params, signature=raw_signature
    )


def _rfc9421_component(
    name: str,
    *,
    method: str,
    scheme: str,
    authority: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
) -> str:
    if name == "@method":
        return method
    if name == "@target-uri":
        return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")
    if name == "@authority":
        return authority
    if name == "@scheme":
        return scheme
    if name == "@request-target":
        return path + (f"?{query}" if query else "")
    if name == "@path":
        return path
    if name == "@query":
        return f"?{query}"
    value = headers.get(name)
    if value is None:
        raise SignatureMalformed(f"covered header {name} is missing")
    if "\n" in value or "\r" in value:
        raise SignatureMalformed(f"newline in covered header {name}")
    return value.strip()


def _rfc9421_base(
    sig: MessageSignature,
    *,
    method: str,
    scheme: str,
    authority: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
) -> bytes:
    lines = [
        f'"{name}": '
        + _rfc9421_component(
            name,
            method=method,
            scheme=scheme,
            authority=authority,
            path=path,
            query=query,
            headers=headers,
        )
        for name in sig.components
    ]
    lines.append(f'"@signature-params": {sig.signature_params()}')
    return "\n".join(lines).encode("utf-8")


def _check_content_digest(headers: Mapping[str, str], body: bytes) -> None:
    raw = headers.get("content-digest")
    if raw is None or not raw.strip():
        raise DigestMismatch("Content-Digest header missing")
    try:
        digests = _sf_dictionary(raw, "Content-Digest")
    except SignatureMalformed as exc:
        raise DigestMismatch("Content-Digest does not parse") from exc
    checked = False
    for algorithm, factory in (("sha-256", hashlib.sha256), ("sha-512", hashlib.sha512)):
        if algorithm not in digests:
            continue
        value, _ = digests[algorithm]
        if not isinstance(value, bytes) or not hmac.compare_digest(value, factory(body).digest()):
            raise DigestMismatch(f"Content-Digest {algorithm} does not match the body")
        checked = True
    if not checked:
        raise DigestMismatch("Content-Digest offers neither sha-256 nor sha-512")


def _verify_rfc9421(
    *,
    method: str,
    path: str,
    query: str,
    scheme: str,
    headers: Mapping[str, str],
    body: bytes,
    key_resolver: KeyResolver[OwnerT],
    now: datetime,
    clock_skew: timedelta,
    default_validity: timedelta,
    max_validity: timedelta,
) -> VerifiedSignature[OwnerT]:
    sig = parse_message_signature(headers.get("signature-input"), headers.get("signature"))
    covered = set(sig.components)
    if "@method" not in covered or "@target-uri" not in covered:
        raise SignatureMalformed("@method and @target-uri must be covered")
    if method == "POST" and "content-digest" not in covered:
        raise SignatureMalformed("content-digest must be covered on POST")
    key_id = sig.param("keyid")
    if not isinstance(key_id, str) or isinstance(key_id, _Token):
        raise SignatureMalformed("keyid parameter missing")
    _check_key_id(key_id)
    alg = sig.param("alg")
    if alg is not None and alg != RFC9421_ALG:
        raise SignatureMalformed("unsupported alg (only rsa-v1_5-sha256)")
    created_value = sig.param("created")
    if not isinstance(created_value, int) or isinstance(created_value, bool):
        raise SignatureMalformed("created parameter missing")
    created = _timestamp(str(created_value))
    expires_value = sig.param("expires")
    if expires_value is not None and (
        not isinstance(expires_value, int) or isinstance(expires_value, bool)
    ):
        raise SignatureMalformed("expires parameter is not an integer")
    expires = _timestamp(str(expires_value)) if expires_value is not None else None
    authority = headers.get("host", "").strip().lower()
    if not authority:
        raise SignatureMalformed("no Host header")
    _check_window(
        created,
        expires,
        now,
        clock_skew=clock_skew,
        default_validity=default_validity,
        max_validity=max_validity,
    )
    if "content-digest" in covered:
        _check_content_digest(headers, body)
    base = _rfc9421_base(
        sig,
        method=method,
        scheme=scheme,
        authority=authority,
        path=path or "/",
        query=query,
        headers=headers,
    )
    owner, refreshed = _resolve_and_verify(key_id, sig.signature, [base], key_resolver)
    return VerifiedSignature(
        key_id=key_id, owner=owner, standard="rfc9421", created=created, refreshed=refreshed
    )


def sign_request_rfc9421(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign a request with RFC 9421 (for double-knock with peers that verify it).

    Covers `"@method" "@target-uri" "content-digest" "content-type"` on POST-like methods and
    `"@method" "@target-uri"` otherwise, with `created`, `keyid` and `alg="rsa-v1_5-sha256"`.
    Returns the headers to add (Host, Signature-Input, Signature, and on POST Content-Digest and
    Content-Type). Never send these together with a cavage `Signature` header: the two
    standards share the header name.
    """
    method = method.upper()
    given = _lower_headers(headers or {})
    scheme, host, path, query = _host_of(url)
    out: dict[str, str] = {"Host": given.get("host", host)}
    components: tuple[str, ...]
    if method in _BODY_METHODS:
        out["Content-Digest"] = given.get("content-digest") or content_digest(body or b"")
        out["Content-Type"] = given.get("content-type", ACTIVITY_JSON)
        components = ("@method", "@target-uri", "content-digest", "content-type")
    else:
        components = ("@method", "@target-uri")
    created = int(_aware(now).timestamp())
    sig = MessageSignature(
        label=RFC9421_LABEL,
        components=components,
        params=(("created", created), ("keyid", key_id), ("alg", RFC9421_ALG)),
        signature=b"",
    )
    base = _rfc9421_base(
        sig,
        method=method,
        scheme=scheme,
        authority=out["Host"].lower(),
        path=path,
        query=query,
        headers={k.lower(): v for k, v in out.items()},
    )
    signature = load_private_key(private_key_pem).sign(base, padding.PKCS1v15(), hashes.SHA256())
    out["Signature-Input"] = f"{RFC9421_LABEL}={sig.signature_params()}"
    out["Signature"] = f"{RFC9421_LABEL}=:{base64.b64encode(signature).decode('ascii')}:"
    return out


# --- Entry point --------------------------------------------------------------------------------


def verify_request(
    *,
    method: str,
    path: str,
    query: str = "",
    headers: Mapping[str, str],
    body: bytes | None,
    key_resolver: KeyResolver[OwnerT],
    now: datetime | None = None,
    scheme: str = "https",
    clock_skew: timedelta = CLOCK_SKEW,
    default_validity: timedelta = DEFAULT_VALIDITY,
    max_validity: timedelta = MAX_VALIDITY,
) -> VerifiedSignature[OwnerT]:
    """Verify an incoming request's HTTP signature (RFC 9421 if `Signature-Input`, else cavage).

    `path` and `query` are as sent on the wire (percent-encoded, query without `?`); `headers`
    is any mapping (names are matched case-insensitively); `scheme` is this server's public
    scheme (for RFC 9421 `@target-uri`). Raises a SignatureError subclass, or whatever the
    resolver raises. The caller must still check that the owner is the activity's actor.
    """
    lowered = _lower_headers(headers)
    if "signature-input" in lowered:
        return _verify_rfc9421(
            method=method.upper(),
            path=path,
            query=query.removeprefix("?"),
            scheme=scheme.lower(),
            headers=lowered,
            body=body or b"",
            key_resolver=key_resolver,
            now=_aware(now),
            clock_skew=clock_skew,
            default_validity=default_validity,
            max_validity=max_validity,
        )
    if "signature" not in lowered:
        raise SignatureMissing("request is not signed")
    return _verify_cavage(
        method=method.upper(),
        path=path,
        query=query.removeprefix("?"),
        headers=lowered,
        body=body or b"",
        key_resolver=key_resolver,
        now=_aware(now),
        clock_skew=clock_skew,
        default_validity=default_validity,
        max_validity=max_validity,
    )
