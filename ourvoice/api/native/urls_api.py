"""Native API routes under `/api/ourvoice/v1/` (with and without a trailing slash).

Kept apart from `urls.py` so the OpenAPI schema is generated from exactly these routes.
"""

from ourvoice.api.mastodon.routing import api
from ourvoice.api.native import views

ID = r"(?P<id>[^/]+)"
V1 = "api/ourvoice/v1"

urlpatterns = [
    api(rf"{V1}/moderation/cases", views.CaseList),
    api(rf"{V1}/moderation/cases/{ID}", views.CaseDetail),
    api(rf"{V1}/moderation/cases/{ID}/vote", views.CaseVote),
    api(rf"{V1}/moderation/cases/{ID}/appeal", views.CaseAppeal),
    api(rf"{V1}/moderation/rules", views.ReasonList),
    api(rf"{V1}/statuses/{ID}/moderation_vote", views.StatusModerationVote),
]
