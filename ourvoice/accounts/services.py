"""Write operations on users, accounts and their relations (follow, block, mute)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute, User
from ourvoice.core import urls
from ourvoice.core.errors import Conflict, Invalid, NotAllowed, NotFound
from ourvoice.core.html import render_plain_text, sanitize_html
from ourvoice.core.keys import rsa_keypair_generate
from ourvoice.core.outbox import outbox_record
from ourvoice.core.urls import normalize_domain

logger = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[a-zA-Z0-9_]{1,30}$")
#: Names local people may not take: system actors and confusing paths.
RESERVED_USERNAMES = frozenset(
    {
        "moderation",
        "admin",
        "administrator",
        "root",
        "instance",
        "actor",
        "support",
        "ourvoice",
        "webmaster",
        "postmaster",
        "abuse",
        "security",
        "system",
        "staff",
        "mod",
        "moderator",
    }
)
MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4


def _local_actor_fields(username: str) -> dict[str, Any]:
    actor = urls.actor_uri(username)
    private_pem, public_pem = rsa_keypair_generate()
    return {
        "uri": actor,
        "url": urls.profile_url(username),
        "inbox_uri": f"{actor}/inbox",
        "shared_inbox_uri": urls.shared_inbox_uri(),
        "outbox_uri": f"{actor}/outbox",
        "followers_uri": f"{actor}/followers",
        "following_uri": f"{actor}/following",
        "featured_uri": f"{actor}/collections/featured",
        "key_id": f"{actor}#main-key",
        "public_key_pem": public_pem,
        "private_key_pem": private_pem,
    }


def _validate_username(username: str, *, allow_reserved: bool = False) -> None:
    if not USERNAME_RE.match(username or ""):
        raise Invalid("Username must be 1 to 30 letters, digits or underscores.", field="username")
    if username.lower() in RESERVED_USERNAMES and not (
        allow_reserved and username.lower() != "moderation"
    ):
        raise Invalid("This username is reserved.", field="username")
    if Account.objects.local().filter(username__iexact=username).exists():
        raise Invalid("This username is already taken.", field="username")


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    password: str,
    is_admin: bool = False,
    approved: bool = True,
    reason: str = "",
    locale: str = "",
    display_name: str = "",
    allow_reserved: bool = False,
) -> User:
    """Create a local login and its account (with a fresh RSA-2048 key pair).

    Records `account.created`; when `approved` is False the user waits for an admin
    (`user_approve` / `user_reject`) and cannot log in meanwhile.
    """
    username = (username or "").strip()
    email = (email or "").strip().lower()
    _validate_username(username, allow_reserved=allow_reserved)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise Invalid("Email address is not valid.", field="email") from exc
    if User.objects.filter(email__iexact=email).exists():
        raise Invalid("This email address is already in use.", field="email")
    try:
        validate_password(password or "")
    except ValidationError as exc:
        raise Invalid(" ".join(exc.messages), field="password") from exc
    if len(display_name) > MAX_DISPLAY_NAME:
        raise Invalid(
            f"Display name is longer than {MAX_DISPLAY_NAME} characters.", field="display_name"
        )
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                email=email,
                password=password,
                is_staff=is_admin,
                is_superuser=is_admin,
                approval=User.Approval.APPROVED if approved else User.Approval.PENDING,
                is_active=approved,
                signup_reason=reason[:1000],
                locale=locale[:16],
            )
            account = Account.objects.create(
                user=user,
                username=username,
                display_name=display_name,
                **_local_actor_fields(username),
            )
    except IntegrityError as exc:
        raise Invalid("This username or email address is already taken.") from exc
    outbox_record(kind="account.created", payload={"account_id": account.id})
    logger.info(
        "user created username=%s account_id=%s approved=%s", username, account.id, approved
    )
    return user


@transaction.atomic
def user_approve(*, user: User) -> User:
    """Let a pending user log in; approving an approved user changes nothing.

    The login stays inactive while its account is suspended (`account_unsuspend` then
    activates it), so approval never lifts a suspension.
    """
    current = User.objects.select_for_update().get(pk=user.pk)
    if current.approval == User.Approval.APPROVED:
        user.refresh_from_db(fields=["approval", "is_active"])
        return user
    if current.approval != User.Approval.PENDING:
        raise Conflict("Only a pending sign-up can be approved.")
    suspended = Account.objects.filter(user_id=user.pk, suspended_at__isnull=False).exists()
    User.objects.filter(pk=user.pk).update(approval=User.Approval.APPROVED, is_active=not suspended)
    user.refresh_from_db(fields=["approval", "is_active"])
    logger.info("user approved user_id=%s", user.pk)
    return user


@transaction.atomic
def user_reject(*, user: User) -> None:
    """Refuse a pending sign-up: the login and its account are deleted."""
    current = User.objects.select_for_update().filter(pk=user.pk).first()
    if current is None:
        raise NotFound("This sign-up no longer exists.")
    if current.approval != User.Approval.PENDING:
        raise Conflict("Only a pending sign-up can be rejected.")
    current.delete()
    logger.info("user rejected user_id=%s", user.pk)


def system_actor_get(*, role: str) -> Account:
    """The instance actor or the moderation actor (created by migration 0002)."""
    if role not in (Account.Role.INSTANCE, Account.Role.MODERATION):
        raise Invalid(f"Unknown system actor role {role!r}.")
    return Account.objects.get(domain="", role=role)


def _mention_url(username: str, domain: str) -> str | None:
    qs = Account.objects.filter(username__iexact=username, domain=domain or "")
    return qs.values_list("url", flat=True).first() or None


@transaction.atomic
def account_update_profile(
    *,
    account: Account,
    display_name: str | None = None,
    note: str | None = None,
    locked: bool | None = None,
    bot: bool | None = None,
    discoverable: bool | None = None,
    indexable: bool | None = None,
    fields: list[dict[str, str]] | None = None,
    avatar_url: str | None = None,
    header_url: str | None = None,
) -> Account:
    """Change a local account's public profile; records `account.updated` (federated as Update).

    Every argument is checked before anything changes, so an `Invalid` leaves `account`
    (the row and the object passed in) untouched. The bio and plain-text field values are
    rendered to escaped HTML with links, mentions and hashtags.
    """
    if not account.local:
        raise NotAllowed("Only local accounts can be edited here.")
    updates: dict[str, Any] = {}
    if display_name is not None:
        if len(display_name) > MAX_DISPLAY_NAME:
            raise Invalid(
                f"Display name is longer than {MAX_DISPLAY_NAME} characters.",
                field="display_name",
            )
        updates["display_name"] = display_name
    if note is not None:
        if len(note) > MAX_NOTE:
            raise Invalid(f"Bio is longer than {MAX_NOTE} characters.", field="note")
        updates["note_source"] = note
        updates["note"] = render_plain_text(
            note, mention_url=_mention_url, hashtag_url=urls.hashtag_url
        )
    for name, value in (
        ("locked", locked),
        ("bot", bot),
        ("discoverable", discoverable),
        ("indexable", indexable),
    ):
        if value is not None:
            updates[name] = bool(value)
    if fields is not None:
        updates["fields"] = _profile_fields_clean(fields)
    images = {"avatar_url": avatar_url, "header_url": header_url}
    updates.update({name: value for name, value in images.items() if value is not None})
    if updates:
        for name, value in updates.items():
            setattr(account, name, value)
        account.updated_at = timezone.now()
        account.save(update_fields=[*updates, "updated_at"])
        outbox_record(kind="account.updated", payload={"account_id": account.id})
    return account


def _profile_fields_clean(fields: list[dict[str, str]]) -> list[dict[str, str]]:
    if len(fields) > MAX_FIELDS:
        raise Invalid(f"At most {MAX_FIELDS} profile fields are allowed.", field="fields")
    cleaned = []
    for item in fields:
        if not isinstance(item, dict):
            raise Invalid("Each profile field needs a name and a value.", field="fields")
        # A field is one line (Mastodon shows it in a table row): fold line breaks to spaces.
        name = " ".join(str(item.get("name", "")).split())
        value = " ".join(str(item.get("value", "")).split())
        if len(name) > 255 or len(value) > 255:
            raise Invalid(
                "Profile field names and values are limited to 255 characters.", field="fields"
            )
        if not (name or value):
            continue
        if "<" in value:
            rendered = sanitize_html(value)
        else:
            rendered = (
                render_plain_text(value, mention_url=_mention_url, hashtag_url=urls.hashtag_url)
                .removeprefix("<p>")
                .removesuffix("</p>")
            )
        cleaned.append({"name": name, "value": rendered})
    return cleaned


@transaction.atomic
def account_suspend(*, account: Account) -> Account:
    """Suspend an account: hidden everywhere, its login disabled, nothing delivered to it.

    Suspending twice changes nothing. A local account keeps its follow rows so that
    `account_unsuspend` restores it as it was. A remote account's follows of local accounts
    are rejected (as Mastodon's SuspendAccountService does), because its server would
    otherwise keep receiving followers-only posts; like in Mastodon this part is not undone.
    """
    if account.role != Account.Role.USER:
        raise NotAllowed("System actors cannot be suspended.")
    current = Account.objects.select_for_update().get(pk=account.pk)
    if current.suspended_at is not None:
        account.suspended_at = current.suspended_at
        return account
    account.suspended_at = timezone.now()
    Account.objects.filter(pk=account.pk).update(suspended_at=account.suspended_at)
    if account.user_id:
        User.objects.filter(pk=account.user_id).update(is_active=False)
    if not account.local:
        follows = Follow.objects.select_for_update().filter(follower=account, target__domain="")
        for follow in follows:
            _follow_remove(follow, kind="follow.rejected")
    outbox_record(kind="account.suspended", payload={"account_id": account.id})
    logger.info("account suspended account_id=%s", account.id)
    return account


@transaction.atomic
def account_unsuspend(*, account: Account) -> Account:
    """Lift a suspension (the login is active again once its sign-up is approved)."""
    current = Account.objects.select_for_update().get(pk=account.pk)
    if current.suspended_at is None:
        account.suspended_at = None
        return account
    account.suspended_at = None
    Account.objects.filter(pk=account.pk).update(suspended_at=None)
    if account.user_id:
        User.objects.filter(pk=account.user_id, approval=User.Approval.APPROVED).update(
            is_active=True
        )
    outbox_record(kind="account.unsuspended", payload={"account_id": account.id})
    logger.info("account unsuspended account_id=%s", account.id)
    return account


@transaction.atomic
def account_silence(*, account: Account, silenced: bool) -> Account:
    """Hide (or stop hiding) an account from public timelines; followers still see it.

    Silencing an already silenced account keeps the time it was first silenced.
    """
    current = Account.objects.select_for_update().get(pk=account.pk)
    if (current.silenced_at is not None) == silenced:
        account.silenced_at = current.silenced_at
        return account
    account.silenced_at = timezone.now() if silenced else None
    Account.objects.filter(pk=account.pk).update(silenced_at=account.silenced_at)
    logger.info("account silenced account_id=%s silenced=%s", account.id, silenced)
    return account


def _check_can_interact(actor: Account, target: Account) -> None:
    if actor.pk == target.pk:
        raise Invalid("You cannot do this to yourself.")
    if actor.is_suspended:
        raise NotAllowed("Your account is suspended.")
    if target.is_suspended:
        raise NotAllowed("This account is suspended.")


def _counters_on_accept(follow: Follow, delta: int) -> None:
    Account.objects.filter(pk=follow.target_id).update(
        followers_count=Greatest(F("followers_count") + delta, 0)
    )
    Account.objects.filter(pk=follow.follower_id).update(
        following_count=Greatest(F("following_count") + delta, 0)
    )


@transaction.atomic
def follow_create(
    *,
    follower: Account,
    target: Account,
    uri: str = "",
    show_reblogs: bool = True,
    notify: bool = False,
) -> Follow:
    """Start following `target`.

    A local, unlocked target accepts at once; a locked or remote one leaves the follow pending
    until `follow_accept`. Following again only updates the options. Records
    `follow.requested` (and `follow.accepted` when accepted at once).
    """
    _check_can_interact(follower, target)
    if Block.objects.filter(account=target, target=follower).exists():
        raise NotAllowed("This account has blocked you.")
    if Block.objects.filter(account=follower, target=target).exists():
        raise NotAllowed("Unblock this account before following it.")
    existing = Follow.objects.select_for_update().filter(follower=follower, target=target).first()
    if existing:
        Follow.objects.filter(pk=existing.pk).update(show_reblogs=show_reblogs, notify=notify)
        existing.show_reblogs, existing.notify = show_reblogs, notify
        return existing
    follow = Follow(follower=follower, target=target, show_reblogs=show_reblogs, notify=notify)
    follow.uri = uri or (
        urls.activity_uri(follower.username, "follows", follow.id) if follower.local else ""
    )
    if not follow.uri:
        raise Invalid("A remote follow needs the id of its Follow activity.")
    try:
        with transaction.atomic():
            follow.save(force_insert=True)
    except IntegrityError:
        return Follow.objects.get(follower=follower, target=target)
    payload = {"follow_id": follow.id, "follower_id": follower.id, "target_id": target.id}
    outbox_record(kind="follow.requested", payload=payload)
    if target.local and not target.locked:
        _follow_mark_accepted(follow)
    return follow


def _follow_mark_accepted(follow: Follow) -> None:
    updated = Follow.objects.filter(pk=follow.pk, state=Follow.State.PENDING).update(
        state=Follow.State.ACCEPTED, accepted_at=timezone.now()
    )
    if not updated:
        return
    follow.state = Follow.State.ACCEPTED
    _counters_on_accept(follow, +1)
    outbox_record(
        kind="follow.accepted",
        payload={
            "follow_id": follow.id,
            "follower_id": follow.follower_id,
            "target_id": follow.target_id,
        },
    )


@transaction.atomic
def follow_accept(*, follow: Follow) -> Follow:
    """Accept a pending follow (by the local target, or on a remote server's Accept)."""
    follow = Follow.objects.select_for_update().get(pk=follow.pk)
    if follow.state == Follow.State.ACCEPTED:
        return follow
    _follow_mark_accepted(follow)
    return follow


@transaction.atomic
def follow_reject(*, follow: Follow) -> None:
    """Refuse a follow request (or revoke an accepted follow); the row is removed."""
    follow = Follow.objects.select_for_update().filter(pk=follow.pk).first()
    if follow is None:
        return
    _follow_remove(follow, kind="follow.rejected")


@transaction.atomic
def follow_delete(*, follower: Account, target: Account) -> bool:
    """Unfollow (or withdraw a request). Returns False when there was nothing to undo."""
    follow = Follow.objects.select_for_update().filter(follower=follower, target=target).first()
    if follow is None:
        return False
    _follow_remove(follow, kind="follow.deleted")
    return True


def _follow_remove(follow: Follow, *, kind: str) -> None:
    was_accepted = follow.state == Follow.State.ACCEPTED
    payload = {
        "follow_id": follow.id,
        "follower_id": follow.follower_id,
        "target_id": follow.target_id,
        "uri": follow.uri,
    }
    follow.delete()
    if was_accepted:
        _counters_on_accept(follow, -1)
    outbox_record(kind=kind, payload=payload)


@transaction.atomic
def block_create(*, account: Account, target: Account, uri: str = "") -> Block:
    """Block `target`: follows in both directions end, and it can no longer interact."""
    if account.pk == target.pk:
        raise Invalid("You cannot block yourself.")
    existing = Block.objects.filter(account=account, target=target).first()
    if existing:
        return existing
    block = Block(account=account, target=target)
    block.uri = uri or (
        urls.activity_uri(account.username, "blocks", block.id) if account.local else ""
    )
    try:
        with transaction.atomic():
            block.save(force_insert=True)
    except IntegrityError:  # a concurrent request blocked first
        return Block.objects.get(account=account, target=target)
    for follower, followed in ((account, target), (target, account)):
        follow = (
            Follow.objects.select_for_update().filter(follower=follower, target=followed).first()
        )
        if follow:
            _follow_remove(
                follow, kind="follow.deleted" if follower == account else "follow.rejected"
            )
    outbox_record(
        kind="block.created",
        payload={"block_id": block.id, "account_id": account.id, "target_id": target.id},
    )
    return block


@transaction.atomic
def block_delete(*, account: Account, target: Account) -> bool:
    """Unblock. Returns False when there was no block."""
    block = Block.objects.filter(account=account, target=target).first()
    if block is None:
        return False
    payload = {
        "block_id": block.id,
        "account_id": account.id,
        "target_id": target.id,
        "uri": block.uri,
    }
    block.delete()
    outbox_record(kind="block.deleted", payload=payload)
    return True


@transaction.atomic
def mute_create(
    *,
    account: Account,
    target: Account,
    notifications: bool = True,
    expires_at: datetime | None = None,
) -> Mute:
    """Mute `target` (its posts, and optionally its notifications, are hidden from `account`)."""
    if account.pk == target.pk:
        raise Invalid("You cannot mute yourself.")
    mute, _ = Mute.objects.update_or_create(
        account=account,
        target=target,
        defaults={"notifications": notifications, "expires_at": expires_at},
    )
    return mute


@transaction.atomic
def mute_delete(*, account: Account, target: Account) -> bool:
    """Unmute. Returns False when there was no mute."""
    deleted, _ = Mute.objects.filter(account=account, target=target).delete()
    return bool(deleted)


# --- Added for the Mastodon accounts section (user-level domain blocks) --------------------

_DOMAIN_RE = re.compile(
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)


def _domain_clean(domain: str) -> str:
    """Normalised host[:port] from what a person typed (a bare domain or a URL), else Invalid."""
    value = (domain or "").strip()
    if "://" in value:
        value = urlsplit(value).netloc.rpartition("@")[2]
    value = normalize_domain(value.rstrip("/")) if value else ""
    if not value or len(value) > 255 or not _DOMAIN_RE.match(value):
        raise Invalid("Domain is not a valid domain name.", field="domain")
    if value == normalize_domain(settings.OURVOICE_DOMAIN):
        raise Invalid("You cannot block your own server.", field="domain")
    return value


@transaction.atomic
def account_domain_block_create(*, account: Account, domain: str) -> AccountDomainBlock:
    """Hide every account of a remote `domain` from `account` (Mastodon `/api/v1/domain_blocks`).

    `domain` may be a bare domain or a URL; it is stored normalised. As Mastodon's
    BlockDomainFromAccountService does, follows in both directions between `account` and
    accounts of that domain end: the account's own follows are withdrawn (`follow.deleted`),
    theirs, accepted or pending, are rejected (`follow.rejected`). Blocking a domain twice
    changes nothing more. Raises Invalid for a malformed domain or this server's own domain.
    """
    value = _domain_clean(domain)
    block, created = AccountDomainBlock.objects.get_or_create(account=account, domain=value)
    if not created:
        return block
    on_domain = Account.objects.filter(domain=value).values("pk")
    outgoing = Follow.objects.select_for_update().filter(follower=account, target_id__in=on_domain)
    for follow in outgoing:
        _follow_remove(follow, kind="follow.deleted")
    incoming = Follow.objects.select_for_update().filter(target=account, follower_id__in=on_domain)
    for follow in incoming:
        _follow_remove(follow, kind="follow.rejected")
    logger.info("domain blocked account_id=%s domain=%s", account.id, value)
    return block


@transaction.atomic
def account_domain_block_delete(*, account: Account, domain: str) -> bool:
    """Lift `account`'s block of `domain`. Returns False when there was none.

    Follows ended by the block are not restored (as in Mastodon).
    """
    value = _domain_clean(domain)
    deleted, _ = AccountDomainBlock.objects.filter(account=account, domain=value).delete()
    return bool(deleted)


POSTING_PRIVACY = ("public", "unlisted", "private")


@transaction.atomic
def user_set_posting_defaults(
    *,
    user: User,
    privacy: str | None = None,
    sensitive: bool | None = None,
    language: str | None = None,
) -> User:
    """Store a user's posting defaults (visibility, sensitive media, language); None keeps one."""
    changed: list[str] = []
    if privacy is not None:
        if privacy not in POSTING_PRIVACY:
            raise Invalid("Default privacy is not included in the list", field="privacy")
        user.default_privacy = privacy
        changed.append("default_privacy")
    if sensitive is not None:
        user.default_sensitive = bool(sensitive)
        changed.append("default_sensitive")
    if language is not None:
        if len(language) > 16:
            raise Invalid("Default language is not a language code", field="language")
        user.default_language = language
        changed.append("default_language")
    if changed:
        user.save(update_fields=changed)
    return user


# --- Added for incoming federation (a repeated Follow of an accepted follow) -----------------


@transaction.atomic
def follow_reaccept(*, follow: Follow, uri: str = "") -> Follow:
    """Record `follow.accepted` again for an accepted follow, so that its Accept is sent again.

    A remote server repeats a Follow when it lost our Accept or its user followed again;
    Mastodon answers every one. `uri`, when given, becomes the follow's id, so the new Accept
    names the Follow just received. Counters, feeds and notifications are unchanged (the
    notification consumer dedupes on the follow's id). Raises Conflict for a pending follow.
    """
    current = Follow.objects.select_for_update().get(pk=follow.pk)
    if current.state != Follow.State.ACCEPTED:
        raise Conflict("Only an accepted follow can be accepted again.")
    if uri and uri != current.uri:
        Follow.objects.filter(pk=current.pk).update(uri=uri)
        current.uri = uri
    outbox_record(
        kind="follow.accepted",
        payload={
            "follow_id": current.id,
            "follower_id": current.follower_id,
            "target_id": current.target_id,
        },
    )
    return current


# --- Added for federation: remote actors (upserted from verified actor documents) ------------

#: Longest bio/field HTML we sanitise from a remote actor (a bigger one is cut first).
_MAX_REMOTE_HTML = 50_000
_MAX_REMOTE_FIELDS = 16
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _plain_line(value: str, limit: int) -> str:
    """One line of plain text: control and bidi-override characters dropped, spaces folded."""
    return " ".join(_CONTROL_CHARS.sub(" ", value or "").split())[:limit]


def _remote_url(value: str) -> str:
    value = (value or "").strip()
    if len(value) > 2048 or not value.startswith(("https://", "http://")):
        return ""
    return value


def _remote_username_clean(username: str) -> str:
    value = (username or "").strip()
    if (
        not value
        or len(value) > 255
        or "@" in value
        or any(ch.isspace() for ch in value)
        or _CONTROL_CHARS.search(value)
    ):
        raise Invalid("Remote actor has no usable preferredUsername.", field="username")
    return value


def _remote_fields_clean(fields: list[dict[str, str]] | None) -> list[dict[str, str]]:
    cleaned = []
    for item in (fields or [])[:_MAX_REMOTE_FIELDS]:
        name = _plain_line(str(item.get("name", "")), 255)
        value = sanitize_html(str(item.get("value", ""))[:_MAX_REMOTE_HTML])
        if name or value:
            cleaned.append({"name": name, "value": value})
    return cleaned


@transaction.atomic
def remote_account_upsert(
    *,
    uri: str,
    username: str,
    domain: str,
    kind: str = Account.Kind.PERSON,
    display_name: str = "",
    note: str = "",
    fields: list[dict[str, str]] | None = None,
    url: str = "",
    avatar_url: str = "",
    header_url: str = "",
    inbox_uri: str = "",
    shared_inbox_uri: str = "",
    outbox_uri: str = "",
    followers_uri: str = "",
    following_uri: str = "",
    featured_uri: str = "",
    key_id: str = "",
    public_key_pem: str = "",
    locked: bool = False,
    bot: bool = False,
    discoverable: bool = False,
    indexable: bool = False,
    created_at: datetime | None = None,
    silenced: bool = False,
) -> Account:
    """Create or update the remote actor `uri` from its actor document; returns the row.

    Preconditions (the federation fetcher's job): the document was fetched from `uri`'s own
    origin with its `id` equal to `uri`, `domain` is the normalised host[:port] of `uri`, the
    public key's owner is `uri`, and the domain is not suspended. `silenced` (the domain is
    silenced) sets `silenced_at` if it is not set yet; it never lifts a silence.

    HTML (`note`, field values) is sanitised and plain text (`display_name`, field names) has
    control characters removed here. `first_seen_at` is set only when the row is created (the
    moderation age ramp counts from it); `created_at` comes from the actor's `published` on
    creation. Another row of the same domain with the same username (the actor was recreated
    with a new id) takes the new `uri`: the same origin controls both. Records no event.
    Raises Invalid for an unusable username or domain, NotAllowed for a local account's uri.
    """
    domain = normalize_domain(domain or "")
    if not domain or domain == normalize_domain(settings.OURVOICE_DOMAIN):
        raise Invalid("A remote actor needs a remote domain.", field="domain")
    username = _remote_username_clean(username)
    now = timezone.now()
    values: dict[str, Any] = {
        "username": username,
        "domain": domain,
        "kind": kind if kind in Account.Kind.values else Account.Kind.PERSON,
        "display_name": _plain_line(display_name, 255),
        "note": sanitize_html((note or "")[:_MAX_REMOTE_HTML]),
        "fields": _remote_fields_clean(fields),
        "url": _remote_url(url),
        "avatar_url": _remote_url(avatar_url),
        "header_url": _remote_url(header_url),
        "inbox_uri": _remote_url(inbox_uri),
        "shared_inbox_uri": _remote_url(shared_inbox_uri),
        "outbox_uri": _remote_url(outbox_uri),
        "followers_uri": _remote_url(followers_uri),
        "following_uri": _remote_url(following_uri),
        "featured_uri": _remote_url(featured_uri),
        "key_id": _remote_url(key_id),
        "public_key_pem": (public_key_pem or "").strip() if key_id else "",
        "locked": bool(locked),
        "bot": bool(bot),
        "discoverable": bool(discoverable),
        "indexable": bool(indexable),
        "fetched_at": now,
        "updated_at": now,
    }
    account = Account.objects.select_for_update().filter(uri=uri).first()
    if account is None:
        account = (
            Account.objects.select_for_update()
            .filter(username__iexact=username, domain=domain)
            .first()
        )
        if account is not None:
            logger.info(
                "remote actor changed id account_id=%s old=%s new=%s", account.id, account.uri, uri
            )
            values["uri"] = uri
    if account is None:
        account = Account(
            uri=uri,
            created_at=created_at or now,
            silenced_at=now if silenced else None,
            **values,
        )
        try:
            with transaction.atomic():
                account.save(force_insert=True)
        except IntegrityError:
            # A concurrent fetch inserted it first: update that row instead.
            account = Account.objects.select_for_update().get(uri=uri)
        else:
            logger.info("remote actor stored account_id=%s uri=%s", account.id, uri)
            return account
    if account.local:
        raise NotAllowed("This is a local account.")
    if silenced and account.silenced_at is None:
        values["silenced_at"] = now
    for name, value in values.items():
        setattr(account, name, value)
    account.save(update_fields=list(values))
    return account
