"""Headless Chromium (Playwright for Python) against a live server on 127.0.0.1.

The server is pytest-django's `live_server`: a threaded WSGI server in this process that shares
the test database, so tests create users and apps directly and the browser sees them. Needs the
`playwright` package and the system Chromium at /usr/bin/chromium; both missing → skip (a
failure under CI=true, through `tests.conftest.require`).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests.conftest import require

CHROMIUM = "/usr/bin/chromium"
#: Running as root needs --no-sandbox; the rest keeps Chromium off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium(django_db_setup):
    """One browser for the session, started after the test database exists."""
    require(
        importlib.util.find_spec("playwright") is not None,
        "browser tests need the `playwright` Python package (uv pip install playwright)",
    )
    require(os.path.exists(CHROMIUM), f"browser tests need Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop on this thread, which makes Django refuse ORM
    # calls (SynchronousOnlyOperation). The test's own ORM calls and pytest-django's flushes
    # between tests are synchronous and safe, so allow them while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_settings(settings):
    """Plain-http loopback: session and CSRF cookies must not be Secure-only."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    return settings


@pytest.fixture
def page(chromium, browser_settings, live_server):
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=True)
    context.set_default_timeout(15_000)
    # Nothing may leave the machine: any request to another host fails at once.
    host = live_server.url

    def guard(route):
        if route.request.url.startswith(host):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    yield page
    context.close()
