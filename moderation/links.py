"""Public URLs and ActivityPub ids of moderation objects (pure functions of settings)."""

from __future__ import annotations

from ourvoice.core import urls


def case_uri(case_id: int) -> str:
    """The case (`target` of a ModerationVote)."""
    return urls.absolute_url(f"/mod/cases/{case_id}")


def delete_activity_uri(case_id: int) -> str:
    """Deterministic id of the removal's Delete: retries and races can never announce two."""
    return urls.absolute_url(f"/mod/cases/{case_id}/delete")


def flag_activity_uri(case_id: int) -> str:
    """Deterministic id of the one aggregated Flag sent to a remote post's origin."""
    return urls.absolute_url(f"/mod/cases/{case_id}/flag")


def decision_uri(case_id: int) -> str:
    """The `ModerationDecision` notice linked from the Delete."""
    return urls.absolute_url(f"/mod/decisions/{case_id}")


def transparency_url(case_id: int) -> str:
    """The public page of a decided case."""
    return urls.absolute_url(f"/transparency/cases/{case_id}")


def vote_uri(username: str, vote_id: int) -> str:
    """Id of a local user's vote (the ModerationVote forwarded to an OUR Voice origin)."""
    return urls.absolute_url(f"/users/{username}/modvotes/{vote_id}")


def case_admin_hint(case_id: int) -> str:
    """Where admins find a case (its Django admin page)."""
    return f"Admin: {urls.absolute_url(f'/admin/moderation/case/{case_id}/change/')}"
