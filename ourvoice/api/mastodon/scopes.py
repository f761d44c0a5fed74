"""Mastodon OAuth scopes: the known set, expansion of parents, and coverage checks."""

from __future__ import annotations

from collections.abc import Iterable

_READ = [
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
]
_WRITE = [
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
]
_ADMIN_READ = [
    "accounts",
    "reports",
    "domain_allows",
    "domain_blocks",
    "ip_blocks",
    "email_domain_blocks",
    "canonical_email_blocks",
]
_ADMIN_WRITE = _ADMIN_READ

TOP_LEVEL = ("read", "write", "follow", "push", "profile", "crypto", "admin:read", "admin:write")
KNOWN_SCOPES: frozenset[str] = frozenset(
    [*TOP_LEVEL]
    + [f"read:{s}" for s in _READ]
    + [f"write:{s}" for s in _WRITE]
    + [f"admin:read:{s}" for s in _ADMIN_READ]
    + [f"admin:write:{s}" for s in _ADMIN_WRITE]
)
#: `follow` is the legacy parent of these granular scopes.
FOLLOW_CHILDREN = frozenset(
    {"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"}
)


def parse_scopes(value: str | Iterable[str] | None, *, default: str = "read") -> list[str]:
    """Split a scope string (space or '+' separated) or list; keeps order, drops duplicates."""
    if value is None:
        items: list[str] = []
    elif isinstance(value, str):
        items = value.replace("+", " ").split()
    else:
        items = [part for v in value for part in str(v).replace("+", " ").split()]
    if not items:
        items = default.split()
    seen: dict[str, None] = {}
    for item in items:
        seen[item] = None
    return list(seen)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return [s for s in scopes if s not in KNOWN_SCOPES]


def covers(granted: Iterable[str], required: str) -> bool:
    """True when a granted scope equals `required` or is its parent (read ⊇ read:statuses)."""
    granted = set(granted)
    if required in granted:
        return True
    parts = required.split(":")
    for i in range(1, len(parts)):
        if ":".join(parts[:i]) in granted:
            return True
    return required in FOLLOW_CHILDREN and "follow" in granted


def is_subset(requested: Iterable[str], allowed: Iterable[str]) -> bool:
    """Every requested scope is covered by the allowed ones."""
    allowed = list(allowed)
    return all(covers(allowed, s) for s in requested)
