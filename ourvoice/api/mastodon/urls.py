"""Mastodon client API routes, by section of the Mastodon documentation.

Every route answers with and without a trailing slash (`routing.api`).
"""

from django.urls import re_path

from ourvoice.api.mastodon.errors import api_not_found
from ourvoice.api.mastodon.routing import api
from ourvoice.api.mastodon.views import instance, statuses, timelines

ID = r"(?P<id>[^/]+)"

urlpatterns = [
    # instance
    api(r"api/v1/instance", instance.InstanceV1),
    api(r"api/v2/instance", instance.InstanceV2),
    api(r"api/v1/instance/rules", instance.InstanceRules),
    api(r"api/v1/instance/peers", instance.EmptyList),
    api(r"api/v1/instance/activity", instance.EmptyList),
    api(r"api/v1/instance/extended_description", instance.InstanceExtendedDescription),
    api(r"api/v1/instance/translation_languages", instance.InstanceTranslationLanguages),
    # statuses
    api(r"api/v1/statuses", statuses.StatusCreate),
    api(rf"api/v1/statuses/{ID}", statuses.StatusDetail),
    api(rf"api/v1/statuses/{ID}/context", statuses.StatusContextView),
    api(rf"api/v1/statuses/{ID}/history", statuses.StatusHistory),
    api(rf"api/v1/statuses/{ID}/source", statuses.StatusSource),
    api(rf"api/v1/statuses/{ID}/favourited_by", statuses.StatusInteractors.as_view(kind="likes")),
    api(rf"api/v1/statuses/{ID}/reblogged_by", statuses.StatusInteractors.as_view(kind="reposts")),
    *[
        api(rf"api/v1/statuses/{ID}/{action}", statuses.StatusAction.as_view(action=action))
        for action in (
            "favourite",
            "unfavourite",
            "reblog",
            "unreblog",
            "bookmark",
            "unbookmark",
            "pin",
            "unpin",
            "mute",
            "unmute",
        )
    ],
    # timelines
    api(r"api/v1/timelines/home", timelines.HomeTimeline),
    api(r"api/v1/timelines/public", timelines.PublicTimeline),
    api(r"api/v1/timelines/tag/(?P<tag>[^/]+)", timelines.TagTimeline),
    # anything else under /api/ is a JSON 404
    re_path(r"^api/", api_not_found),
]
