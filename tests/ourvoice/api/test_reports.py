"""POST /api/v1/reports through the API with real tokens."""

from __future__ import annotations

import json
import re

import pytest

from moderation.models import Report
from ourvoice.core.models import InstanceRule, OutboxEvent
from ourvoice.posts.services import post_create
from tests.factories import RemoteAccountFactory
from tests.ourvoice.api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
REPORT_KEYS = {
    "id",
    "action_taken",
    "action_taken_at",
    "category",
    "comment",
    "forwarded",
    "created_at",
    "status_ids",
    "rule_ids",
    "target_account",
}


def _json(response):
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _nothing_written():
    assert not Report.objects.exists()
    assert not OutboxEvent.objects.filter(kind="report.created").exists()


def test_account_report(alice, alice_client, bob):
    r = alice_client.post("/api/v1/reports", {"account_id": str(bob.id), "comment": "rude"})
    assert r.status_code == 200
    data = _json(r)
    assert set(data) == REPORT_KEYS
    assert data["id"].isdigit() and DT.match(data["created_at"])
    assert data["action_taken"] is False and data["action_taken_at"] is None
    assert data["category"] == "other" and data["comment"] == "rude"
    assert data["forwarded"] is False
    assert data["status_ids"] == [] and data["rule_ids"] is None
    assert data["target_account"]["id"] == str(bob.id)
    report = Report.objects.get(pk=int(data["id"]))
    assert (report.reporter_id, report.target_account_id) == (alice.id, bob.id)
    assert report.state == Report.State.OPEN
    event = OutboxEvent.objects.get(kind="report.created")
    assert event.payload == {
        "report_id": report.id,
        "reporter_id": alice.id,
        "target_account_id": bob.id,
        "post_ids": [],
    }


def test_status_report_form_and_json(alice, alice_client, bob):
    posts = [post_create(author=bob, text=f"spam {i}") for i in range(2)]
    ids = [str(p.id) for p in posts]
    r = alice_client.post(
        "/api/v1/reports/",
        {"account_id": str(bob.id), "status_ids[]": ids, "category": "spam"},
    )
    data = _json(r)
    assert r.status_code == 200 and data["category"] == "spam"
    assert data["status_ids"] == sorted(ids, key=int)
    r = alice_client.post(
        "/api/v1/reports",
        json.dumps({"account_id": str(bob.id), "status_ids": [ids[0], ids[0]], "forward": True}),
        content_type="application/json",
    )
    data = _json(r)
    assert data["status_ids"] == [ids[0]]
    assert data["forwarded"] is False  # bob is local: nothing to forward
    assert Report.objects.get(pk=int(data["id"])).forward is True


def test_remote_target_forwarded(alice_client):
    remote = RemoteAccountFactory()
    r = alice_client.post("/api/v1/reports", {"account_id": str(remote.id), "forward": "true"})
    assert r.status_code == 200 and _json(r)["forwarded"] is True
    r = alice_client.post("/api/v1/reports", {"account_id": str(remote.id)})
    assert _json(r)["forwarded"] is False


def test_rule_ids_make_a_violation(alice_client, bob):
    rules = [InstanceRule.objects.create(text=f"Rule {i}", position=i) for i in range(2)]
    r = alice_client.post(
        "/api/v1/reports",
        {"account_id": str(bob.id), "rule_ids[]": [str(rules[1].id)], "category": "spam"},
    )
    data = _json(r)
    assert r.status_code == 200
    assert data["category"] == "violation" and data["rule_ids"] == [str(rules[1].id)]
    r = alice_client.post("/api/v1/reports", {"account_id": str(bob.id), "category": "violation"})
    assert r.status_code == 200 and _json(r)["category"] == "violation"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"comment": "x" * 1001}, "Comment is too long (maximum is 1000 characters)"),
        ({"category": "nonsense"}, "Category must be one of"),
        ({"rule_ids[]": ["12345"]}, "Rule ids do not match"),
        ({"rule_ids[]": ["abc"]}, "rule_ids must be a list of ids"),
        ({"forward": "perhaps"}, "forward must be a boolean"),
    ],
)
def test_validation_errors_write_nothing(alice_client, bob, extra, message):
    r = alice_client.post("/api/v1/reports", {"account_id": str(bob.id), **extra})
    assert r.status_code == 422
    assert _json(r)["error"].startswith(f"Validation failed: {message}")
    _nothing_written()


def test_missing_self_and_unknown_accounts(alice, alice_client, bob):
    r = alice_client.post("/api/v1/reports", {"comment": "no target"})
    assert r.status_code == 422 and _json(r) == {
        "error": "Validation failed: account_id can't be blank"
    }
    r = alice_client.post("/api/v1/reports", {"account_id": str(alice.id)})
    assert r.status_code == 422
    assert _json(r) == {"error": "Validation failed: You cannot report yourself"}
    for unknown in ("1", "abc"):
        r = alice_client.post("/api/v1/reports", {"account_id": unknown})
        assert r.status_code == 404 and _json(r) == {"error": "Record not found"}
    bob.suspended_at = bob.created_at
    bob.save(update_fields=["suspended_at"])
    assert alice_client.post("/api/v1/reports", {"account_id": str(bob.id)}).status_code == 404
    _nothing_written()


def test_statuses_must_belong_to_target_and_be_visible(alice, alice_client, bob):
    carol = RemoteAccountFactory()
    own = post_create(author=alice, text="mine")
    hidden = post_create(author=bob, text="followers only", visibility="private")
    for status_id in (str(own.id), str(hidden.id), "999", "abc"):
        r = alice_client.post(
            "/api/v1/reports", {"account_id": str(bob.id), "status_ids[]": [status_id]}
        )
        assert r.status_code == 404, status_id
        assert _json(r) == {"error": "Record not found"}
    r = alice_client.post(
        "/api/v1/reports", {"account_id": str(carol.id), "status_ids[]": [str(hidden.id)]}
    )
    assert r.status_code == 404
    _nothing_written()


def test_auth_and_scopes(alice, bob):
    body = {"account_id": str(bob.id)}
    r = ApiClient().post("/api/v1/reports", body)
    assert r.status_code == 401 and _json(r) == {"error": "The access token is invalid"}
    r = ApiClient(make_token(alice.user, scopes="read write:statuses")).post(
        "/api/v1/reports", body
    )
    assert r.status_code == 403
    assert _json(r) == {"error": "This action is outside the authorized scopes"}
    r = ApiClient(make_token(None, scopes="write")).post("/api/v1/reports", body)
    assert r.status_code == 422
    assert _json(r) == {"error": "This method requires an authenticated user"}
    _nothing_written()
    r = ApiClient(make_token(alice.user, scopes="write:reports")).post("/api/v1/reports", body)
    assert r.status_code == 200
    assert ApiClient(make_token(alice.user)).get("/api/v1/reports").status_code == 405
