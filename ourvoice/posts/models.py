"""Posts (statuses, including replies), their media, mentions, hashtags and edit history."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    UNLISTED = "unlisted", "Unlisted"
    PRIVATE = "private", "Followers only"
    DIRECT = "direct", "Direct"


class PostQuerySet(models.QuerySet["Post"]):
    def active(self) -> PostQuerySet:
        """Posts that exist for everyone: not deleted, removed or archived."""
        return self.filter(state=Post.State.ACTIVE)

    def public(self) -> PostQuerySet:
        return self.filter(visibility=Visibility.PUBLIC)

    def local(self) -> PostQuerySet:
        return self.filter(local=True)


class Hashtag(models.Model):
    id = SnowflakeIdField()
    #: Lowercased name without '#'.
    name = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"#{self.name}"


class Post(models.Model):
    """A status. Replies are posts with `in_reply_to`; boosts live in `interactions.Repost`."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        DELETED = "deleted", "Deleted by its author"
        REMOVED = "removed", "Removed by moderation"
        ARCHIVED = "archived", "Archived"

    id = SnowflakeIdField()
    author = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="posts")
    #: Sanitised HTML.
    content = models.TextField(blank=True, default="")
    #: What the author typed (local posts); returned by the source and delete endpoints.
    source = models.TextField(blank=True, default="")
    spoiler_text = models.TextField(blank=True, default="")
    sensitive = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True, default="")
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC
    )

    ### Threading ###
    in_reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies"
    )
    #: AP id of the parent, kept even while the parent has not been fetched.
    in_reply_to_uri = models.URLField(max_length=2048, blank=True, default="")
    in_reply_to_account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    thread_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="thread_posts"
    )

    mentions = models.ManyToManyField(
        Account, through="Mention", related_name="mentioned_in", blank=True
    )
    hashtags = models.ManyToManyField(Hashtag, related_name="posts", blank=True)

    ### ActivityPub ###
    uri = models.URLField(max_length=2048, unique=True)
    url = models.URLField(max_length=2048, blank=True, default="")
    local = models.BooleanField(default=True)
    #: Client application that created a local post (Mastodon `application.name`).
    application_name = models.CharField(max_length=255, blank=True, default="")
    application_website = models.URLField(max_length=2048, blank=True, default="")

    ### Lifecycle ###
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    published_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    #: Set while a community-moderation case on the post is pending or held: clients show it
    #: collapsed behind a content warning until the case is decided.
    collapsed_at = models.DateTimeField(null=True, blank=True)

    ### Counters (exact under concurrency: F() updates in the writer's transaction) ###
    replies_count = models.PositiveIntegerField(default=0)
    likes_count = models.PositiveIntegerField(default=0)
    reposts_count = models.PositiveIntegerField(default=0)

    objects = PostQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["author", "-id"], name="post_author_id"),
            models.Index(fields=["visibility", "local", "-id"], name="post_public_tl"),
            models.Index(fields=["in_reply_to_uri"], name="post_reply_uri"),
        ]

    def __str__(self) -> str:
        return f"Post {self.id} by {self.author_id}"

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE


class Mention(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="mention_rows")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["post", "account"], name="mention_once")]

    def __str__(self) -> str:
        return f"{self.post_id} mentions {self.account_id}"


class PostEdit(models.Model):
    """A previous version of a post, saved before each edit (Mastodon StatusEdit)."""

    id = SnowflakeIdField()
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="edits")
    content = models.TextField(blank=True, default="")
    source = models.TextField(blank=True, default="")
    spoiler_text = models.TextField(blank=True, default="")
    sensitive = models.BooleanField(default=False)
    media_ids = models.JSONField(default=list, blank=True)
    #: When this version was created (the post's publication or previous edit time).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Edit {self.id} of {self.post_id}"


class MediaAttachment(models.Model):
    """An image, video or audio file attached to a post; local upload or remote reference."""

    class Type(models.TextChoices):
        IMAGE = "image", "Image"
        GIFV = "gifv", "GIF video"
        VIDEO = "video", "Video"
        AUDIO = "audio", "Audio"
        UNKNOWN = "unknown", "Unknown"

    id = SnowflakeIdField()
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="media")
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="media"
    )
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.IMAGE)
    mime_type = models.CharField(max_length=128, blank=True, default="")
    #: Local uploads are stored here; `url` is filled from it.
    file = models.FileField(upload_to="media/%Y/%m/", blank=True)
    url = models.URLField(max_length=2048, blank=True, default="")
    preview_url = models.URLField(max_length=2048, blank=True, default="")
    #: The original address of remote media.
    remote_url = models.URLField(max_length=2048, blank=True, default="")
    description = models.TextField(blank=True, default="")
    blurhash = models.CharField(max_length=128, blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    focus_x = models.FloatField(default=0.0)
    focus_y = models.FloatField(default=0.0)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class FeedEntry(models.Model):
    """One item of a local account's home feed, written when the item is published.

    Fan-out on write (as Mastodon's FeedManager): a post lands in the feeds of its author and
    accepted local followers; a boost in the feeds of the booster's followers. Reading a home
    page is then one index range scan on (owner, entry_id). `entry_id` is the post's id, or the
    boost's id for a boost (`repost_id` set, `actor` the booster).
    """

    id = SnowflakeIdField()
    #: Indexed by the (owner, entry_id) constraint, which also serves newest-first scans.
    owner = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    entry_id = models.BigIntegerField()
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    #: The id of an `interactions.Repost` when this entry is a boost.
    repost_id = models.BigIntegerField(null=True, blank=True)
    #: Whose activity put it here: the post's author, or the booster.
    actor = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "entry_id"], name="feed_entry_once")
        ]
        indexes = [
            models.Index(fields=["actor"], name="feed_actor"),
            models.Index(
                fields=["repost_id"],
                name="feed_repost",
                condition=models.Q(repost_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"feed {self.owner_id}: {self.entry_id}"
