"""What the public may know about a decided case: the transparency page and the AP documents.

Read-only. The public view of a case carries the outcome, its timestamps, the rule version, the
threshold (T and the exposure-scaled T_eff), the remove and keep weight, the weight by voter
tier, the number of voters and remote domains, the appeal deadline and status, and the head hash
of the case's audit chain (moderation.md §3.5). It never carries voter identities, admin notes
or the removed content: those are for admins only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from federation.outbound.renderers import CONTEXT, OV_NAMESPACE
from moderation import links, rule, selectors
from moderation.audit import audit_head
from moderation.models import Case, Decision, Vote
from moderation.tally import counted_votes_q
from ourvoice.accounts.models import Account
from ourvoice.accounts.services import system_actor_get
from ourvoice.core.errors import NotFound

#: States with a public page and a decision notice.
DECIDED_STATES = (
    Case.State.REMOVED,
    Case.State.APPEALED,
    Case.State.UPHELD,
    Case.State.RESTORED,
    Case.State.CLOSED,
)
#: Decisions that settle a case (the others record the rule passing or a hold).
FINAL_OUTCOMES = (
    Decision.Outcome.REMOVE,
    Decision.Outcome.KEEP,
    Decision.Outcome.CLOSED,
    Decision.Outcome.UPHOLD,
    Decision.Outcome.RESTORE,
)
#: `verdict` of the ModerationDecision per case state.
VERDICTS: Mapping[str, str] = {
    Case.State.REMOVED: "remove",
    Case.State.APPEALED: "remove",
    Case.State.UPHELD: "remove",
    Case.State.RESTORED: "restore",
    Case.State.CLOSED: "keep",
}
#: The `@context` of the case document: the shared context plus the two case terms.
CASE_CONTEXT: list[Any] = [
    *CONTEXT,
    {"ov": OV_NAMESPACE, "ModerationCase": "ov:ModerationCase", "caseState": "ov:caseState"},
]


@dataclass(frozen=True)
class TierWeight:
    tier: str
    weight: float


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    outcome: str
    label: str
    by_admin: bool


@dataclass(frozen=True)
class PublicCase:
    """Everything the transparency page and the decision notice show about a decided case."""

    case: Case
    post_uri: str
    verdict: str
    decided_at: datetime | None
    by_admin: bool
    rule_version: str
    #: Where the numbers come from ("" when there are none).
    tally_basis: str
    threshold_base: float
    threshold_effective: float | None
    exposure: int | None
    remove_weight: float | None
    keep_weight: float | None
    remove_share: float | None
    voters: int | None
    counted_votes: int | None
    remote_domains: int | None
    weight_by_tier: list[TierWeight] = field(default_factory=list)
    reason_code: str = ""
    appeal_until: datetime | None = None
    appealed_at: datetime | None = None
    appeal_status: str = ""
    timeline: list[TimelineEntry] = field(default_factory=list)
    audit_head: str = ""
    audit_events: int = 0

    @property
    def has_tally(self) -> bool:
        return self.remove_weight is not None


def cases_decided() -> QuerySet[Case]:
    """Decided cases, most recent decision first (the transparency index)."""
    return Case.objects.filter(state__in=DECIDED_STATES).order_by("-decided_at", "-id")


def case_decided_get(*, case_id: int | str) -> Case:
    """A decided case, or NotFound (unknown ids and undecided cases look the same)."""
    try:
        return Case.objects.select_related("post").get(pk=int(case_id), state__in=DECIDED_STATES)
    except (Case.DoesNotExist, TypeError, ValueError, OverflowError) as exc:
        raise NotFound("Record not found") from exc


def case_any_get(*, case_id: int | str) -> Case:
    try:
        return Case.objects.select_related("post").get(pk=int(case_id))
    except (Case.DoesNotExist, TypeError, ValueError, OverflowError) as exc:
        raise NotFound("Record not found") from exc


def _top_reason(case: Case) -> str:
    """The most frequent reason code among the counted remove votes ("" when none)."""
    row = (
        Vote.objects.filter(counted_votes_q(), case=case, verdict=Vote.Verdict.REMOVE)
        .values("reason_code")
        .annotate(n=Count("id"))
        .order_by("-n", "reason_code")
        .first()
    )
    return row["reason_code"] if row else ""


def _appeal_status(case: Case, now: datetime) -> str:
    if case.state == Case.State.APPEALED:
        return "under review by the admins"
    if case.appealed_at is not None:
        return {
            Case.State.UPHELD: "appealed; removal upheld",
            Case.State.RESTORED: "appealed; post restored",
        }.get(case.state, "appealed")
    if case.state == Case.State.RESTORED:
        return "not appealed; restored by the admins"
    if case.appeal_until is None:
        return "not applicable"
    if case.appeal_until > now:
        return "open"
    return "not appealed; window closed"


def _tally_numbers(case: Case, decisions: list[Decision]) -> tuple[str, dict[str, Any], int, str]:
    """(basis, tally dict, exposure, rule version) of the numbers behind the outcome.

    The tally recorded with the removal, else the latest recorded one (the rule passing before
    an admin veto), else the counted votes re-evaluated at decision time.
    """
    tallied = [d for d in decisions if d.tally]
    removal = [d for d in tallied if d.outcome == Decision.Outcome.REMOVE]
    chosen = removal[-1] if removal else (tallied[-1] if tallied else None)
    if chosen is not None:
        label = chosen.get_outcome_display()
        basis = f"recorded with the decision “{label}” at {chosen.created_at:%Y-%m-%d %H:%M} UTC"
        return basis, chosen.tally, chosen.exposure, chosen.rule_version
    at = case.decided_at or case.state_changed_at
    config = selectors.rule_config()
    facts = selectors.case_facts(case=case, post=case.post, now=at)
    outcome = rule.evaluate(facts, config)
    tally = {
        k: getattr(outcome.tally, k)
        for k in (
            "remove_weight",
            "keep_weight",
            "threshold",
            "distinct_remove_voters",
            "remote_domains",
            "remove_share",
            "weight_by_tier",
            "counted_votes",
        )
    }
    basis = "recomputed from the recorded votes as of the decision (no tally was recorded)"
    return basis, tally, facts.exposure, outcome.rule_version


def case_public(case: Case, *, now: datetime | None = None) -> PublicCase:
    """The public summary of a decided case (call with a case from `case_decided_get`)."""
    now = now or timezone.now()
    decisions = list(Decision.objects.filter(case=case).order_by("created_at", "id"))
    finals = [d for d in decisions if d.outcome in FINAL_OUTCOMES]
    deciding = next((d for d in finals if d.outcome != Decision.Outcome.RESTORE), None)
    deciding = deciding or (finals[0] if finals else None)
    basis, tally, exposure, version = _tally_numbers(case, decisions)
    config = selectors.rule_config()
    by_tier = tally.get("weight_by_tier") or {}
    return PublicCase(
        case=case,
        post_uri=case.post.uri,
        verdict=VERDICTS.get(case.state, case.state),
        decided_at=case.decided_at,
        by_admin=bool(deciding and deciding.by_admin_id),
        rule_version=version or selectors.rule_version(config),
        tally_basis=basis,
        threshold_base=config.removal_threshold,
        threshold_effective=tally.get("threshold"),
        exposure=exposure,
        remove_weight=tally.get("remove_weight"),
        keep_weight=tally.get("keep_weight"),
        remove_share=tally.get("remove_share"),
        voters=tally.get("distinct_remove_voters"),
        counted_votes=tally.get("counted_votes"),
        remote_domains=tally.get("remote_domains"),
        weight_by_tier=[TierWeight(t, float(w)) for t, w in by_tier.items() if w],
        reason_code=_top_reason(case),
        appeal_until=case.appeal_until,
        appealed_at=case.appealed_at,
        appeal_status=_appeal_status(case, now),
        timeline=[
            TimelineEntry(d.created_at, d.outcome, d.get_outcome_display(), bool(d.by_admin_id))
            for d in decisions
        ],
        audit_head=audit_head(case=case),
        audit_events=case.audit_events.count(),
    )


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decision_document(public: PublicCase) -> dict[str, Any]:
    """The `ModerationDecision` notice (moderation.md §2.4) served at `links.decision_uri`."""
    case = public.case
    moderation: Account = system_actor_get(role=Account.Role.MODERATION)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": links.decision_uri(case.id),
        "type": "ModerationDecision",
        "attributedTo": moderation.uri,
        "object": public.post_uri,
        "target": links.case_uri(case.id),
        "verdict": public.verdict,
    }
    if public.reason_code:
        document["reasonCode"] = public.reason_code
    document["ruleVersion"] = public.rule_version
    if public.has_tally:
        document["tally"] = {
            "removeWeight": round(float(public.remove_weight or 0), 3),
            "keepWeight": round(float(public.keep_weight or 0), 3),
            "threshold": round(float(public.threshold_effective or 0), 3),
            "voters": int(public.voters or 0),
            "domains": int(public.remote_domains or 0),
        }
    document["published"] = _iso(public.decided_at)
    if public.appeal_until is not None:
        document["endTime"] = _iso(public.appeal_until)
    document["url"] = links.transparency_url(case.id)
    return document


def case_document(case: Case) -> dict[str, Any]:
    """The case itself (the `target` of ModerationVote): its post and state, nothing else."""
    document: dict[str, Any] = {
        "@context": CASE_CONTEXT,
        "id": links.case_uri(case.id),
        "type": "ModerationCase",
        "object": case.post.uri,
        "caseState": case.state,
        "published": _iso(case.opened_at),
    }
    if case.state in DECIDED_STATES:
        document["decision"] = links.decision_uri(case.id)
        document["url"] = links.transparency_url(case.id)
    return document
