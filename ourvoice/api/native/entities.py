"""JSON shapes of the native API: moderation cases, votes, public outcomes and reason codes.

What a voter may see follows moderation.md §3.3: while a case is open, only whether it is
"under review" (enough distinct voters), never live weights, counts or who voted. A decided case
shows its public outcome (the transparency page's numbers), still without identities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from moderation import links
from moderation.models import Case, Decision, Vote
from ourvoice.accounts.models import Account
from ourvoice.api.mastodon.entities import iso, render_posts


def vote_counted(vote: Vote) -> bool:
    """The vote enters the tally: active, counted and not voided by an admin."""
    return vote.active and vote.counts and vote.voided_at is None


def render_vote(vote: Vote) -> dict[str, Any]:
    return {
        "id": str(vote.id),
        "case_id": str(vote.case_id),
        "verdict": vote.verdict,
        "reason": vote.reason_code,
        "comment": vote.comment,
        "counted": vote_counted(vote),
        "created_at": iso(vote.cast_at),
    }


def under_review(case: Case, remove_voters: int) -> bool:
    """ "Under review": the rule passed (pending/held) or enough distinct voters asked removal."""
    if case.state in (Case.State.PENDING, Case.State.HELD):
        return True
    if case.state != Case.State.OPEN:
        return False
    return remove_voters >= settings.MODERATION_MIN_DISTINCT_VOTERS


def render_outcome(case: Case, latest: Decision | None, tallied: Decision | None) -> dict | None:
    """The public outcome of a decided case (None while votes still count)."""
    if case.is_voting:
        return None
    tally: dict[str, Any] = tallied.tally if tallied is not None else {}
    return {
        "outcome": latest.outcome if latest is not None else None,
        "decided_at": iso(case.decided_at or (latest.created_at if latest else None)),
        "decided_by": (
            None if latest is None else ("admin" if latest.by_admin_id is not None else "rule")
        ),
        "rule_version": tallied.rule_version if tallied is not None else None,
        "threshold": tally.get("threshold"),
        "remove_weight": tally.get("remove_weight"),
        "keep_weight": tally.get("keep_weight"),
        "weight_by_tier": tally.get("weight_by_tier", {}),
        "remove_voters": tally.get("distinct_remove_voters"),
        "counted_votes": tally.get("counted_votes"),
        "remote_domains": tally.get("remote_domains"),
        "transparency_url": links.transparency_url(case.id),
    }


@dataclass
class CaseView:
    """One case with what its viewer may see of it (built by the views from selectors)."""

    case: Case
    status: dict[str, Any] | None
    my_vote: Vote | None
    remove_voters: int
    outcome: dict[str, Any] | None = None


def render_case(item: CaseView, *, viewer: Account) -> dict[str, Any]:
    case = item.case
    is_author = case.author_id == viewer.pk
    return {
        "id": str(case.id),
        "state": case.state,
        "opened_at": iso(case.opened_at),
        "under_review": under_review(case, item.remove_voters),
        "status": item.status,
        "my_vote": render_vote(item.my_vote) if item.my_vote is not None else None,
        "is_author": is_author,
        "appeal_until": iso(case.appeal_until) if is_author else None,
        "outcome": item.outcome,
    }


def statuses_for(cases: Sequence[Case], *, viewer: Account) -> dict[int, dict[str, Any]]:
    """The posts of readable cases as Mastodon Status entities, one batch of queries."""
    rendered = render_posts([c.post for c in cases], viewer=viewer)
    return {c.pk: data for c, data in zip(cases, rendered, strict=True)}
