"""Walk server-rendered HTML forms the way a browser would (login and consent pages)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def submit(
    session: httpx.Client,
    page: httpx.Response,
    *,
    fill: dict[str, str] | None = None,
    button: tuple[str, str] | None = None,
) -> httpx.Response:
    """Submit the form of `page` holding `button` (or the first form), as a browser would."""
    forms = forms_of(page.text)
    form = next((f for f in forms if button is None or button in f["buttons"]), None)
    assert form is not None, f"no matching form on {page.url}"
    data = dict(form["fields"])
    data.update(fill or {})
    if button:
        data[button[0]] = button[1]
    action = urljoin(str(page.url), form["action"] or str(page.url))
    return session.post(action, data=data, headers={"Referer": str(page.url)})


def oauth_code_via_html(auth_url: str, username: str, password: str) -> str:
    """Log in and consent through the real HTML pages; return the code shown for oob."""
    with httpx.Client(follow_redirects=True, timeout=30) as session:
        page = session.get(auth_url)
        assert "password" in page.text, page.text[:500]
        page = submit(session, page, fill={"username": username, "password": password})
        assert 'id="authorize"' in page.text, page.text[:800]
        page = submit(session, page, button=("decision", "authorize"))
        assert page.status_code == 200, page.text[:500]
        start = page.text.index('id="code">') + len('id="code">')
        return page.text[start : page.text.index("<", start)].strip()
