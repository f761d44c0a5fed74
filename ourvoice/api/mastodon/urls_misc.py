"""Mastodon API routes: misc section (see urls.py for the rest)."""

urlpatterns: list = []
