"""Django admin for posts, their edit history, media, mentions and hashtags.

Everything here is read-only: a post's content changes only through `posts.services`, which
keep counters, history and the outbox in step. The only writes admins make are the "Archive"
and "Restore" actions, and those call `post_archive` / `post_restore`, never `save()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.errors import ApplicationError
from ourvoice.core.html import html_to_text
from ourvoice.posts.models import FeedEntry, Hashtag, MediaAttachment, Mention, Post, PostEdit
from ourvoice.posts.services import post_archive, post_restore

logger = logging.getLogger(__name__)


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


class PostEditInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Every saved version of the post, oldest (the original) first."""

    model = PostEdit
    fields = ("created_at", "source", "spoiler_text", "sensitive", "media_ids")
    readonly_fields = fields
    ordering = ("id",)
    extra = 0
    verbose_name = "version"
    verbose_name_plural = "edit history"


class MediaAttachmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MediaAttachment
    fk_name = "post"
    fields = ("position", "type", "mime_type", "url", "remote_url", "description")
    readonly_fields = fields
    extra = 0
    show_change_link = True


class MentionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Mention
    fields = ("account",)
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mention]:
        return super().get_queryset(request).select_related("account")


@admin.register(Post)
class PostAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "author",
        "short_content",
        "visibility",
        "state",
        "local",
        "published_at",
        "replies_count",
        "likes_count",
        "reposts_count",
    )
    list_display_links = ("id", "short_content")
    list_filter = ("state", "visibility", "local")
    search_fields = ("content", "uri", "author__username")
    search_help_text = "Search in content, ActivityPub id and author username."
    list_select_related = ("author",)
    date_hierarchy = "published_at"
    ordering = ("-id",)
    # A second COUNT(*) over every post on each page view buys nothing on a large instance.
    show_full_result_count = False
    actions = ("archive_posts", "restore_posts")
    inlines = (PostEditInline, MediaAttachmentInline, MentionInline)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "author",
                    "state",
                    "visibility",
                    "local",
                    "text",
                    "content",
                    "source",
                    "spoiler_text",
                    "sensitive",
                    "language",
                    "hashtags",
                )
            },
        ),
        (
            "Thread",
            {"fields": ("in_reply_to", "in_reply_to_uri", "in_reply_to_account", "thread_root")},
        ),
        (
            "ActivityPub",
            {"fields": ("uri", "url", "application_name", "application_website")},
        ),
        ("Lifecycle", {"fields": ("published_at", "edited_at", "state_changed_at")}),
        ("Counters", {"fields": ("replies_count", "likes_count", "reposts_count")}),
    )
    # Everything is read-only even for someone granted the change permission: content edits
    # go through `post_update`, state changes through the actions below.
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

    @admin.display(description="content")
    def short_content(self, obj: Post) -> str:
        text = html_to_text(obj.content) or "(no text)"
        if obj.spoiler_text:
            text = f"[CW: {obj.spoiler_text}] {text}"
        return Truncator(text).chars(80)

    @admin.display(description="text")
    def text(self, obj: Post) -> str:
        return html_to_text(obj.content)

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        """Archive and restore need the model's change permission (granted, not the form)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Archive selected posts", permissions=["moderate"])
    def archive_posts(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        self._apply(
            request,
            queryset,
            service=post_archive,
            target=Post.State.ARCHIVED,
            done="archived",
            already="already archived",
        )

    @admin.action(description="Restore selected posts", permissions=["moderate"])
    def restore_posts(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        self._apply(
            request,
            queryset,
            service=post_restore,
            target=Post.State.ACTIVE,
            done="restored",
            already="already active",
            # Undoing a community decision must land in the moderation audit log, which only
            # the moderation admin writes (decisions.md, "Admins").
            refuse={
                Post.State.REMOVED: "it was removed by community moderation; restore it from "
                "its moderation case so that the decision is logged."
            },
        )

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[Post],
        *,
        service: Callable[..., Post],
        target: str,
        done: str,
        already: str,
        refuse: dict[str, str] | None = None,
    ) -> None:
        """Call `service` on each post in its own transaction; report counts and refusals."""
        changed = unchanged = 0
        for post in queryset.select_related(None).order_by("id"):
            before = post.state
            if refuse and before in refuse:
                self.message_user(
                    request, f"Post {post.pk} was not {done}: {refuse[before]}", messages.ERROR
                )
                continue
            try:
                result = service(post=post)
            except ApplicationError as exc:
                self.message_user(request, f"Post {post.pk}: {exc.message}", messages.ERROR)
                continue
            if before == target or result.state != target:
                unchanged += 1
                continue
            changed += 1
            self.log_change(request, result, f"{done.capitalize()} through the admin action.")
            logger.info(
                "admin post action post_id=%s result=%s user_id=%s", post.pk, done, request.user.pk
            )
        if changed:
            self.message_user(
                request, f"{_plural(changed, 'post', 'posts')} {done}.", messages.SUCCESS
            )
        if unchanged:
            self.message_user(
                request,
                f"{_plural(unchanged, 'post was', 'posts were')} {already}.",
                messages.WARNING,
            )


@admin.register(MediaAttachment)
class MediaAttachmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "account", "post", "type", "mime_type", "short_description", "created_at")
    list_filter = ("type",)
    search_fields = ("description", "account__username", "url", "remote_url")
    list_select_related = ("account", "post")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    fields = (
        "account",
        "post",
        "type",
        "mime_type",
        "file",
        "url",
        "preview_url",
        "remote_url",
        "description",
        "blurhash",
        "width",
        "height",
        "focus_x",
        "focus_y",
        "position",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="description")
    def short_description(self, obj: MediaAttachment) -> str:
        return Truncator(obj.description).chars(60)


@admin.register(Hashtag)
class HashtagAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "post_count", "created_at")
    search_fields = ("name",)
    ordering = ("name",)
    fields = ("name", "post_count", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Hashtag]:
        return super().get_queryset(request).annotate(post_count=Count("posts"))

    @admin.display(description="posts", ordering="post_count")
    def post_count(self, obj: Hashtag) -> int:
        return obj.post_count  # type: ignore[attr-defined]  # annotated in get_queryset


@admin.register(PostEdit)
class PostEditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Earlier versions of edited posts (also shown inline on each post)."""

    list_display = ("id", "post", "created_at", "sensitive")
    list_select_related = ("post",)
    search_fields = ("post__uri", "content")
    date_hierarchy = "created_at"


@admin.register(Mention)
class MentionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("post", "account")
    list_select_related = ("post", "account")
    search_fields = ("account__username", "account__domain", "post__uri")


@admin.register(FeedEntry)
class FeedEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Home feed rows written by fan-out on write (ADR 0001)."""

    list_display = ("owner", "entry_id", "post", "actor", "repost_id")
    list_select_related = ("owner", "post", "actor")
    search_fields = ("owner__username", "actor__username")
    show_full_result_count = False
