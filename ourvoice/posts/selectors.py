"""Read access to posts. Views reach posts only through these visibility-checking selectors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, When
from django.db.models.functions import Length, TruncDate
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow, Mute
from ourvoice.core import rawsql
from ourvoice.core.errors import NotFound
from ourvoice.core.rawsql import ModelColumns, model_columns, quoted_table, split_row
from ourvoice.posts.models import Hashtag, Mention, Post, Visibility

_OPEN_VISIBILITIES = (Visibility.PUBLIC, Visibility.UNLISTED)


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


@dataclass(frozen=True)
class _Relations:
    """What the post's own fields cannot tell about a signed-in viewer and its author."""

    follows: bool  # an accepted follow of the author
    mentioned: bool
    blocked: bool  # a block either way
    domain_blocked: bool  # the viewer blocked the author's domain


def _visible(viewer: Account | None, post: Post, relations: Callable[[], _Relations]) -> bool:
    """The rule of `posts_visible_q` for one post loaded with its author; `relations` is asked
    only when the post's own fields do not decide."""
    author = post.author
    own = viewer is not None and post.author_id == viewer.pk
    if own and post.state == Post.State.ARCHIVED:
        return True  # an author always sees their archive
    if author.suspended_at is not None or post.state != Post.State.ACTIVE:
        return False
    if viewer is None:
        return post.visibility in _OPEN_VISIBILITIES
    if own:
        return True
    known = relations()
    if post.visibility == Visibility.PRIVATE:
        readable = known.follows or known.mentioned
    elif post.visibility == Visibility.DIRECT:
        readable = known.mentioned
    else:
        readable = post.visibility in _OPEN_VISIBILITIES
    return readable and not known.blocked and not known.domain_blocked


@cache
def _relations_sql() -> str:
    """The four relations of `_visible` as columns over `p` (the post) and `a` (its author)."""
    follow, mention = quoted_table(Follow), quoted_table(Mention)
    block, domain_block = quoted_table(Block), quoted_table(AccountDomainBlock)
    return (
        f"EXISTS (SELECT 1 FROM {follow} f WHERE f.follower_id = %(viewer)s"
        f" AND f.target_id = p.author_id AND f.state = '{Follow.State.ACCEPTED}')"
        f", EXISTS (SELECT 1 FROM {mention} m WHERE m.post_id = p.id"
        " AND m.account_id = %(viewer)s)"
        f", EXISTS (SELECT 1 FROM {block} b WHERE (b.account_id = %(viewer)s"
        " AND b.target_id = p.author_id) OR (b.account_id = p.author_id"
        " AND b.target_id = %(viewer)s))"
        f", EXISTS (SELECT 1 FROM {domain_block} d WHERE d.account_id = %(viewer)s"
        " AND d.domain = a.domain)"
    )


def _from_post_and_author() -> str:
    return (
        f" FROM {quoted_table(Post)} p JOIN {quoted_table(Account)} a ON a.id = p.author_id"
        " WHERE p.id = %(post)s"
    )


def post_visible_to(*, viewer: Account | None, post: Post) -> bool:
    """The rule of `posts_visible_q` for one post already loaded with its author.

    Checks the post's own fields in Python and asks the database, in one statement, only what
    they cannot tell (an accepted follow, a mention, a block either way, a domain block):
    cheaper than compiling the full visibility query for a single row. Kept equal to
    `posts_visible_q` by a test that compares both over every combination of viewer relation,
    visibility and state.
    """

    def relations() -> _Relations:
        sql = f"SELECT {_relations_sql()}{_from_post_and_author()}"
        row = rawsql.fetchone(sql, {"post": post.pk, "viewer": viewer.pk if viewer else None})
        if row is None:  # the row is gone since the post was loaded: nothing to read
            return _Relations(follows=False, mentioned=False, blocked=True, domain_blocked=False)
        return _Relations(*(bool(v) for v in row))

    return _visible(viewer, post, relations)


@cache
def _post_lookup_sql(with_viewer: bool) -> tuple[str, tuple[ModelColumns, ModelColumns]]:
    """One SELECT of a post, its author and (for a viewer) the four relations of `_visible`.

    Every status request starts with it, so the statement is written once per process rather
    than compiled by the ORM each time.
    """
    post, author = model_columns(Post, "p"), model_columns(Account, "a")
    relations = f", {_relations_sql()}" if with_viewer else ""
    sql = f"SELECT {post.select}, {author.select}{relations}{_from_post_and_author()}"
    return sql, (post, author)


def post_get_visible_to(*, viewer: Account | None, post_id: int | str) -> Post:
    """The post if `viewer` may read it, else NotFound (never reveals that it exists).

    One statement reads the post, its author and the viewer's relations to them."""
    try:
        pk = int(post_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc
    if not 0 < pk < 2**63:
        raise NotFound("Record not found")
    sql, layout = _post_lookup_sql(viewer is not None)
    row = rawsql.fetchone(sql, {"post": pk, "viewer": viewer.pk if viewer is not None else None})
    if row is None:
        raise NotFound("Record not found")
    (post, author), end = split_row(row, *layout)
    assert isinstance(post, Post)
    post._state.fields_cache["author"] = author
    if not _visible(viewer, post, lambda: _Relations(*(bool(v) for v in row[end:]))):
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
    live = Mute.objects.filter(account=viewer, target=OuterRef("author")).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )
    return ~Exists(live)


def post_context(*, viewer: Account | None, post: Post) -> tuple[list[Post], list[Post]]:
    """(ancestors oldest first, descendants in thread order) that `viewer` may read.

    The thread is walked through every reply, readable or not, so a public reply below a
    reply the viewer cannot see still shows (as Mastodon); unreadable posts are left out.
    """
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
    in_thread = Q(thread_root_id=root_id) | Q(pk=root_id)
    structure = list(
        Post.objects.filter(in_thread).exclude(pk=post.pk).values_list("pk", "in_reply_to_id")
    )
    readable = {
        p.pk: p
        for p in Post.objects.filter(visible)
        .filter(in_thread)
        .exclude(pk=post.pk)
        .select_related("author")
    }
    children: dict[int | None, list[int]] = {}
    for pk, parent in sorted(structure):
        children.setdefault(parent, []).append(pk)
    descendants: list[Post] = []
    stack = list(reversed(children.get(post.pk, [])))
    while stack:
        pk = stack.pop()
        if pk in readable:
            descendants.append(readable[pk])
        stack.extend(reversed(children.get(pk, [])))
    return ancestors, descendants


# --- Search, hashtags and trends ---------------------------------------------------------------

#: At most this many words of a search query are matched (each one must appear).
SEARCH_MAX_TERMS = 8


def posts_search(
    *,
    viewer: Account,
    query: str,
    limit: int,
    offset: int = 0,
    account_id: int | None = None,
    max_id: int | None = None,
    min_id: int | None = None,
) -> list[Post]:
    """Posts `viewer` may read that contain every word of `query`, newest first.

    Local posts match on what the author typed (`source`), remote ones on their HTML
    `content`; the content warning matches too. Posts of muted authors are left out, as in
    Mastodon's search. This is a case-insensitive scan (`icontains`), fine for a small instance;
    a PostgreSQL `search_vector` column with a GIN index is the upgrade path and keeps this
    signature. An empty query finds nothing.
    """
    terms = query.split()[:SEARCH_MAX_TERMS]
    if not terms:
        return []
    qs = Post.objects.filter(
        posts_visible_q(viewer), posts_muted_author_q(viewer), state=Post.State.ACTIVE
    )
    for term in terms:
        qs = qs.filter(
            Q(local=True, source__icontains=term)
            | Q(local=False, content__icontains=term)
            | Q(spoiler_text__icontains=term)
        )
    if account_id is not None:
        qs = qs.filter(author_id=account_id)
    if max_id is not None:
        qs = qs.filter(id__lt=max_id)
    if min_id is not None:
        qs = qs.filter(id__gt=min_id)
    return list(qs.select_related("author").order_by("-id")[offset : offset + limit])


def post_find_by_url(*, viewer: Account | None, url: str) -> Post | None:
    """The post whose ActivityPub id or web page is exactly `url`, if `viewer` may read it.

    Only posts stored here are found; fetching unknown remote posts is federation's job.
    """
    if not url:
        return None
    return (
        Post.objects.filter(posts_visible_q(viewer))
        .filter(Q(uri=url) | Q(url=url))
        .select_related("author")
        .first()
    )


def _hashtag_name(name: str) -> str:
    return (name or "").strip().lstrip("#").lower()


def hashtag_get(*, name: str) -> Hashtag:
    """The hashtag called `name` (case-insensitive, a leading '#' ignored), else NotFound."""
    tag = Hashtag.objects.filter(name=_hashtag_name(name)).first()
    if tag is None:
        raise NotFound("Record not found")
    return tag


def hashtags_search(*, query: str, limit: int, offset: int = 0) -> list[Hashtag]:
    """Hashtags whose name starts with `query` ('#' stripped): the exact name first, then the
    shortest names. An empty query finds nothing."""
    name = _hashtag_name(query)
    if not name or any(c.isspace() for c in name):
        return []
    exact = Case(When(name=name, then=0), default=1, output_field=IntegerField())
    return list(
        Hashtag.objects.filter(name__startswith=name)
        .annotate(exact=exact, length=Length("name"))
        .order_by("exact", "length", "name")[offset : offset + limit]
    )


@dataclass(frozen=True)
class HashtagDay:
    """One day of a hashtag's history: posts that used it and their distinct authors."""

    day: date
    uses: int
    accounts: int


def _utc_today(now: datetime | None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def hashtags_history(
    *, hashtag_ids: Iterable[int], days: int = 7, now: datetime | None = None
) -> dict[int, list[HashtagDay]]:
    """Daily use of each hashtag over the last `days` UTC days (today first), zero-filled.

    Counts active public posts (local and remote) of unsuspended authors, in one query
    whatever the number of hashtags (Mastodon's Tag `history`).
    """
    ids = list(dict.fromkeys(hashtag_ids))
    if not ids:
        return {}
    today = _utc_today(now)
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    through = Post.hashtags.through
    rows = (
        through.objects.filter(
            hashtag_id__in=ids,
            post__published_at__gte=start,
            post__state=Post.State.ACTIVE,
            post__visibility=Visibility.PUBLIC,
            post__author__suspended_at__isnull=True,
        )
        .annotate(day=TruncDate("post__published_at", tzinfo=UTC))
        .values("hashtag_id", "day")
        .annotate(uses=Count("post_id"), accounts=Count("post__author_id", distinct=True))
    )
    counts: dict[tuple[int, date], tuple[int, int]] = {}
    for row in rows:
        day = row["day"]
        if isinstance(day, datetime):
            day = day.date()
        elif isinstance(day, str):  # some backends hand the truncated date back as text
            day = date.fromisoformat(day[:10])
        counts[(row["hashtag_id"], day)] = (row["uses"], row["accounts"])
    result: dict[int, list[HashtagDay]] = {}
    for tag_id in ids:
        history = []
        for back in range(days):
            day = today - timedelta(days=back)
            uses, accounts = counts.get((tag_id, day), (0, 0))
            history.append(HashtagDay(day=day, uses=uses, accounts=accounts))
        result[tag_id] = history
    return result


def hashtags_trending(*, days: int = 7, limit: int = 10, offset: int = 0) -> list[Hashtag]:
    """Hashtags of public local posts from the last `days` days, most distinct authors first.

    Posts of suspended or silenced authors do not count. Each row carries `accounts` and
    `uses` (posts) annotations. One query.
    """
    since = timezone.now() - timedelta(days=days)
    return list(
        Hashtag.objects.filter(
            posts__local=True,
            posts__visibility=Visibility.PUBLIC,
            posts__state=Post.State.ACTIVE,
            posts__published_at__gte=since,
            posts__author__suspended_at__isnull=True,
            posts__author__silenced_at__isnull=True,
        )
        .annotate(
            accounts=Count("posts__author", distinct=True), uses=Count("posts", distinct=True)
        )
        .order_by("-accounts", "-uses", "name")[offset : offset + limit]
    )


def posts_trending(
    *, viewer: Account | None, days: int = 2, limit: int = 20, offset: int = 0
) -> list[Post]:
    """Public posts of the last `days` days with at least one like or boost, the most liked
    and boosted first.

    Only posts `viewer` may read; silenced authors and, for a signed-in viewer, muted ones are
    left out. One query.
    """
    since = timezone.now() - timedelta(days=days)
    return list(
        Post.objects.filter(
            posts_visible_q(viewer),
            posts_muted_author_q(viewer),
            state=Post.State.ACTIVE,
            visibility=Visibility.PUBLIC,
            published_at__gte=since,
            author__silenced_at__isnull=True,
        )
        .annotate(score=F("likes_count") + F("reposts_count"))
        .filter(score__gt=0)
        .select_related("author")
        .order_by("-score", "-id")[offset : offset + limit]
    )


@dataclass(frozen=True)
class InstanceStats:
    """The numbers the instance documents show (Mastodon's /api/v1/instance and v2)."""

    users: int
    active_users: int
    local_posts: int
    known_domains: int


def instance_stats() -> InstanceStats:
    """People on this server, active ones, their active posts, and remote domains we know."""
    people = Account.objects.local().filter(role=Account.Role.USER)
    return InstanceStats(
        users=people.count(),
        active_users=people.filter(user__is_active=True).count(),
        local_posts=Post.objects.filter(local=True, state=Post.State.ACTIVE).count(),
        known_domains=Account.objects.remote().values("domain").distinct().count(),
    )
