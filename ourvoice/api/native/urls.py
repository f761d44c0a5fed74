"""Native API, its OpenAPI schema, and the server-rendered moderation page.

Included from `ourvoice/urls.py` before the Mastodon routes, whose JSON 404 for unknown `/api/`
paths comes last.
"""

from django.urls import path
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView

from ourvoice.api.mastodon.routing import api
from ourvoice.api.native import pages
from ourvoice.api.native.schema import SCHEMA_SETTINGS
from ourvoice.api.native.urls_api import V1
from ourvoice.api.native.urls_api import urlpatterns as api_patterns


class NativeSchemaView(SpectacularAPIView):
    """`GET /api/ourvoice/v1/schema`: OpenAPI 3 (JSON; YAML with `?format=yaml`), public."""

    authentication_classes: list = []
    renderer_classes = [OpenApiJsonRenderer, OpenApiYamlRenderer]
    urlconf = "ourvoice.api.native.urls_api"
    custom_settings = SCHEMA_SETTINGS


urlpatterns = [
    *api_patterns,
    api(rf"{V1}/schema", NativeSchemaView, name="native-schema"),
    path("moderation", pages.case_list, name="moderation-cases"),
    path("moderation/cases/<int:case_id>", pages.case_detail, name="moderation-case"),
    path("moderation/cases/<int:case_id>/vote", pages.case_vote, name="moderation-vote"),
    path(
        "moderation/cases/<int:case_id>/withdraw",
        pages.case_withdraw,
        name="moderation-withdraw",
    ),
]
