"""Mastodon API routes: accounts section (see urls.py for the rest)."""

urlpatterns: list = []
