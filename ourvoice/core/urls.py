"""Builders for this instance's public URLs and ActivityPub ids (pure functions of settings)."""

from __future__ import annotations

import contextlib

from django.conf import settings


def absolute_url(path: str) -> str:
    """`OURVOICE_SCHEME://OURVOICE_DOMAIN` + path."""
    return f"{settings.OURVOICE_BASE_URL}{path}"


def normalize_domain(domain: str) -> str:
    """Lowercase host[:port] without a trailing dot or the scheme's default port.

    IDNA names are converted to their ASCII form so that look-alike spellings compare equal
    (Mastodon CVE-2023-42451).
    """
    value = domain.strip().lower().rstrip(".")
    host, sep, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if not sep:
        host, port = value, ""
    host = host.rstrip(".")
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii") if host and not host.startswith("[") else host
    if port in {"", "80", "443"}:
        return host
    return f"{host}:{port}"


# --- Local ActivityPub ids and pages. Federation's views serve exactly these paths. ---------


def actor_uri(username: str) -> str:
    return absolute_url(f"/users/{username}")


def profile_url(username: str) -> str:
    return absolute_url(f"/@{username}")


def instance_actor_uri() -> str:
    return absolute_url("/actor")


def shared_inbox_uri() -> str:
    return absolute_url("/inbox")


def post_uri(username: str, post_id: int) -> str:
    return absolute_url(f"/users/{username}/statuses/{post_id}")


def post_url(username: str, post_id: int) -> str:
    return absolute_url(f"/@{username}/{post_id}")


def hashtag_url(name: str) -> str:
    return absolute_url(f"/tags/{name}")


def activity_uri(username: str, kind: str, object_id: int) -> str:
    """Id of an activity of a local actor: kind is follows, likes, reposts or blocks."""
    return absolute_url(f"/users/{username}/{kind}/{object_id}")
