"""Real Mastodon clients against a live gunicorn on loopback (issue: client API, "Must show").

Mastodon.py logs in through the HTML login and consent pages with the code flow; toot logs in
with `login_cli` (password grant). Both then use the everyday endpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mastodon import Mastodon

from tests.live.forms import oauth_code_via_html

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
SCOPES = ["read", "write", "follow", "push"]
OOB = "urn:ietf:wg:oauth:2.0:oob"


def _wait_for(fn, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def _login(instance, user: dict) -> Mastodon:
    client_id, client_secret = Mastodon.create_app(
        "OUR Voice test", scopes=SCOPES, redirect_uris=OOB, api_base_url=instance.base
    )
    m = Mastodon(
        client_id=client_id,
        client_secret=client_secret,
        api_base_url=instance.base,
        version_check_mode="created",
    )
    url = m.auth_request_url(redirect_uris=OOB, scopes=SCOPES, allow_http=True)
    code = oauth_code_via_html(url, user["username"], user["password"])
    m.log_in(code=code, redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    return m


def test_mastodon_py_everyday_use(instance):
    alice = instance.create_user("alice")
    bob = instance.create_user("bob")
    a = _login(instance, alice)
    b = _login(instance, bob)
    me = a.me()
    assert me.username == "alice"
    assert me.acct == "alice"
    bob_account = a.account_lookup("bob")
    rel = a.account_follow(bob_account.id)
    assert rel.following is True

    posts = [b.status_post(f"note {i} from bob #ovtest") for i in range(5)]
    hello = a.status_post("hello @bob, welcome", visibility="public")
    assert hello.mentions[0].acct == "bob"
    reply = b.status_reply(hello, "thanks alice!")
    assert reply.in_reply_to_id == hello.id
    fav = b.status_favourite(hello)
    assert fav.favourited is True
    assert fav.favourites_count == 1
    boost = b.status_reblog(hello)
    assert boost.reblog.id == hello.id
    assert a.status_bookmark(posts[0]).bookmarked is True
    ctx = a.status_context(hello)
    assert [s.id for s in ctx.descendants] == [reply.id]

    page = a.timeline_home(limit=2)
    assert len(page) == 2
    seen = [s.id for s in page]
    while (page := a.fetch_next(page)) is not None and len(seen) < 50:
        seen += [s.id for s in page]
    assert {p.id for p in posts} <= set(seen)
    assert seen == sorted(seen, key=lambda i: (len(str(i)), str(i)), reverse=True)

    # Notifications are created by the Celery worker through the outbox.
    types = _wait_for(
        lambda: (
            {n.type for n in a.notifications()} >= {"mention", "favourite", "reblog"}
            and {n.type for n in a.notifications()}
        )
    )
    assert {"mention", "favourite", "reblog"} <= types
    assert _wait_for(lambda: list(b.notifications(types=["follow"])))

    found = a.search_v2("bob", resolve=False)
    assert any(acc.acct == "bob" for acc in found.accounts)
    assert found.hashtags == [] or found.hashtags[0].name
    assert a.search_v2("#ovtest", resolve=False).hashtags[0].name == "ovtest"


def _toot(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "toot", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"toot {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_toot_cli(instance, tmp_path: Path):
    carol = instance.create_user("carol")
    dave = instance.create_user("dave")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOT_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    out = _toot(
        env, "login_cli", "-i", instance.base, "-e", carol["email"], "-p", carol["password"]
    )
    assert "Successfully logged in" in out
    assert "carol" in _toot(env, "whoami")
    assert instance.domain in _toot(env, "instance")

    posted = json.loads(_toot(env, "post", "first post from toot", "--json"))
    assert posted["content"] == "<p>first post from toot</p>"
    reply = json.loads(_toot(env, "post", "a reply", "-r", posted["id"], "--json"))
    assert reply["in_reply_to_id"] == posted["id"]
    assert "first post from toot" in _toot(env, "status", posted["id"])
    thread = _toot(env, "thread", posted["id"])
    assert "first post from toot" in thread
    assert "a reply" in thread

    _toot(env, "follow", "dave")
    env_dave = dict(env, XDG_CONFIG_HOME=str(tmp_path / "dave"))
    _toot(env_dave, "login_cli", "-i", instance.base, "-e", dave["email"], "-p", dave["password"])
    dave_post = json.loads(_toot(env_dave, "post", "hello @carol from dave", "--json"))
    home = _toot(env, "timelines", "home", "--no-pager", "--no-clear", "-l", "5")
    assert "first post from toot" in home
    assert "hello" in home
    _toot(env, "favourite", dave_post["id"])
    _toot(env, "reblog", dave_post["id"])
    _toot(env, "bookmark", dave_post["id"])
    assert "first post" in _toot(env, "timelines", "public", "--no-pager", "--no-clear")
    notes = _wait_for(lambda: "dave" in _toot(env, "notifications"))
    assert notes
    mentions = json.loads(_toot(env, "notifications", "--json", "-t", "mention"))
    assert [n["type"] for n in mentions] == ["mention"]
    assert "dave" in _toot(env, "search", "dave")
