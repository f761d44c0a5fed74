"""Outbox consumers that turn domain events (local or from the inbox) into notification rows.

Each runs inside the dispatcher's transaction with its receipt, and every row has a
`dedupe_key`, so a repeated event never notifies twice.
"""

from __future__ import annotations

from ourvoice.accounts.models import Account, Follow, User
from ourvoice.core.models import OutboxEvent
from ourvoice.interactions.models import Like, Repost
from ourvoice.notifications.models import Notification
from ourvoice.notifications.services import notification_create
from ourvoice.posts.models import Mention, Post, Visibility

T = Notification.Type


def on_post_created(event: OutboxEvent) -> None:
    """`mention` for mentioned local accounts; `status` for local followers who asked for it."""
    post = Post.objects.select_related("author").filter(pk=event.payload["post_id"]).first()
    if post is None or post.state != Post.State.ACTIVE:
        return
    mentioned = Account.objects.filter(
        pk__in=Mention.objects.filter(post=post).values("account_id"), domain=""
    )
    for account in mentioned:
        notification_create(
            recipient=account,
            from_account=post.author,
            type=T.MENTION,
            post=post,
            dedupe_key=f"mention:{post.id}",
        )
    if post.visibility == Visibility.DIRECT or post.in_reply_to_id:
        return
    subscribers = Account.objects.filter(
        domain="",
        following_set__target=post.author,
        following_set__state=Follow.State.ACCEPTED,
        following_set__notify=True,
    ).exclude(pk__in=[a.pk for a in mentioned])
    for account in subscribers:
        notification_create(
            recipient=account,
            from_account=post.author,
            type=T.STATUS,
            post=post,
            dedupe_key=f"status:{post.id}",
        )


def on_post_updated(event: OutboxEvent) -> None:
    """`update` for local accounts who boosted or replied to the edited post."""
    post = Post.objects.select_related("author").filter(pk=event.payload["post_id"]).first()
    if post is None or post.state != Post.State.ACTIVE:
        return
    boosters = Repost.objects.filter(post=post).values_list("account_id", flat=True)
    repliers = Post.objects.filter(in_reply_to=post, state=Post.State.ACTIVE).values_list(
        "author_id", flat=True
    )
    recipients = Account.objects.filter(domain="", pk__in={*boosters, *repliers})
    for account in recipients:
        notification_create(
            recipient=account,
            from_account=post.author,
            type=T.UPDATE,
            post=post,
            dedupe_key=f"update:{post.id}:{event.id}",
        )


def on_like_created(event: OutboxEvent) -> None:
    """`favourite` for the local author of a liked post."""
    like = (
        Like.objects.select_related("account", "post__author")
        .filter(pk=event.payload["like_id"])
        .first()
    )
    if like is None:
        return
    notification_create(
        recipient=like.post.author,
        from_account=like.account,
        type=T.FAVOURITE,
        post=like.post,
        dedupe_key=f"favourite:{like.account_id}:{like.post_id}",
    )


def on_repost_created(event: OutboxEvent) -> None:
    """`reblog` for the local author of a boosted post."""
    repost = (
        Repost.objects.select_related("account", "post__author")
        .filter(pk=event.payload["repost_id"])
        .first()
    )
    if repost is None:
        return
    notification_create(
        recipient=repost.post.author,
        from_account=repost.account,
        type=T.REBLOG,
        post=repost.post,
        dedupe_key=f"reblog:{repost.account_id}:{repost.post_id}",
    )


def on_follow_requested(event: OutboxEvent) -> None:
    """`follow_request` for a local target that must approve the follow."""
    follow = (
        Follow.objects.select_related("follower", "target")
        .filter(pk=event.payload["follow_id"])
        .first()
    )
    if follow is None or follow.state != Follow.State.PENDING or not follow.target.local:
        return
    notification_create(
        recipient=follow.target,
        from_account=follow.follower,
        type=T.FOLLOW_REQUEST,
        dedupe_key=f"follow_request:{follow.id}",
    )


def on_follow_accepted(event: OutboxEvent) -> None:
    """`follow` for a local target, unless it already got (and approved) a follow request."""
    follow = (
        Follow.objects.select_related("follower", "target")
        .filter(pk=event.payload["follow_id"])
        .first()
    )
    if follow is None or not follow.target.local:
        return
    # Keyed by this follow's id: a request from an earlier follow (rejected, or followed and
    # unfollowed) must neither hide this follow's `follow` nor a new request's notification.
    requested = Notification.objects.filter(
        recipient=follow.target, dedupe_key=f"follow_request:{follow.id}"
    ).exists()
    if requested:
        return
    notification_create(
        recipient=follow.target,
        from_account=follow.follower,
        type=T.FOLLOW,
        dedupe_key=f"follow:{follow.id}",
    )


def on_account_created(event: OutboxEvent) -> None:
    """`admin.sign_up` for every local admin when someone registers."""
    account = Account.objects.filter(pk=event.payload["account_id"], domain="").first()
    if account is None or account.user_id is None:
        return
    admins = Account.objects.filter(
        user__in=User.objects.filter(is_staff=True, is_active=True)
    ).exclude(pk=account.pk)
    for admin in admins:
        notification_create(
            recipient=admin,
            from_account=account,
            type=T.ADMIN_SIGN_UP,
            dedupe_key=f"sign_up:{account.id}",
        )
