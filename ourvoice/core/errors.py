"""Domain errors raised by services and selectors; interfaces map them to HTTP answers."""

from __future__ import annotations


class ApplicationError(Exception):
    """Base class: a clear, English message for the person or peer who caused it."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ApplicationError):
    """The input breaks a rule (empty content, unknown visibility...)."""

    code = "invalid"


class NotFound(ApplicationError):
    """The object does not exist or is not visible to the caller."""

    code = "not_found"


class NotAllowed(ApplicationError):
    """The caller may not do this (suspended, blocked, not the owner...)."""

    code = "not_allowed"


class Conflict(ApplicationError):
    """The state of the object does not allow the operation (already deleted...)."""

    code = "conflict"


class LimitReached(ApplicationError):
    """The caller used up a quota (votes per day...); retrying later may succeed."""

    code = "limit_reached"
