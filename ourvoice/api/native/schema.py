"""OpenAPI description of the native API (drf-spectacular): entity shapes, inputs, OAuth scopes.

The serializers here describe what `ourvoice.api.native.entities` renders and what the views
read; validation itself happens in the moderation services (their errors map to Mastodon's
`{"error": ...}` shape). `BearerTokenScheme` declares the OAuth 2 bearer tokens of the Mastodon
API, with each operation listing the scope its view requires.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from moderation.models import Case, Vote

SECURITY_SCHEME = "OAuth2"

#: Scopes the native API checks (granted by their parents too: `read`, `write`).
SCOPES = {
    "read:statuses": "Read moderation cases and the posts under review",
    "write:reports": "Cast, change and withdraw moderation votes; appeal a removal",
}


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """The Mastodon API's bearer tokens; each operation lists the scope its view requires."""

    target_class = "ourvoice.api.mastodon.auth.BearerTokenAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "oauth2",
            "description": "OAuth 2 bearer tokens, the same as for the Mastodon client API.",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": "/oauth/authorize",
                    "tokenUrl": "/oauth/token",
                    "scopes": SCOPES,
                }
            },
        }

    def get_security_requirement(self, auto_schema: Any) -> Any:
        view = auto_schema.view
        method = auto_schema.method.upper()
        required = getattr(view, "scopes", {}).get(method)
        requirement = {SECURITY_SCHEME: [required] if required else []}
        if method in getattr(view, "public", set()):
            return [requirement, {}]
        return requirement


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Human-readable message (English)")


class VoteSerializer(serializers.Serializer):
    id = serializers.CharField()
    case_id = serializers.CharField()
    verdict = serializers.ChoiceField(choices=Vote.Verdict.values)
    reason = serializers.CharField(help_text="spam, legal, other or rule:<id>")
    comment = serializers.CharField(allow_blank=True)
    counted = serializers.BooleanField(
        help_text="False when kept but not counted: a decided case, another server's post, voided"
    )
    created_at = serializers.DateTimeField()


class OutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField(allow_null=True, help_text="The latest decision")
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.ChoiceField(choices=["rule", "admin"], allow_null=True)
    rule_version = serializers.CharField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True, help_text="T_eff at decision time")
    remove_weight = serializers.FloatField(allow_null=True)
    keep_weight = serializers.FloatField(allow_null=True)
    weight_by_tier = serializers.DictField(child=serializers.FloatField())
    remove_voters = serializers.IntegerField(allow_null=True)
    counted_votes = serializers.IntegerField(allow_null=True)
    remote_domains = serializers.IntegerField(allow_null=True)
    transparency_url = serializers.URLField()


class CaseSerializer(serializers.Serializer):
    id = serializers.CharField()
    state = serializers.ChoiceField(choices=Case.State.values)
    opened_at = serializers.DateTimeField()
    under_review = serializers.BooleanField(
        help_text="Enough distinct voters asked for removal; no live tally is ever shown"
    )
    status = serializers.DictField(
        allow_null=True, help_text="Mastodon Status entity; null when the viewer cannot read it"
    )
    my_vote = VoteSerializer(allow_null=True)
    is_author = serializers.BooleanField()
    appeal_until = serializers.DateTimeField(allow_null=True, help_text="Author only")
    outcome = OutcomeSerializer(allow_null=True, help_text="Decided cases only")


class VoteRequestSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Vote.Verdict.values)
    reason = serializers.CharField(required=False, help_text="spam, legal, other or rule:<id>")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=500)


class AppealRequestSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()
    hint = serializers.CharField(allow_blank=True)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ErrorSerializer) for code in (401, 403, *codes)}


PAGE_PARAMETERS = [
    OpenApiParameter("max_id", str, description="Cases older than this id"),
    OpenApiParameter("since_id", str, description="Cases newer than this id"),
    OpenApiParameter("min_id", str, description="Cases right after this id"),
    OpenApiParameter("limit", int, description="Page size, 1 to 40 (default 20)"),
]


def paths_without_slash(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook: routes answer with and without "/", the schema names them without."""
    result["paths"] = {(p.rstrip("/") or "/"): item for p, item in result.get("paths", {}).items()}
    return result


DESCRIPTION = (
    "What Mastodon's client API cannot express: community moderation cases, votes, public "
    'outcomes and appeals. Same OAuth 2 bearer tokens, scopes, `{"error": ...}` errors and '
    "`Link`-header pagination as the Mastodon API of this server."
)

#: drf-spectacular settings for the native schema view (on top of SPECTACULAR_SETTINGS).
SCHEMA_SETTINGS = {
    "DESCRIPTION": DESCRIPTION,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ourvoice.api.native.schema.paths_without_slash",
    ],
}
