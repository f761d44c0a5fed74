"""Timelines (posts merged with boosts) and per-viewer interaction flags, read in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute
from ourvoice.interactions.models import Bookmark, Like, Pin, Repost
from ourvoice.posts.models import FeedEntry, MediaAttachment, Post, Visibility
from ourvoice.posts.selectors import posts_muted_author_q, posts_of_account, posts_visible_q


@dataclass(frozen=True)
class TimelineEntry:
    """One timeline item: a post, or a boost of a post (`repost` set, `id` = the boost's id)."""

    id: int
    post: Post
    repost: Repost | None = None


@dataclass(frozen=True)
class Page:
    """Mastodon cursors: `max_id` older than, `since_id` newer than, `min_id` right after."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


def window(qs: QuerySet, page: Page, *, key: str = "id") -> list:
    """Apply Mastodon's cursors to `qs` on the snowflake column `key`, newest first."""
    if page.max_id is not None:
        qs = qs.filter(**{f"{key}__lt": page.max_id})
    if page.since_id is not None:
        qs = qs.filter(**{f"{key}__gt": page.since_id})
    if page.min_id is not None:
        rows = list(qs.filter(**{f"{key}__gt": page.min_id}).order_by(key)[: page.limit])
        rows.reverse()
        return rows
    return list(qs.order_by(f"-{key}")[: page.limit])


def _merge(posts: list[Post], reposts: list[Repost], page: Page) -> list[TimelineEntry]:
    entries = [TimelineEntry(id=p.id, post=p) for p in posts]
    entries += [TimelineEntry(id=r.id, post=r.post, repost=r) for r in reposts]
    entries.sort(key=lambda e: e.id, reverse=True)
    if page.min_id is not None:
        return entries[-page.limit :]
    return entries[: page.limit]


def _hidden_for(viewer: Account) -> tuple[set[int], list[str]]:
    """Accounts the viewer muted (live mutes) or that block either way, and blocked domains.

    Two small queries instead of correlated subqueries in every timeline page.
    """
    now = timezone.now()
    hidden = set(
        Mute.objects.filter(account=viewer)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("target_id", flat=True)
    )
    for account_id, target_id in Block.objects.filter(
        Q(account=viewer) | Q(target=viewer)
    ).values_list("account_id", "target_id"):
        hidden.add(target_id if account_id == viewer.pk else account_id)
    domains = list(
        AccountDomainBlock.objects.filter(account=viewer).values_list("domain", flat=True)
    )
    return hidden, domains


def timeline_home(*, viewer: Account, page: Page) -> list[TimelineEntry]:
    """The viewer's home feed, newest first: its own posts, and the posts and boosts of the
    accounts it follows, as fan-out on write put them in `FeedEntry` (`ourvoice.posts.feeds`).

    Read-time filters cover what may have changed since: deleted, removed or archived posts,
    suspended authors, mutes (with expiry), blocks both ways and the viewer's domain blocks.
    """
    hidden, blocked_domains = _hidden_for(viewer)
    qs = FeedEntry.objects.filter(
        owner=viewer, post__state=Post.State.ACTIVE, post__author__suspended_at__isnull=True
    ).select_related("post", "post__author")
    if hidden:
        qs = qs.exclude(actor_id__in=hidden).exclude(post__author_id__in=hidden)
    if blocked_domains:
        qs = qs.exclude(post__author__domain__in=blocked_domains)
    rows = window(qs, page, key="entry_id")
    repost_ids = [row.repost_id for row in rows if row.repost_id]
    reposts = (
        {r.id: r for r in Repost.objects.filter(id__in=repost_ids).select_related("account")}
        if repost_ids
        else {}
    )
    entries: list[TimelineEntry] = []
    for row in rows:
        if row.repost_id is None:
            entries.append(TimelineEntry(id=row.entry_id, post=row.post))
            continue
        repost = reposts.get(row.repost_id)
        if repost is not None:
            repost.post = row.post
            entries.append(TimelineEntry(id=row.entry_id, post=row.post, repost=repost))
    return entries


def timeline_public(
    *,
    viewer: Account | None,
    page: Page,
    local: bool = False,
    remote: bool = False,
    hashtag: str | None = None,
    only_media: bool = False,
) -> list[TimelineEntry]:
    """Public posts (not boosts), optionally only local, only remote, with a hashtag or media."""
    qs = Post.objects.filter(
        posts_visible_q(viewer),
        posts_muted_author_q(viewer),
        state=Post.State.ACTIVE,
        visibility=Visibility.PUBLIC,
        author__silenced_at__isnull=True,
    ).select_related("author")
    if local:
        qs = qs.filter(local=True)
    elif remote:
        qs = qs.filter(local=False)
    if hashtag:
        qs = qs.filter(hashtags__name=hashtag.lower())
    if only_media:
        qs = qs.filter(media__isnull=False).distinct()
    return [TimelineEntry(id=p.id, post=p) for p in window(qs, page)]


@dataclass(frozen=True)
class ViewerFlags:
    liked: frozenset[int]
    reposted: frozenset[int]
    bookmarked: frozenset[int]


def interaction_flags_for(*, viewer: Account | None, post_ids: Iterable[int]) -> ViewerFlags:
    """Which of these posts the viewer liked, boosted and bookmarked: three queries per page."""
    ids = list(set(post_ids))
    if viewer is None or not ids:
        return ViewerFlags(frozenset(), frozenset(), frozenset())

    def of(model: type) -> frozenset[int]:
        return frozenset(
            model.objects.filter(account=viewer, post_id__in=ids).values_list("post_id", flat=True)
        )

    return ViewerFlags(liked=of(Like), reposted=of(Repost), bookmarked=of(Bookmark))


# --- Added for the Mastodon accounts section ------------------------------------------------


def timeline_account(
    *,
    viewer: Account | None,
    account: Account,
    page: Page,
    pinned: bool = False,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
    only_media: bool = False,
    tagged: str | None = None,
) -> list[TimelineEntry]:
    """An account's profile timeline as `viewer` may read it: its posts and boosts, newest first.

    Follows Mastodon's AccountStatusesFilter: nothing when either account blocks the other;
    `pinned` gives only the account's pinned posts; `exclude_replies` keeps self-replies
    (threads); boosts are included unless `exclude_reblogs`, `only_media`, `tagged` or `pinned`
    is set (boosts carry no media or tags of their own). A boost shows only when the boosted
    post is readable by `viewer` and the boost's own audience includes `viewer`.
    """
    if viewer is not None and viewer.pk != account.pk:
        blocked = Block.objects.filter(
            Q(account=viewer, target=account) | Q(account=account, target=viewer)
        )
        if blocked.exists():
            return []
    posts = posts_of_account(viewer=viewer, account=account).filter(state=Post.State.ACTIVE)
    if pinned:
        posts = posts.filter(Exists(Pin.objects.filter(account=account, post=OuterRef("pk"))))
    if exclude_replies:
        posts = posts.filter(
            (Q(in_reply_to__isnull=True) & Q(in_reply_to_uri=""))
            | Q(in_reply_to_account=F("author"))
        )
    if only_media:
        posts = posts.filter(Exists(MediaAttachment.objects.filter(post=OuterRef("pk"))))
    if tagged:
        posts = posts.filter(hashtags__name=tagged.strip().lstrip("#").lower())
    post_rows = window(posts, page)
    if exclude_reblogs or only_media or tagged or pinned:
        return [TimelineEntry(id=p.id, post=p) for p in post_rows]
    audience = Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
    if viewer is not None:
        audience |= Q(account=viewer)
        if viewer.pk != account.pk:
            follows = Follow.objects.filter(
                follower=viewer, target=account, state=Follow.State.ACCEPTED
            )
            audience |= Q(visibility=Visibility.PRIVATE) & Exists(follows)
    reposts = Repost.objects.filter(
        audience,
        account=account,
        post__in=Post.objects.filter(posts_visible_q(viewer), state=Post.State.ACTIVE),
    ).select_related("account", "post", "post__author")
    return _merge(post_rows, window(reposts, page), page)


def likes_of_account(*, account: Account) -> QuerySet[Like]:
    """The account's favourites of posts it may still read, newest favourite first.

    Rows carry `post` and `post.author`; the Like id is the pagination cursor (Mastodon's
    `/api/v1/favourites`).
    """
    readable = Post.objects.filter(posts_visible_q(account), state=Post.State.ACTIVE)
    return (
        Like.objects.filter(account=account, post__in=readable)
        .select_related("post", "post__author")
        .order_by("-id")
    )


def bookmarks_of_account(*, account: Account) -> QuerySet[Bookmark]:
    """The account's bookmarks of posts it may still read, newest bookmark first.

    Rows carry `post` and `post.author`; the Bookmark id is the pagination cursor.
    """
    readable = Post.objects.filter(posts_visible_q(account), state=Post.State.ACTIVE)
    return (
        Bookmark.objects.filter(account=account, post__in=readable)
        .select_related("post", "post__author")
        .order_by("-id")
    )


# --- Added for federation (the actor's `featured` collection) --------------------------------


def posts_pinned_public(*, account: Account, limit: int = 20) -> list[Post]:
    """The posts `account` pinned that anyone may read (active, public or unlisted), newest pin
    first, with `author`, mentions, `hashtags` and `media` loaded for rendering.

    Federation serves them as the actor's `featured` collection (Mastodon fetches it on
    discovery to show pinned posts).
    """
    readable = Post.objects.filter(posts_visible_q(None), author=account)
    pins = (
        Pin.objects.filter(account=account, post__in=readable)
        .select_related("post", "post__author")
        .prefetch_related("post__mention_rows__account", "post__hashtags", "post__media")
        .order_by("-id")[:limit]
    )
    return [pin.post for pin in pins]


def post_interactors(*, post: Post, kind: str, page: Page) -> list[Like | Repost]:
    """Likes (`kind="likes"`) or boosts (`"reposts"`) of a post by non-suspended accounts,
    newest first, with their accounts; paginated by the interaction row's id."""
    model = Like if kind == "likes" else Repost
    qs = model.objects.filter(post=post, account__suspended_at__isnull=True).select_related(
        "account"
    )
    return window(qs, page)
