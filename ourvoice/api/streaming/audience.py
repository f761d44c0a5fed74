"""Who may receive a streamed post: the read side of streaming, in bulk (selectors).

The rule is the REST API's: an account gets an event for a post only if
`posts_visible_q(account)` selects it and the timeline it streams would show it (home:
`timeline_home`'s read-time filters; public: `timeline_public`'s). Home audiences start from the
`FeedEntry` rows that fan-out on write already chose; public audiences are unknown in advance,
so a public message carries the local accounts that must not get it instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute
from ourvoice.interactions.models import Bookmark, Like, Pin, Repost
from ourvoice.posts.models import FeedEntry, Mention, Post, Visibility
from ourvoice.posts.selectors import posts_visible_q

OPEN = (Visibility.PUBLIC, Visibility.UNLISTED)


def accounts_hiding(*, authors: Iterable[Account]) -> set[int]:
    """Local accounts that block, are blocked by, mute (live) or domain-block any of `authors`:
    REST timelines hide these authors' posts and boosts from them."""
    hidden: set[int] = set()
    for author in authors:
        hidden |= set(
            Block.objects.filter(target=author, account__domain="").values_list(
                "account_id", flat=True
            )
        )
        hidden |= set(
            Block.objects.filter(account=author, target__domain="").values_list(
                "target_id", flat=True
            )
        )
        hidden |= set(
            Mute.objects.filter(target=author, account__domain="")
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
            .values_list("account_id", flat=True)
        )
        if author.domain:
            hidden |= set(
                AccountDomainBlock.objects.filter(domain=author.domain).values_list(
                    "account_id", flat=True
                )
            )
        hidden.discard(author.pk)
    return hidden


def accounts_reading(*, post: Post, candidates: Iterable[int]) -> set[int]:
    """The candidate local accounts that may read `post` through the REST API right now.

    Open (public, unlisted) posts: everyone not blocked either way or domain-blocked, while the
    post is active and its author not suspended (what `posts_visible_q` says for them).
    Followers-only and direct posts: checked one account at a time with `posts_visible_q`;
    their audiences are the followers or the mentioned accounts.
    """
    ids = set(candidates)
    if not ids:
        return set()
    if post.state != Post.State.ACTIVE or post.author.is_suspended:
        return set()
    if post.visibility in OPEN:
        blocked = set(
            Block.objects.filter(account_id__in=ids, target=post.author).values_list(
                "account_id", flat=True
            )
        ) | set(
            Block.objects.filter(account=post.author, target_id__in=ids).values_list(
                "target_id", flat=True
            )
        )
        if post.author.domain:
            blocked |= set(
                AccountDomainBlock.objects.filter(
                    account_id__in=ids, domain=post.author.domain
                ).values_list("account_id", flat=True)
            )
        return ids - blocked
    readers = set()
    for account in Account.objects.filter(pk__in=ids, domain=""):
        if Post.objects.filter(posts_visible_q(account), pk=post.pk).exists():
            readers.add(account.pk)
    return readers


def feed_owners(*, post_id: int, repost_id: int | None = None) -> set[int]:
    """Local accounts whose home feed holds the post itself (or, with `repost_id`, that boost)."""
    qs = FeedEntry.objects.filter(post_id=post_id)
    qs = qs.filter(repost_id=repost_id) if repost_id else qs.filter(repost_id__isnull=True)
    return set(qs.values_list("owner_id", flat=True))


def feed_entries_of_post(*, post_id: int) -> list[tuple[int, int | None]]:
    """(owner, boost id or None) for every home-feed entry showing the post."""
    return list(FeedEntry.objects.filter(post_id=post_id).values_list("owner_id", "repost_id"))


def local_followers(*, account: Account, reblogs_only: bool = False) -> set[int]:
    qs = Follow.objects.filter(target=account, state=Follow.State.ACCEPTED, follower__domain="")
    if reblogs_only:
        qs = qs.filter(show_reblogs=True)
    ids = set(qs.values_list("follower_id", flat=True))
    if account.local:
        ids.add(account.pk)
    return ids


def local_mentioned(*, post: Post) -> set[int]:
    return set(
        Mention.objects.filter(post=post, account__domain="").values_list("account_id", flat=True)
    )


def viewer_state(*, post: Post, booster_id: int | None = None) -> dict[str, object]:
    """What the viewer-relative Status fields need: local accounts that liked, boosted or
    bookmarked the post, its author, whether the author pinned it, and the booster."""

    def local_ids(model: type) -> list[int]:
        return list(
            model.objects.filter(post=post, account__domain="").values_list("account_id", flat=True)
        )

    return {
        "liked": local_ids(Like),
        "reposted": local_ids(Repost),
        "bookmarked": local_ids(Bookmark),
        "author": post.author_id,
        "pinned": Pin.objects.filter(post=post, account_id=post.author_id).exists(),
        "booster": booster_id,
    }
