"""Audience selectors: shared-inbox collapsing, accepted-only followers, interactors, policy."""

from __future__ import annotations

import pytest
from django.utils import timezone

from federation.models import Instance, PostInbox
from federation.outbound import audience
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import Mention, Post
from tests.factories import local_account
from tests.federation.outbound.support import follow, remote

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return local_account("alice")


def test_followers_collapse_to_shared_inboxes(alice):
    for _ in range(5):
        follow(remote("big.example"), alice)
    solo = [remote("small.example", shared=False) for _ in range(2)]
    for account in solo:
        follow(account, alice)
    follow(local_account("bob"), alice)

    assert audience.followers_inboxes(alice) == {
        "https://big.example/inbox",
        *(account.inbox_uri for account in solo),
    }


def test_pending_followers_only_when_asked(alice):
    pending = remote("p.example")
    follow(pending, alice, accepted=False)
    assert audience.followers_inboxes(alice) == set()
    assert audience.followers_inboxes(alice, accepted_only=False) == {"https://p.example/inbox"}


def test_suspended_and_inboxless_accounts_are_ignored(alice):
    gone = remote("g.example", suspended_at=timezone.now())
    mute = remote("n.example", shared=False, inbox_uri="")
    follow(gone, alice)
    follow(mute, alice)
    assert audience.followers_inboxes(alice) == set()


def test_mentioned_and_interactor_inboxes(alice):
    post = Post.objects.create(author=alice, uri="https://testserver/users/alice/statuses/1")
    mentioned = remote("m.example")
    Mention.objects.create(post=post, account=mentioned)
    Mention.objects.create(post=post, account=local_account("carol"))
    liker, booster = remote("l.example", shared=False), remote("b.example")
    replier = remote("r.example")
    Like.objects.create(account=liker, post=post)
    Repost.objects.create(account=booster, post=post)
    Post.objects.create(
        author=replier, uri="https://r.example/s/1", local=False, in_reply_to_uri=post.uri
    )

    assert audience.mentioned_inboxes(post) == {"https://m.example/inbox"}
    assert audience.interactor_inboxes(post) == {
        liker.inbox_uri,
        "https://b.example/inbox",
        "https://r.example/inbox",
    }


def test_post_recipient_inboxes(alice):
    post = Post.objects.create(author=alice, uri="https://testserver/users/alice/statuses/2")
    PostInbox.objects.create(post=post, inbox="https://x.example/inbox")
    assert audience.post_recipient_inboxes(post) == {"https://x.example/inbox"}


def test_single_recipient_inboxes():
    shared = remote("s.example")
    assert audience.account_inbox(shared) == shared.inbox_uri
    assert audience.account_preferred_inbox(shared) == "https://s.example/inbox"
    assert audience.account_inbox(local_account("dave")) == ""
    assert audience.account_inbox(None) == ""


def test_partition_by_domain_policy(settings):
    Instance.objects.create(domain="bad.example", policy=Instance.Policy.SUSPEND)
    Instance.objects.create(domain="dead.example", unavailable_since=timezone.now())
    Instance.objects.create(domain="quiet.example", policy=Instance.Policy.SILENCE)
    own = f"https://{settings.OURVOICE_DOMAIN}/inbox"
    result = audience.inboxes_partition(
        [
            "https://bad.example/inbox",
            "https://DEAD.example/inbox",
            "https://quiet.example/inbox",
            "https://ok.example:8443/inbox",
            own,
            "mailto:x@example.org",
        ]
    )
    assert result.deliver == {
        "https://quiet.example/inbox": "quiet.example",
        "https://ok.example:8443/inbox": "ok.example:8443",
    }
    assert result.skip == {
        "https://bad.example/inbox": "bad.example",
        "https://DEAD.example/inbox": "dead.example",
    }
    assert result.reasons["https://bad.example/inbox"] == "domain suspended"
    assert result.reasons["https://DEAD.example/inbox"] == "domain unavailable"
