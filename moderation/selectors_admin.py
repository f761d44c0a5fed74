"""Reads for the moderation admin (staff only: these may name voters).

Kept apart from `moderation.selectors` (voter- and public-facing reads) so nothing public can
import an identity-revealing read by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from federation.models import Instance
from moderation import rule, selectors, tally
from moderation.models import Case, Vote
from ourvoice.accounts.models import Account


@dataclass(frozen=True)
class LiveTally:
    """A case's Redis running sums next to the rule's evaluation from PostgreSQL."""

    sums: tally.Sums | None
    outcome: rule.Outcome
    exposure: int
    config: rule.RuleConfig
    at: datetime


def case_live_tally(*, case: Case, now: datetime | None = None) -> LiveTally:
    """The live numbers of a case.

    For a case still voting, the Redis sums come from `tally_current` under the case's row lock
    (a missing key is rebuilt from PostgreSQL, as a vote would); for a decided case the sums are
    only read (no key is created for it). The rule is always evaluated from PostgreSQL.
    """
    now = now or timezone.now()
    if case.state in Case.VOTING_STATES:
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            sums = tally.tally_current(locked)
    else:
        sums = tally.tally_read(case)
    config = selectors.rule_config()
    facts = selectors.case_facts(case=case, post=case.post, now=now)
    return LiveTally(
        sums=sums,
        outcome=rule.evaluate(facts, config),
        exposure=facts.exposure,
        config=config,
        at=now,
    )


def votes_voidable(
    *, voter: Account | None = None, domain: str = "", cohort: str = ""
) -> QuerySet[Vote]:
    """The votes `votes_admin_void` would void for this selector (same filters)."""
    qs = Vote.objects.filter(voided_at__isnull=True)
    if voter is not None:
        return qs.filter(voter=voter)
    if domain:
        return qs.filter(domain=domain.strip().lower())
    return qs.filter(cohort=cohort.strip())


def domain_tiers_set() -> list[tuple[str, str]]:
    """(domain, tier) of every remote domain with a tier other than the default."""
    rows = Instance.objects.exclude(moderation_tier="").order_by("domain")
    return list(rows.values_list("domain", "moderation_tier"))
