"""Outcomes of incoming-activity processing that are not failures.

`federation.processing` marks an inbox item `ignored` when a handler raises `Ignore` (or its
subclass `Reject`) and does not retry it; any other exception marks it failed and retries.
The inbox has already answered 202 either way: peers never learn why an activity was dropped.
"""

from __future__ import annotations


class Ignore(Exception):
    """The activity is valid but has nothing for us (unknown type, unknown object, duplicate...)."""


class Reject(Ignore):
    """The activity breaks a security rule (origin, ownership, tombstone...): nothing is kept."""
