"""Read access to users, accounts and their relations (follows, blocks, mutes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute, User
from ourvoice.core.errors import NotFound
from ourvoice.core.urls import normalize_domain


def account_get(*, account_id: int | str, include_suspended: bool = False) -> Account:
    """The account with this id, else NotFound.

    A suspended account is NotFound too unless `include_suspended` (admin and moderation
    views, which must still reach it). Ids arrive as strings from the API: a value that is not
    an integer is NotFound, never a server error.
    """
    try:
        pk = int(account_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    qs = Account.objects.all() if include_suspended else Account.objects.active()
    account = qs.filter(pk=pk).first()
    if account is None:
        raise NotFound("Record not found")
    return account


def account_get_by_acct(*, acct: str, include_suspended: bool = False) -> Account:
    """The known account for `user`, `user@domain` or `@user@domain`, else NotFound.

    The username matches case-insensitively; the domain is normalised (lowercase, default port
    dropped). A domain equal to `settings.OURVOICE_DOMAIN`, or none, means a local account.
    Only accounts already stored are found: resolving unknown remote actors is federation's job.
    """
    value = (acct or "").strip().removeprefix("acct:").removeprefix("@")
    username, at, domain = value.partition("@")
    if not username or (at and not domain) or "@" in domain:
        raise NotFound("Record not found")
    domain = normalize_domain(domain) if domain else ""
    if domain == normalize_domain(settings.OURVOICE_DOMAIN):
        domain = ""
    qs = Account.objects.all() if include_suspended else Account.objects.active()
    account = qs.filter(username__iexact=username, domain=domain).first()
    if account is None:
        raise NotFound("Record not found")
    return account


def account_followers(*, account: Account) -> QuerySet[Account]:
    """Accounts with an accepted follow of `account`, newest follow first.

    Each row carries `follow_id` (the Follow's id), the cursor Mastodon paginates this list by.
    Suspended followers are left out, as Mastodon hides them.
    """
    return (
        Account.objects.active()
        .filter(following_set__target=account, following_set__state=Follow.State.ACCEPTED)
        .annotate(follow_id=F("following_set__id"))
        .order_by("-follow_id")
    )


def account_following(*, account: Account) -> QuerySet[Account]:
    """Accounts that `account` follows (accepted), newest follow first.

    Each row carries `follow_id`, the pagination cursor; suspended accounts are left out.
    """
    return (
        Account.objects.active()
        .filter(followers_set__follower=account, followers_set__state=Follow.State.ACCEPTED)
        .annotate(follow_id=F("followers_set__id"))
        .order_by("-follow_id")
    )


def follow_requests_for(*, account: Account) -> QuerySet[Follow]:
    """Pending follows that target `account`, newest first, with `follower` loaded.

    Requests from suspended accounts are left out (they reappear if the suspension is lifted).
    """
    return (
        Follow.objects.filter(
            target=account, state=Follow.State.PENDING, follower__suspended_at__isnull=True
        )
        .select_related("follower")
        .order_by("-id")
    )


@dataclass(frozen=True)
class Relationship:
    """How `viewer` relates to one account: Mastodon's Relationship entity, field for field."""

    id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    languages: tuple[str, ...] | None = None
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    requested: bool = False
    requested_by: bool = False
    domain_blocking: bool = False
    endorsed: bool = False
    note: str = ""


def _ids(values: Iterable[int | str]) -> list[int]:
    ids: dict[int, None] = {}
    for value in values:
        try:
            ids[int(value)] = None
        except (TypeError, ValueError):
            continue
    return list(ids)


def relationships_for(
    *, viewer: Account, account_ids: Iterable[int | str]
) -> dict[int, Relationship]:
    """Relationships of `viewer` with each listed account, keyed by account id, in one query.

    The result follows the order of `account_ids`; ids that are not integers or name no stored
    account are left out (Mastodon answers only for accounts it finds). The query count is the
    same however many ids are given: one query, none for an empty list. An expired mute does
    not count. `showing_reblogs` and `notifying` reflect the viewer's follow or follow request.
    """
    ids = _ids(account_ids)
    if not ids:
        return {}
    mine = Follow.objects.filter(follower=viewer, target=OuterRef("pk"))
    theirs = Follow.objects.filter(follower=OuterRef("pk"), target=viewer)
    mute = Mute.objects.filter(account=viewer, target=OuterRef("pk")).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    rows = (
        Account.objects.filter(pk__in=ids)
        .annotate(
            rel_my_state=Subquery(mine.values("state")[:1]),
            rel_my_reblogs=Subquery(mine.values("show_reblogs")[:1]),
            rel_my_notify=Subquery(mine.values("notify")[:1]),
            rel_their_state=Subquery(theirs.values("state")[:1]),
            rel_blocking=Exists(Block.objects.filter(account=viewer, target=OuterRef("pk"))),
            rel_blocked_by=Exists(Block.objects.filter(account=OuterRef("pk"), target=viewer)),
            rel_mute_notifications=Subquery(mute.values("notifications")[:1]),
            rel_domain_blocking=Exists(
                AccountDomainBlock.objects.filter(account=viewer, domain=OuterRef("domain"))
            ),
        )
        .values_list(
            "pk",
            "domain",
            "rel_my_state",
            "rel_my_reblogs",
            "rel_my_notify",
            "rel_their_state",
            "rel_blocking",
            "rel_blocked_by",
            "rel_mute_notifications",
            "rel_domain_blocking",
        )
    )
    accepted, pending = Follow.State.ACCEPTED, Follow.State.PENDING
    found: dict[int, Relationship] = {}
    for (
        pk,
        domain,
        my_state,
        my_reblogs,
        my_notify,
        their_state,
        blocking,
        blocked_by,
        mute_notifications,
        domain_blocking,
    ) in rows:
        found[pk] = Relationship(
            id=pk,
            following=my_state == accepted,
            requested=my_state == pending,
            showing_reblogs=bool(my_state and my_reblogs),
            notifying=bool(my_state and my_notify),
            followed_by=their_state == accepted,
            requested_by=their_state == pending,
            blocking=bool(blocking),
            blocked_by=bool(blocked_by),
            muting=mute_notifications is not None,
            muting_notifications=bool(mute_notifications),
            domain_blocking=bool(domain and domain_blocking),
        )
    return {pk: found[pk] for pk in ids if pk in found}  # in the order asked for


def user_get_pending() -> QuerySet[User]:
    """Users whose sign-up waits for an admin (`user_approve` / `user_reject`), oldest first."""
    return (
        User.objects.filter(approval=User.Approval.PENDING)
        .select_related("account")
        .order_by("date_joined", "id")
    )


# --- Added for the Mastodon accounts section (lists of relations, search) ------------------


def accounts_get_many(
    *, account_ids: Iterable[int | str], include_suspended: bool = False
) -> dict[int, Account]:
    """The stored accounts among `account_ids`, keyed by id, in one query.

    Ids that are not integers or name no account are left out; suspended accounts too unless
    `include_suspended` (Mastodon's `with_suspended`).
    """
    ids = _ids(account_ids)
    if not ids:
        return {}
    qs = Account.objects.all() if include_suspended else Account.objects.active()
    return {account.pk: account for account in qs.filter(pk__in=ids)}


def follow_get(*, follower: Account | int, target: Account | int) -> Follow | None:
    """The follow (accepted or pending) of `follower` towards `target`, or None."""
    return Follow.objects.filter(follower=follower, target=target).first()


def follow_request_get(*, account: Account, follower_id: int | str) -> Follow:
    """The pending follow request of account `follower_id` towards `account`, else NotFound."""
    try:
        pk = int(follower_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    follow = follow_requests_for(account=account).filter(follower_id=pk).first()
    if follow is None:
        raise NotFound("Record not found")
    return follow


def blocks_of_account(*, account: Account) -> QuerySet[Block]:
    """Blocks made by `account`, newest first, with `target` loaded (the row id is the cursor)."""
    return Block.objects.filter(account=account).select_related("target").order_by("-id")


def mutes_of_account(*, account: Account) -> QuerySet[Mute]:
    """Mutes made by `account` that have not expired, newest first, with `target` loaded."""
    return (
        Mute.objects.filter(account=account)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .select_related("target")
        .order_by("-id")
    )


def domain_blocks_of_account(*, account: Account) -> QuerySet[AccountDomainBlock]:
    """Domains `account` blocked, newest first (the row id is the cursor)."""
    return AccountDomainBlock.objects.filter(account=account).order_by("-id")


def account_blocked_either_way(*, viewer: Account | None, account: Account) -> bool:
    """True when `viewer` blocks `account` or `account` blocks `viewer` (one query)."""
    if viewer is None or viewer.pk == account.pk:
        return False
    return Block.objects.filter(
        Q(account=viewer, target=account) | Q(account=account, target=viewer)
    ).exists()


def accounts_search(
    *,
    viewer: Account | None,
    query: str,
    limit: int = 40,
    offset: int = 0,
    following: bool = False,
) -> list[Account]:
    """Known accounts (local and already stored remote ones) matching `query`, best first.

    `query` is `name`, `@name`, `name@domain` or `@name@domain`: the username (or, without a
    domain, the display name) matches by case-insensitive prefix, the domain by prefix too
    (this instance's domain means local accounts). An exact username match comes first, then
    local accounts, then the most followed. Suspended accounts, the instance actor and accounts
    blocking or blocked by `viewer` are left out; `following` keeps only accounts `viewer`
    follows. Never fetches anything remote.
    """
    text = (query or "").strip().removeprefix("acct:").removeprefix("@")
    if not text or limit <= 0:
        return []
    username, has_domain, domain = text.partition("@")
    qs = Account.objects.active().exclude(role=Account.Role.INSTANCE)
    if has_domain:
        if not username:
            return []
        qs = qs.filter(username__istartswith=username)
        if domain:
            domain = normalize_domain(domain)
            if domain == normalize_domain(settings.OURVOICE_DOMAIN):
                qs = qs.filter(domain="")
            else:
                qs = qs.filter(domain__istartswith=domain)
    else:
        qs = qs.filter(Q(username__istartswith=text) | Q(display_name__istartswith=text))
    if viewer is not None:
        qs = qs.exclude(
            Exists(Block.objects.filter(account=viewer, target=OuterRef("pk")))
            | Exists(Block.objects.filter(account=OuterRef("pk"), target=viewer))
        )
        if following:
            qs = qs.filter(
                Exists(
                    Follow.objects.filter(
                        follower=viewer, target=OuterRef("pk"), state=Follow.State.ACCEPTED
                    )
                )
            )
    elif following:
        return []
    exact = Case(When(username__iexact=username, then=Value(0)), default=Value(1))
    local_first = Case(When(domain="", then=Value(0)), default=Value(1))
    qs = qs.annotate(exact=exact, local_first=local_first).order_by(
        "exact", "local_first", "-followers_count", "id"
    )
    return list(qs[max(offset, 0) : max(offset, 0) + limit])


def familiar_followers_for(
    *, viewer: Account, account_ids: Iterable[int | str]
) -> dict[int, list[Account]]:
    """For each listed account, the accounts `viewer` follows that also follow it (one query).

    Keys are the requested ids that are integers; accounts without familiar followers map to
    an empty list. Suspended followers are left out. Newest follow first.
    """
    ids = _ids(account_ids)
    result: dict[int, list[Account]] = {pk: [] for pk in ids}
    if not ids:
        return result
    followed = Follow.objects.filter(follower=viewer, state=Follow.State.ACCEPTED)
    rows = (
        Follow.objects.filter(
            target_id__in=ids,
            state=Follow.State.ACCEPTED,
            follower_id__in=followed.values("target_id"),
            follower__suspended_at__isnull=True,
        )
        .select_related("follower")
        .order_by("-id")
    )
    for row in rows:
        result[row.target_id].append(row.follower)
    return result


# --- Added for the Mastodon search and suggestions endpoints ---------------------------------


def account_find_by_url(*, viewer: Account | None, url: str) -> Account | None:
    """The stored account whose actor id or profile page is exactly `url`, else None.

    Suspended accounts, the instance actor and accounts blocking or blocked by `viewer` are
    not found. Never fetches anything remote (resolving unknown actors is federation's job).
    """
    if not url:
        return None
    qs = Account.objects.active().exclude(role=Account.Role.INSTANCE)
    qs = qs.filter(Q(uri=url) | Q(url=url))
    if viewer is not None:
        qs = qs.exclude(
            Exists(Block.objects.filter(account=viewer, target=OuterRef("pk")))
            | Exists(Block.objects.filter(account=OuterRef("pk"), target=viewer))
        )
    return qs.first()


def accounts_suggested(*, viewer: Account, limit: int = 40) -> list[Account]:
    """Accounts followed by people `viewer` follows, that `viewer` does not follow yet.

    Mastodon's "friends of friends" suggestions: most mutual follows first (each row carries
    a `friends` annotation), then the most followed. Only discoverable, unsuspended people are
    suggested; the viewer itself, accounts it follows or asked to follow, blocks either way,
    unexpired mutes and blocked domains are left out. One query.
    """
    if limit <= 0:
        return []
    followed = Follow.objects.filter(follower=viewer, state=Follow.State.ACCEPTED)
    muted = Mute.objects.filter(account=viewer, target=OuterRef("pk")).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    qs = (
        Account.objects.active()
        .filter(
            role=Account.Role.USER,
            discoverable=True,
            followers_set__state=Follow.State.ACCEPTED,
            followers_set__follower_id__in=followed.values("target_id"),
        )
        .exclude(pk=viewer.pk)
        .exclude(pk__in=Follow.objects.filter(follower=viewer).values("target_id"))
        .exclude(user__is_active=False)
        .exclude(
            Exists(Block.objects.filter(account=viewer, target=OuterRef("pk")))
            | Exists(Block.objects.filter(account=OuterRef("pk"), target=viewer))
            | Exists(muted)
            | Exists(AccountDomainBlock.objects.filter(account=viewer, domain=OuterRef("domain")))
        )
        .annotate(friends=Count("followers_set", distinct=True))
        .order_by("-friends", "-followers_count", "-id")
    )
    return list(qs[:limit])


def instance_contact_admin() -> User | None:
    """The first active admin: the instance's contact (email and account)."""
    return (
        User.objects.filter(is_staff=True, is_active=True)
        .select_related("account")
        .order_by("id")
        .first()
    )
