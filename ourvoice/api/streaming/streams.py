"""Stream names, their parameters and the channel-layer groups they listen to (pure).

Mastodon's names (mastodon-api.md §5): `user`, `user:notification`, `public`, `public:local`,
`public:remote` (each public one with a `:media` variant), `hashtag` and `hashtag:local`
(`tag=`), `list` (`list=`) and `direct`. Events travel on three kinds of groups: `ov.public`
(every public post), `ov.tag.<digest>` (public posts with one hashtag) and `ov.user.<id>`
(one local account's home, notifications and direct messages). A subscription picks the
messages of its group it wants (local only, media only, notifications only...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

PUBLIC_GROUP = "ov.public"

#: Message kinds on a user group.
HOME, NOTIFICATION, DIRECT = "home", "notification", "direct"


class StreamError(Exception):
    """A subscription that cannot be served; `status` and `message` go into the error frame."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def hashtag_normalise(tag: str) -> str:
    return (tag or "").strip().lstrip("#").lower()


def hashtag_group(tag: str) -> str:
    """Group of a hashtag: a digest, because group names allow only ASCII letters and digits."""
    digest = hashlib.sha256(hashtag_normalise(tag).encode()).hexdigest()[:32]
    return f"ov.tag.{digest}"


def user_group(account_id: int) -> str:
    return f"ov.user.{account_id}"


@dataclass(frozen=True)
class Subscription:
    """What one client asked for, resolved to a group and a message filter."""

    name: str
    #: The `stream` array of every event frame: the name, then the tag or list id.
    stream: tuple[str, ...]
    group: str
    #: Token scope needed (any of these).
    scopes: tuple[str, ...]
    #: For user groups: the message kinds wanted.
    kinds: frozenset[str] = frozenset()
    #: For public and hashtag groups: True = local posts only, False = remote only.
    local: bool | None = None
    media: bool = False

    def wants(self, message: dict[str, Any]) -> bool:
        if self.kinds:
            return message.get("kind") in self.kinds
        if self.local is not None and bool(message.get("local")) != self.local:
            return False
        return not (self.media and not message.get("media"))


_PUBLIC = {
    "public": None,
    "public:local": True,
    "public:remote": False,
}
_READ_STATUSES = ("read", "read:statuses")


def _param(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def subscription_resolve(
    name: str, params: dict[str, Any], *, account_id: int | None
) -> Subscription:
    """The subscription for stream `name` with `params` (`tag`, `list`) for a signed-in
    `account_id` (None for an app token). Raises StreamError for unknown or unauthorised ones.
    """
    name = (name or "").strip()
    if name in ("user", "user:notification", "direct"):
        if account_id is None:
            raise StreamError("This stream needs a user token", 401)
        group = user_group(account_id)
        if name == "user":
            return Subscription(
                name,
                (name,),
                group,
                ("read", "read:statuses", "read:notifications"),
                kinds=frozenset({HOME, NOTIFICATION}),
            )
        if name == "user:notification":
            return Subscription(
                name,
                (name,),
                group,
                ("read", "read:notifications"),
                kinds=frozenset({NOTIFICATION}),
            )
        return Subscription(name, (name,), group, _READ_STATUSES, kinds=frozenset({DIRECT}))
    media = name.endswith(":media")
    base = name.removesuffix(":media")
    if base in _PUBLIC:
        return Subscription(
            name, (name,), PUBLIC_GROUP, _READ_STATUSES, local=_PUBLIC[base], media=media
        )
    if name in ("hashtag", "hashtag:local"):
        tag = _param(params, "tag")
        if not hashtag_normalise(tag):
            raise StreamError("No tag for stream provided")
        return Subscription(
            name,
            (name, tag),
            hashtag_group(tag),
            _READ_STATUSES,
            local=True if name == "hashtag:local" else None,
        )
    if name == "list":
        # Lists are not built yet (GET /api/v1/lists is empty): no list belongs to anyone.
        raise StreamError("Not authorized to stream this list", 401)
    raise StreamError("Unknown stream type")


#: SSE paths below /api/v1/streaming/ and the stream each names.
SSE_PATHS = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "public/media": "public:media",
    "public/local/media": "public:local:media",
    "public/remote/media": "public:remote:media",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
    "list": "list",
    "direct": "direct",
}
