"""Mastodon API routes: notifications, markers, search, reports, trends, tags, suggestions and
the small startup endpoints (see urls.py for the rest).

Included before the main API urls; every route answers with and without a trailing slash.
"""

from ourvoice.api.mastodon.routing import api
from ourvoice.api.mastodon.views import misc, notifications, reports, search

ID = r"(?P<id>[^/]+)"
TAG = r"(?P<name>[^/]+)"

urlpatterns = [
    # notifications (v1; grouped v2 and unread_count come with api_versions.mastodon >= 2)
    api(r"api/v1/notifications", notifications.NotificationList),
    api(r"api/v1/notifications/clear", notifications.NotificationClear),
    api(rf"api/v1/notifications/{ID}", notifications.NotificationDetail),
    api(rf"api/v1/notifications/{ID}/dismiss", notifications.NotificationDismiss),
    # markers
    api(r"api/v1/markers", notifications.Markers),
    # search (v1 search was removed from Mastodon: it falls through to the JSON 404)
    api(r"api/v2/search", search.SearchV2),
    # reports
    api(r"api/v1/reports", reports.ReportCreate),
    # trends
    api(r"api/v1/trends", misc.TrendingTags),
    api(r"api/v1/trends/tags", misc.TrendingTags),
    api(r"api/v1/trends/statuses", misc.TrendingStatuses),
    api(r"api/v1/trends/links", misc.TrendingLinks),
    # tags (followed_tags lives in urls_accounts.py)
    api(rf"api/v1/tags/{TAG}", misc.TagDetail),
    api(rf"api/v1/tags/{TAG}/follow", misc.TagFollow),
    api(rf"api/v1/tags/{TAG}/unfollow", misc.TagFollow),
    # suggestions
    api(r"api/v1/suggestions", misc.SuggestionsV1),
    api(r"api/v2/suggestions", misc.SuggestionsV2),
    # startup lists of features with nothing to list yet
    api(r"api/v1/custom_emojis", misc.CustomEmojis),
    api(r"api/v1/filters", misc.Filters),
    api(r"api/v2/filters", misc.Filters),
    api(r"api/v1/announcements", misc.Announcements),
    api(r"api/v1/conversations", misc.Conversations),
    api(r"api/v1/scheduled_statuses", misc.ScheduledStatuses),
    # Web Push
    api(r"api/v1/push/subscription", misc.PushSubscription),
]
