"""Mastodon API routes: oauth section (see urls.py for the rest)."""

urlpatterns: list = []
