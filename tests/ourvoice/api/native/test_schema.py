"""The native API's OpenAPI schema: served, valid OpenAPI 3, and listing every native route."""

from __future__ import annotations

import pytest
import yaml
from django.urls import URLPattern
from drf_spectacular.validation import validate_schema

from ourvoice.api.native import urls_api
from tests.ourvoice.api.conftest import ApiClient

pytestmark = pytest.mark.django_db

EXPECTED = {
    "/api/ourvoice/v1/moderation/cases": {"get": ["read:statuses"]},
    "/api/ourvoice/v1/moderation/cases/{id}": {"get": ["read:statuses"]},
    "/api/ourvoice/v1/moderation/cases/{id}/vote": {
        "post": ["write:reports"],
        "delete": ["write:reports"],
    },
    "/api/ourvoice/v1/moderation/cases/{id}/appeal": {"post": ["write:reports"]},
    "/api/ourvoice/v1/moderation/rules": {"get": []},
    "/api/ourvoice/v1/statuses/{id}/moderation_vote": {
        "post": ["write:reports"],
        "delete": ["write:reports"],
    },
}


def _route_path(pattern: URLPattern) -> str:
    regex = pattern.pattern.regex.pattern
    body = regex.removeprefix("^").removesuffix("/?$")
    return "/" + body.replace("(?P<id>[^/]+)", "{id}")


@pytest.fixture
def schema() -> dict:
    r = ApiClient().get("/api/ourvoice/v1/schema")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return r.json()


def test_schema_is_valid_openapi(schema):
    validate_schema(schema)  # raises on any violation of the OpenAPI 3.0 JSON schema
    assert schema["openapi"].startswith("3.0")
    assert schema["info"]["title"] == "OUR Voice native API"


def test_schema_lists_every_native_route_with_its_scope(schema):
    routes = {_route_path(p) for p in urls_api.urlpatterns}
    assert routes == set(EXPECTED)
    assert set(schema["paths"]) == routes
    for path, methods in EXPECTED.items():
        item = schema["paths"][path]
        assert set(item) - {"parameters"} == set(methods), path
        for method, scopes in methods.items():
            operation = item[method]
            assert {"OAuth2": scopes} in operation["security"], (path, method)
            assert "200" in operation["responses"]
    oauth = schema["components"]["securitySchemes"]["OAuth2"]
    assert set(oauth["flows"]["authorizationCode"]["scopes"]) == {"read:statuses", "write:reports"}


def test_schema_describes_the_entities(schema):
    components = schema["components"]["schemas"]
    case = components["Case"]["properties"]
    assert {"under_review", "status", "my_vote", "outcome"} <= set(case)
    assert not any("weight" in name for name in case)  # voters never see live weights
    assert set(components["Vote"]["properties"]) == {
        "id",
        "case_id",
        "verdict",
        "reason",
        "comment",
        "counted",
        "created_at",
    }
    vote_request = components["VoteRequest"]
    assert vote_request["required"] == ["verdict"]


def test_schema_as_yaml():
    r = ApiClient().get("/api/ourvoice/v1/schema", {"format": "yaml"})
    assert r.status_code == 200
    data = yaml.safe_load(r.content)
    validate_schema(data)
    assert "/api/ourvoice/v1/moderation/cases" in data["paths"]
