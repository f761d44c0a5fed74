"""Instance metadata (v1 and v2), rules and the small public lists clients read at startup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.response import Response

from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import instance_contact_admin
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import default_header, instance_version, render_account
from ourvoice.core.selectors import instance_rules
from ourvoice.posts.selectors import instance_stats
from ourvoice.posts.services import MAX_CHARACTERS, MAX_MEDIA

MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"]


def _rules() -> list[dict[str, str]]:
    return [{"id": str(r.id), "text": r.text, "hint": r.hint} for r in instance_rules()]


def _contact() -> tuple[str, Account | None]:
    admin = instance_contact_admin()
    if admin is None:
        return "", None
    return admin.email, getattr(admin, "account", None)


def _statuses_config() -> dict[str, Any]:
    return {
        "max_characters": MAX_CHARACTERS,
        "max_media_attachments": MAX_MEDIA,
        "characters_reserved_per_url": 23,
    }


def _media_config() -> dict[str, Any]:
    return {
        "supported_mime_types": MEDIA_TYPES,
        "description_limit": 1500,
        "image_size_limit": 16777216,
        "image_matrix_limit": 33177600,
        "video_size_limit": 103809024,
        "video_frame_rate_limit": 120,
        "video_matrix_limit": 8294400,
    }


def _polls_config() -> dict[str, int]:
    return {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 2629746,
    }


class InstanceV1(MastodonView):
    public = {"GET"}

    def get(self, request: Request) -> Response:
        email, contact = _contact()
        stats = instance_stats()
        return Response(
            {
                "uri": settings.OURVOICE_DOMAIN,
                "title": settings.OURVOICE_DOMAIN,
                "short_description": "An OUR Voice server: community-moderated social networking.",
                "description": "An OUR Voice server: community-moderated social networking.",
                "email": email,
                "version": instance_version(),
                "urls": {"streaming_api": settings.OURVOICE_STREAMING_URL},
                "stats": {
                    "user_count": stats.users,
                    "status_count": stats.local_posts,
                    "domain_count": stats.known_domains,
                },
                "thumbnail": default_header(),
                "languages": ["en"],
                "registrations": settings.OURVOICE_REGISTRATION != "closed",
                "approval_required": settings.OURVOICE_REGISTRATION == "approval",
                "invites_enabled": False,
                "configuration": {
                    "accounts": {"max_featured_tags": 0},
                    "statuses": _statuses_config(),
                    "media_attachments": _media_config(),
                    "polls": _polls_config(),
                },
                "contact_account": render_account(contact) if contact else None,
                "rules": _rules(),
            }
        )


class InstanceV2(MastodonView):
    public = {"GET"}

    def get(self, request: Request) -> Response:
        email, contact = _contact()
        base = settings.OURVOICE_BASE_URL
        return Response(
            {
                "domain": settings.OURVOICE_DOMAIN,
                "title": settings.OURVOICE_DOMAIN,
                "version": instance_version(),
                "source_url": "https://github.com/ourvoice/ourvoice",
                "description": "An OUR Voice server: community-moderated social networking.",
                "usage": {"users": {"active_month": instance_stats().active_users}},
                "thumbnail": {"url": default_header(), "blurhash": None, "versions": {}},
                "icon": [],
                "languages": ["en"],
                "configuration": {
                    "urls": {
                        "streaming": settings.OURVOICE_STREAMING_URL,
                        "status": None,
                        "about": f"{base}/about",
                        "privacy_policy": None,
                        "terms_of_service": None,
                    },
                    "vapid": {"public_key": ""},
                    "accounts": {
                        "max_featured_tags": 0,
                        "max_pinned_statuses": 5,
                        "max_profile_fields": 4,
                        "max_display_name_length": 30,
                        "max_note_length": 500,
                    },
                    "statuses": _statuses_config(),
                    "media_attachments": _media_config(),
                    "polls": _polls_config(),
                    "translation": {"enabled": False},
                    "timelines_access": {
                        "live_feeds": {"local": "public", "remote": "public"},
                        "hashtag_feeds": {"local": "public", "remote": "public"},
                        "trending_link_feeds": {"local": "public", "remote": "public"},
                    },
                },
                "registrations": {
                    "enabled": settings.OURVOICE_REGISTRATION != "closed",
                    "approval_required": settings.OURVOICE_REGISTRATION == "approval",
                    "reason_required": settings.OURVOICE_REGISTRATION == "approval",
                    "message": None,
                    "url": None,
                    "min_age": None,
                },
                "contact": {
                    "email": email,
                    "account": render_account(contact) if contact else None,
                },
                "rules": _rules(),
            }
        )


class InstanceRules(MastodonView):
    public = {"GET"}

    def get(self, request: Request) -> Response:
        return Response(_rules())


class EmptyList(MastodonView):
    """Endpoints whose honest answer is an empty list (peers are federation's; see docs)."""

    public = {"GET"}

    def get(self, request: Request, **kwargs: Any) -> Response:
        return Response([])


class InstanceExtendedDescription(MastodonView):
    public = {"GET"}

    def get(self, request: Request) -> Response:
        return Response({"updated_at": None, "content": ""})


class InstanceTranslationLanguages(MastodonView):
    public = {"GET"}

    def get(self, request: Request) -> Response:
        return Response({})
