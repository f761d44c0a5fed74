"""Timelines (posts merged with boosts) and per-viewer interaction flags, read in bulk."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ourvoice.accounts.models import Account, Follow, Mute
from ourvoice.interactions.models import Bookmark, Like, Repost
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import posts_muted_author_q, posts_visible_q


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


def _window(qs: QuerySet, page: Page) -> list:
    if page.max_id is not None:
        qs = qs.filter(id__lt=page.max_id)
    if page.since_id is not None:
        qs = qs.filter(id__gt=page.since_id)
    if page.min_id is not None:
        rows = list(qs.filter(id__gt=page.min_id).order_by("id")[: page.limit])
        rows.reverse()
        return rows
    return list(qs.order_by("-id")[: page.limit])


def _merge(posts: list[Post], reposts: list[Repost], page: Page) -> list[TimelineEntry]:
    entries = [TimelineEntry(id=p.id, post=p) for p in posts]
    entries += [TimelineEntry(id=r.id, post=r.post, repost=r) for r in reposts]
    entries.sort(key=lambda e: e.id, reverse=True)
    if page.min_id is not None:
        return entries[-page.limit :]
    return entries[: page.limit]


def timeline_home(*, viewer: Account, page: Page) -> list[TimelineEntry]:
    """Posts and boosts by the viewer and the accounts it follows, newest first."""
    followed = Follow.objects.filter(follower=viewer, state=Follow.State.ACCEPTED)
    authors = Q(author__in=followed.values("target_id")) | Q(author=viewer)
    posts = (
        Post.objects.filter(
            authors, posts_visible_q(viewer), posts_muted_author_q(viewer), state=Post.State.ACTIVE
        )
        .exclude(
            # Replies to people the viewer does not follow stay out (Mastodon's home filter),
            # except the viewer's own posts, which are always shown.
            ~Q(visibility=Visibility.DIRECT)
            & ~Q(author=viewer)
            & Q(in_reply_to_account__isnull=False)
            & ~Q(in_reply_to_account__in=followed.values("target_id"))
            & ~Q(in_reply_to_account=viewer)
        )
        .select_related("author")
    )
    # A muted booster's boosts are hidden too, not only boosts of muted authors' posts.
    muted_booster = Mute.objects.filter(account=viewer, target=OuterRef("account")).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    reposts = (
        Repost.objects.filter(
            account__in=followed.filter(show_reblogs=True).values("target_id"),
            post__in=Post.objects.filter(
                posts_visible_q(viewer), posts_muted_author_q(viewer), state=Post.State.ACTIVE
            ),
        )
        .exclude(Exists(muted_booster))
        .select_related("account", "post", "post__author")
    )
    return _merge(_window(posts, page), _window(reposts, page), page)


def timeline_public(
    *,
    viewer: Account | None,
    page: Page,
    local: bool = False,
    remote: bool = False,
    hashtag: str | None = None, only_media: bool = False,
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
    return [TimelineEntry(id=p.id, post=p) for p in _window(qs, page)]


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
