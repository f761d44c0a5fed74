"""Who receives an outgoing activity: selectors returning inbox URLs (federation.md §6).

Every set-valued selector collapses accounts to their preferred inbox first, as Mastodon's
`Account.inboxes` does: `DISTINCT coalesce(nullif(shared_inbox_uri, ''), inbox_uri)` over remote,
unsuspended accounts. So a post to N followers on H servers that all expose a shared inbox
costs H deliveries, not N. Single-recipient activities (Follow, Accept, Reject, Block, Like and
their Undo) go to the recipient's personal inbox, as Mastodon sends them.

Domain policy is applied afterwards by `inboxes_partition`: inboxes on suspended domains
(Instance policy `suspend`) and on domains marked unavailable by delivery failure tracking are
not sent to. The outbound consumers still write a Delivery row for them, in state `skipped`
with the reason in `last_error`, so admins see how many deliveries a policy withheld (the
"Delivery backlog" admin view counts them per domain).

Followers-only posts reach only ACCEPTED followers' servers: a pending follow request never
adds a recipient (Pixelfed CVE-2025-30741). Direct posts reach only the mentioned actors.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf

from federation.jsonld import host_of
from federation.models import Instance, PostInbox
from ourvoice.accounts.models import Account, Follow
from ourvoice.core.urls import normalize_domain
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import Mention, Post, Visibility


def _preferred_inboxes(accounts: QuerySet[Account]) -> set[str]:
    """Distinct preferred inboxes (shared inbox, else personal) of the remote accounts given."""
    rows = (
        accounts.exclude(domain="")
        .filter(suspended_at__isnull=True)
        .annotate(preferred=Coalesce(NullIf(F("shared_inbox_uri"), Value("")), F("inbox_uri")))
        .exclude(preferred="")
        .order_by()
        .values_list("preferred", flat=True)
        .distinct()
    )
    return set(rows)


def account_inbox(account: Account | None) -> str:
    """The personal inbox of a remote account (its shared inbox if it has no personal one);
    "" for local, suspended or inbox-less accounts."""
    if account is None or account.local or account.is_suspended:
        return ""
    return account.inbox_uri or account.shared_inbox_uri


def account_preferred_inbox(account: Account | None) -> str:
    """The shared inbox of a remote account, else its personal inbox ("" when local)."""
    if account is None or account.local or account.is_suspended:
        return ""
    return account.preferred_inbox


def followers_inboxes(account: Account, *, accepted_only: bool = True) -> set[str]:
    """Preferred inboxes of the remote followers of `account`.

    With `accepted_only` (the default, and the only safe choice for posts) pending follow
    requests are ignored.
    """
    condition = Q(following_set__target=account)
    if accepted_only:
        condition &= Q(following_set__state=Follow.State.ACCEPTED)
    return _preferred_inboxes(Account.objects.filter(condition))


def account_deletion_inboxes(account: Account) -> set[str]:
    """Everyone who may hold a copy of a local account (Mastodon's DeleteAccountService
    audience): its remote followers (pending requests too), the remote accounts it follows or
    asked to follow, and every inbox any of its posts was delivered to."""
    inboxes = _preferred_inboxes(
        Account.objects.filter(
            Q(following_set__target=account) | Q(followers_set__follower=account)
        )
    )
    inboxes |= set(
        PostInbox.objects.filter(post__author=account)
        .order_by()
        .values_list("inbox", flat=True)
        .distinct()
    )
    return inboxes


def mentioned_inboxes(post: Post) -> set[str]:
    """Preferred inboxes of the remote accounts the post mentions."""
    mentioned = Mention.objects.filter(post=post).values("account_id")
    return _preferred_inboxes(Account.objects.filter(pk__in=mentioned))


def interactor_inboxes(post: Post) -> set[str]:
    """Preferred inboxes of remote accounts that replied to, liked or boosted the post."""
    repliers = Post.objects.filter(Q(in_reply_to=post) | Q(in_reply_to_uri=post.uri)).values(
        "author_id"
    )
    likers = Like.objects.filter(post=post).values("account_id")
    boosters = Repost.objects.filter(post=post).values("account_id")
    return _preferred_inboxes(
        Account.objects.filter(Q(pk__in=repliers) | Q(pk__in=likers) | Q(pk__in=boosters))
    )


def post_recipient_inboxes(post: Post) -> set[str]:
    """Every inbox the post was sent to (PostInbox), kept for as long as the post exists."""
    return set(PostInbox.objects.filter(post=post).values_list("inbox", flat=True))


def post_audience_inboxes(post: Post) -> set[str]:
    """Where a local post (Create or Update) goes, by visibility.

    public/unlisted: accepted followers' servers, mentioned actors and the author of the
    replied-to post; private (followers-only): accepted followers' servers and mentioned
    actors; direct: the mentioned actors only.
    """
    inboxes = mentioned_inboxes(post)
    if post.visibility == Visibility.DIRECT:
        return inboxes
    inboxes |= followers_inboxes(post.author)
    if post.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        parent_author = post.in_reply_to_account
        if parent_author is None and post.in_reply_to_id:
            parent_author = post.in_reply_to.author if post.in_reply_to else None
        inbox = account_preferred_inbox(parent_author)
        if inbox:
            inboxes.add(inbox)
    return inboxes


# --- Domain policy -------------------------------------------------------------------------------


def inbox_domain(inbox: str) -> str:
    """The normalised host[:port] of an inbox URL ("" when it is not an http(s) URL)."""
    scheme, sep, rest = inbox.partition("://")
    if not sep:
        return ""
    # Inboxes of one fan-out share a handful of origins: normalise each origin once.
    return _origin_domain(f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}")


@functools.lru_cache(maxsize=4096)
def _origin_domain(origin: str) -> str:
    try:
        return host_of(origin + "/")
    except ValueError:
        return ""


@dataclass
class Partition:
    """Inboxes split by domain policy: `deliver` and `skip` map inbox → domain; `reasons`
    maps a skipped inbox to why."""

    deliver: dict[str, str] = field(default_factory=dict)
    skip: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def inboxes_partition(inboxes: Iterable[str]) -> Partition:
    """Split inboxes into those to deliver to and those withheld by domain policy.

    Inboxes that are not http(s) URLs, or that point at this server, are dropped entirely.
    """
    own = normalize_domain(settings.OURVOICE_DOMAIN)
    by_inbox: dict[str, str] = {}
    for inbox in inboxes:
        domain = inbox_domain(inbox) if inbox else ""
        if domain and domain != own:
            by_inbox[inbox] = domain
    blocked: dict[str, str] = {}
    domains = set(by_inbox.values())
    if domains:
        for domain, policy in Instance.objects.filter(
            Q(policy=Instance.Policy.SUSPEND) | Q(unavailable_since__isnull=False),
            domain__in=domains,
        ).values_list("domain", "policy"):
            blocked[domain] = (
                "domain suspended" if policy == Instance.Policy.SUSPEND else "domain unavailable"
            )
    result = Partition()
    for inbox, domain in sorted(by_inbox.items(), key=lambda item: (item[1], item[0])):
        if domain in blocked:
            result.skip[inbox] = domain
            result.reasons[inbox] = blocked[domain]
        else:
            result.deliver[inbox] = domain
    return result
