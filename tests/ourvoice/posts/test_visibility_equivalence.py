"""`post_visible_to` (one post, checked in Python) and `post_get_visible_to` (one prebuilt
statement) agree with `posts_visible_q` (the query every list uses) for every viewer relation,
visibility, state and author suspension."""

from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from ourvoice.accounts.models import Account, AccountDomainBlock, Block, Follow
from ourvoice.core.errors import NotFound
from ourvoice.posts.models import Mention, Post, Visibility
from ourvoice.posts.selectors import post_get_visible_to, post_visible_to, posts_visible_q
from tests.factories import RemoteAccountFactory, local_account

pytestmark = pytest.mark.django_db

RELATIONS = (
    "anonymous",
    "author",
    "accepted follower",
    "pending follower",
    "mentioned",
    "stranger",
    "blocked by author",
    "blocking author",
    "domain-blocking author",
    "mentioned but blocked",
)


def _viewer(relation: str, author: Account, n: int) -> Account | None:
    if relation == "anonymous":
        return None
    if relation == "author":
        return author
    viewer = local_account(f"viewer{n}")
    if relation in ("accepted follower", "pending follower"):
        state = Follow.State.ACCEPTED if relation == "accepted follower" else Follow.State.PENDING
        Follow.objects.create(follower=viewer, target=author, state=state)
    elif relation in ("blocked by author", "mentioned but blocked"):
        Block.objects.create(account=author, target=viewer)
    elif relation == "blocking author":
        Block.objects.create(account=viewer, target=author)
    elif relation == "domain-blocking author" and author.domain:
        AccountDomainBlock.objects.create(account=viewer, domain=author.domain)
    return viewer


@pytest.mark.parametrize("remote_author", [False, True])
def test_single_post_check_matches_the_list_query(remote_author):
    author = RemoteAccountFactory(domain="far.example") if remote_author else local_account("au")
    states = (Post.State.ACTIVE, Post.State.ARCHIVED, Post.State.DELETED, Post.State.REMOVED)
    cases = list(itertools.product(RELATIONS, Visibility.values, states, (False, True)))
    checked = 0
    for n, (relation, visibility, state, suspended) in enumerate(cases):
        viewer = _viewer(relation, author, n)
        Account.objects.filter(pk=author.pk).update(
            suspended_at=timezone.now() if suspended else None
        )
        post = Post.objects.create(
            author=author,
            content="x",
            visibility=visibility,
            state=state,
            uri=f"https://{author.domain or 'testserver'}/p/{n}",
            local=not remote_author,
        )
        if relation in ("mentioned", "mentioned but blocked"):
            Mention.objects.create(post=post, account=viewer)
        expected = Post.objects.filter(posts_visible_q(viewer), pk=post.pk).exists()
        loaded = Post.objects.select_related("author").get(pk=post.pk)
        got = post_visible_to(viewer=viewer, post=loaded)
        assert got == expected, (relation, visibility, state, suspended, remote_author)
        try:
            fetched = post_get_visible_to(viewer=viewer, post_id=post.pk)
        except NotFound:
            fetched = None
        assert (fetched is not None) == expected, ("get", relation, visibility, state, suspended)
        if fetched is not None:
            assert fetched == loaded and fetched.author == loaded.author
            assert [getattr(fetched, f.attname) for f in Post._meta.concrete_fields] == [
                getattr(loaded, f.attname) for f in Post._meta.concrete_fields
            ]
        checked += 1
    assert checked == len(RELATIONS) * len(Visibility.values) * 4 * 2
