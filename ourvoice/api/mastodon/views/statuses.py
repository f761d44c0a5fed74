"""Statuses: create, read, edit, delete, context, history, source and per-user actions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from federation import services as federation_services
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_get_by_acct
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import (
    StatusContext,
    iso,
    render_account,
    render_media,
    render_posts,
    render_repost,
    render_status,
)
from ourvoice.api.mastodon.idempotency import (
    KEY_MAX_LENGTH,
    idempotent_post_create,
    idempotent_post_get,
)
from ourvoice.api.mastodon.pagination import page_from
from ourvoice.core.errors import Invalid, NotFound
from ourvoice.core.html import extract_mentions
from ourvoice.core.urls import normalize_domain
from ourvoice.interactions import services as interactions
from ourvoice.interactions.selectors import Page, post_interactors
from ourvoice.posts import services as posts
from ourvoice.posts.models import MediaAttachment, Post
from ourvoice.posts.selectors import post_context, post_get_visible_to


def _app_of(request: Request) -> tuple[str, str]:
    token = request.auth
    app = getattr(token, "application", None)
    if app is None:
        return "", ""
    website = getattr(getattr(app, "profile", None), "website", "") if app else ""
    return app.name or "", website or ""


#: Unknown remote accounts resolved (WebFinger + actor fetch) per status; more stay plain text.
MAX_MENTION_RESOLVES = 5


def mentions_resolve(text: str) -> None:
    """Fetch and store the unknown remote accounts `text` mentions (`@user@domain`), so that
    `post_create` links them and addresses the post to them, as Mastodon resolves mentions
    when a status is written. Best effort: an account that cannot be resolved stays plain
    text, as it would on Mastodon. At most MAX_MENTION_RESOLVES look-ups per status."""
    budget = MAX_MENTION_RESOLVES
    for username, domain in extract_mentions(text or ""):
        if not domain or budget <= 0:
            continue
        acct = f"{username}@{domain}"
        try:
            account_get_by_acct(acct=acct, include_suspended=True)
            continue  # known (or suspended: never fetched again from here)
        except NotFound:
            pass
        if normalize_domain(domain) == normalize_domain(settings.OURVOICE_DOMAIN):
            continue  # a local name that does not exist
        budget -= 1
        federation_services.account_resolve(f"@{acct}")


class StatusCreate(MastodonView):
    scopes = {"POST": "write:statuses"}

    def post(self, request: Request) -> Response:
        p = self.params
        key = request.headers.get("Idempotency-Key", "").strip()[:KEY_MAX_LENGTH]
        seen = idempotent_post_get(user=request.user, key=key)
        if seen is not None:
            return Response(render_status(seen, viewer=self.viewer))
        in_reply_to = None
        reply_id = p.str("in_reply_to_id")
        if reply_id:
            in_reply_to = post_get_visible_to(viewer=self.viewer, post_id=reply_id)
        user = request.user
        visibility = p.str("visibility") or user.default_privacy
        if p.raw("scheduled_at"):
            raise Invalid("Scheduled statuses are not supported")
        name, website = _app_of(request)
        mentions_resolve(p.str("status"))
        post = idempotent_post_create(
            user=user,
            key=key,
            create=lambda: posts.post_create(
                author=self.viewer,
                text=p.str("status"),
                visibility=visibility,
                spoiler_text=p.str("spoiler_text"),
                sensitive=p.bool("sensitive", user.default_sensitive),
                language=p.str("language") or user.default_language,
                in_reply_to=in_reply_to,
                media_ids=p.str_list("media_ids"),
                application_name=name,
                application_website=website,
            ),
        )
        post = Post.objects.select_related("author").get(pk=post.pk)
        return Response(render_status(post, viewer=self.viewer))


class StatusDetail(MastodonView):
    scopes = {"GET": "read:statuses", "PUT": "write:statuses", "DELETE": "write:statuses"}
    public = {"GET"}

    def get(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        return Response(render_status(post, viewer=self.viewer))

    def put(self, request: Request, id: str) -> Response:
        p = self.params
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        media_ids = p.str_list("media_ids") if ("media_ids" in p or "media_ids[]" in p) else None
        mentions_resolve(p.str("status"))
        posts.post_update(
            post=post,
            editor=self.viewer,
            text=p.str("status"),
            spoiler_text=p.optional_str("spoiler_text"),
            sensitive=p.optional_bool("sensitive"),
            language=p.optional_str("language"),
            media_ids=media_ids,
        )
        for item in p.list("media_attributes"):
            if isinstance(item, dict) and item.get("id"):
                posts.media_describe(
                    account=self.viewer,
                    media_id=item["id"],
                    description=str(item.get("description", "")),
                )
        post = Post.objects.select_related("author").get(pk=post.pk)
        return Response(render_status(post, viewer=self.viewer))

    def delete(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        data = render_status(post, viewer=self.viewer)
        posts.post_delete(post=post, actor=self.viewer)
        data["text"] = post.source
        data["spoiler_text"] = post.spoiler_text
        return Response(data)


class StatusContextView(MastodonView):
    scopes = {"GET": "read:statuses"}
    public = {"GET"}

    def get(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        ancestors, descendants = post_context(viewer=self.viewer, post=post)
        rendered = render_posts([*ancestors, *descendants], viewer=self.viewer)
        return Response(
            {"ancestors": rendered[: len(ancestors)], "descendants": rendered[len(ancestors) :]}
        )


class StatusHistory(MastodonView):
    scopes = {"GET": "read:statuses"}
    public = {"GET"}

    def get(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        account = render_account(post.author)
        edits = list(post.edits.order_by("id"))
        media = {
            m.pk: m
            for m in MediaAttachment.objects.filter(pk__in={i for e in edits for i in e.media_ids})
        }
        if not edits:
            edits_data = [
                {
                    "content": post.content,
                    "spoiler_text": post.spoiler_text,
                    "sensitive": post.sensitive,
                    "created_at": iso(post.published_at),
                    "account": account,
                    "poll": None,
                    "media_attachments": [render_media(m) for m in post.media.all()],
                    "emojis": [],
                }
            ]
        else:
            edits_data = [
                {
                    "content": e.content,
                    "spoiler_text": e.spoiler_text,
                    "sensitive": e.sensitive,
                    "created_at": iso(e.created_at),
                    "account": account,
                    "poll": None,
                    "media_attachments": [
                        render_media(media[i]) for i in e.media_ids if i in media
                    ],
                    "emojis": [],
                }
                for e in edits
            ]
        return Response(edits_data)


class StatusSource(MastodonView):
    scopes = {"GET": "read:statuses"}

    def get(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        if post.author_id != self.viewer.pk:
            raise NotFound("Record not found")
        return Response(
            {"id": str(post.id), "text": post.source, "spoiler_text": post.spoiler_text}
        )


class StatusAction(MastodonView):
    """POST /api/v1/statuses/:id/<action> for favourite, reblog, bookmark, pin and undos."""

    scopes = {"POST": "write:statuses"}
    action: str = ""
    _scope_by_action = {
        "favourite": "write:favourites",
        "unfavourite": "write:favourites",
        "bookmark": "write:bookmarks",
        "unbookmark": "write:bookmarks",
        "reblog": "write:statuses",
        "unreblog": "write:statuses",
        "pin": "write:accounts",
        "unpin": "write:accounts",
        "mute": "write:mutes",
        "unmute": "write:mutes",
    }

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.scopes = {"POST": self._scope_by_action[self.action]}
        super().initial(request, *args, **kwargs)

    def post(self, request: Request, id: str) -> Response:
        viewer: Account = self.viewer
        post = post_get_visible_to(viewer=viewer, post_id=id)
        action = self.action
        if action == "favourite":
            interactions.like_create(account=viewer, post=post)
        elif action == "unfavourite":
            interactions.like_delete(account=viewer, post=post)
        elif action == "bookmark":
            interactions.bookmark_create(account=viewer, post=post)
        elif action == "unbookmark":
            interactions.bookmark_delete(account=viewer, post=post)
        elif action == "pin":
            interactions.pin_create(account=viewer, post=post)
        elif action == "unpin":
            interactions.pin_delete(account=viewer, post=post)
        elif action == "reblog":
            visibility = self.params.str("visibility") or "public"
            repost = interactions.repost_create(account=viewer, post=post, visibility=visibility)
            post.refresh_from_db()
            repost.post = post
            ctx = StatusContext.build(viewer=viewer, posts=[post])
            return Response(render_repost(repost, ctx))
        elif action == "unreblog":
            interactions.repost_delete(account=viewer, post=post)
        # mute/unmute of conversations: accepted, nothing to store yet
        post = Post.objects.select_related("author").get(pk=post.pk)
        return Response(render_status(post, viewer=viewer))


class StatusInteractors(MastodonView):
    """GET …/favourited_by and …/reblogged_by, paginated by the interaction's id."""

    scopes = {"GET": "read:accounts"}
    public = {"GET"}
    kind: str = "likes"

    def get(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        page: Page = page_from(self.params, default=40, maximum=80)
        rows = post_interactors(post=post, kind=self.kind, page=page)
        return self.paginated(
            request, [render_account(r.account) for r in rows], [r.id for r in rows], page
        )
