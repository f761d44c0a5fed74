import re

import pytest

DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.mark.django_db
def test_post_read_timeline(alice_client, bob_client, alice, bob, anon_client):
    r = alice_client.post("/api/v1/statuses", {"status": "hello @bob #Tag"})
    assert r.status_code == 200, r.content
    status = r.json()
    assert status["id"].isdigit() and DT.match(status["created_at"])
    assert status["mentions"][0]["acct"] == "bob"
    r = anon_client.get(f"/api/v1/statuses/{status['id']}/")
    assert r.status_code == 200 and "favourited" not in r.json()
    r = bob_client.post(f"/api/v1/statuses/{status['id']}/favourite")
    assert r.json()["favourited"] is True and r.json()["favourites_count"] == 1
    r = alice_client.get("/api/v1/timelines/home?limit=1")
    assert r.status_code == 200 and len(r.json()) == 1
    assert r["Link"].startswith("<https://testserver/api/v1/timelines/home?")
    assert anon_client.get("/api/v1/timelines/home").status_code == 401
    assert anon_client.get("/api/v1/nope").json() == {"error": "Record not found"}
    r = alice_client.post("/api/v1/statuses", {"status": ""})
    assert r.status_code == 422 and r.json()["error"].startswith("Validation failed")
    r = alice_client.get("/api/v2/instance/")
    assert r.json()["version"].startswith("4.2.0 (compatible; OUR Voice")
