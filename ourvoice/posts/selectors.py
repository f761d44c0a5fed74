"""Read access to posts. Views reach posts only through these visibility-checking selectors."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute
from ourvoice.core.errors import NotFound
from ourvoice.posts.models import Mention, Post, Visibility


def posts_visible_q(viewer: Account | None) -> Q:
    """Q over Post selecting what `viewer` (None = anonymous) may read right now.

    Active posts: public and unlisted for everyone; followers-only for the author and accepted
    followers; direct for the author and mentioned accounts. Archived posts only for their author.
    Posts of suspended authors and, for a signed-in viewer, of accounts blocking or blocked by
    the viewer or on a domain the viewer blocked, are excluded.
    """
    open_q = Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
    base = Q(state=Post.State.ACTIVE) & Q(author__suspended_at__isnull=True)
    if viewer is None:
        return base & open_q
    follows = Follow.objects.filter(
        follower=viewer, target=OuterRef("author"), state=Follow.State.ACCEPTED
    )
    mentioned = Mention.objects.filter(post=OuterRef("pk"), account=viewer)
    readable = (
        open_q
        | Q(author=viewer)
        | (Q(visibility=Visibility.PRIVATE) & Exists(follows))
        | Exists(mentioned)
    )
    blocked = Block.objects.filter(
        Q(account=viewer, target=OuterRef("author")) | Q(account=OuterRef("author"), target=viewer)
    )
    domain_blocked = AccountDomainBlock.objects.filter(
        account=viewer, domain=OuterRef("author__domain")
    )
    own_archive = Q(author=viewer, state=Post.State.ARCHIVED)
    return ((base & readable) | own_archive) & ~Exists(blocked) & ~Exists(domain_blocked)


def post_get_visible_to(*, viewer: Account | None, post_id: int | str) -> Post:
    """The post if `viewer` may read it, else NotFound (never reveals that it exists)."""
    try:
        pk = int(post_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    post = (
        Post.objects.select_related("author", "in_reply_to")
        .filter(posts_visible_q(viewer), pk=pk)
        .first()
    )
    if post is None:
        raise NotFound("Record not found")
    return post


def post_get_for_admin(*, post_id: int) -> Post:
    """Any post in any state (admins see archived, deleted and removed posts)."""
    post = Post.objects.select_related("author").filter(pk=post_id).first()
    if post is None:
        raise NotFound("Record not found")
    return post


def post_get_by_uri(*, uri: str) -> Post | None:
    """The post with this ActivityPub id, in any state (federation checks tombstones with it)."""
    return Post.objects.select_related("author").filter(uri=uri).first()


def posts_of_account(*, viewer: Account | None, account: Account) -> QuerySet[Post]:
    """An account's posts that `viewer` may read, newest first (archived: author only)."""
    return (
        Post.objects.filter(posts_visible_q(viewer), author=account)
        .select_related("author")
        .order_by("-id")
    )


def posts_muted_author_q(viewer: Account | None) -> Q:
    """Q excluding posts whose author `viewer` muted (timelines hide them; direct views do not)."""
    if viewer is None:
        return Q()
    return ~Exists(Mute.objects.filter(account=viewer, target=OuterRef("author")))


def post_context(*, viewer: Account | None, post: Post) -> tuple[list[Post], list[Post]]:
    """(ancestors oldest first, descendants in thread order) that `viewer` may read."""
    visible = posts_visible_q(viewer)
    ancestors: list[Post] = []
    parent_id = post.in_reply_to_id
    seen = {post.pk}
    while parent_id and parent_id not in seen and len(ancestors) < 100:
        seen.add(parent_id)
        parent = Post.objects.filter(pk=parent_id).select_related("author").first()
        if parent is None:
            break
        if Post.objects.filter(visible, pk=parent.pk).exists():
            ancestors.append(parent)
        parent_id = parent.in_reply_to_id
    ancestors.reverse()
    root_id = post.thread_root_id or post.pk
    thread = list(
        Post.objects.filter(visible)
        .filter(Q(thread_root_id=root_id) | Q(pk=root_id))
        .exclude(pk=post.pk)
        .select_related("author")
        .order_by("id")
    )
    children: dict[int | None, list[Post]] = {}
    for item in thread:
        children.setdefault(item.in_reply_to_id, []).append(item)
    descendants: list[Post] = []
    stack = list(reversed(children.get(post.pk, [])))
    while stack:
        item = stack.pop()
        descendants.append(item)
        stack.extend(reversed(children.get(item.pk, [])))
    return ancestors, descendants
