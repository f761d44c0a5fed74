"""The community-moderation decision rule: a pure, pluggable module (`ov-rule/1` and `raw`).

Pure means: no Django models, no database, no Redis, no clock and no global settings. The caller
(the vote and case services, the Redis-rebuild command, `bench/moderation_sim.py`) builds a
`RuleConfig` once with `RuleConfig.from_settings(django.conf.settings)`, freezes each vote's
weight at cast time with `vote_weight` (or `vote_from_facts`), and asks `evaluate` about a
`CaseFacts` snapshot. The same input always gives the same `Outcome`, whatever the order of the
votes, so a tally rebuilt from PostgreSQL decides exactly as the live one did.

The rule (decisions.md, "Community moderation" and "Moderation knobs"; moderation.md §3.1-3.2):

- weight, frozen at cast time: ``w = tau * alpha * rho``; tau = 1.0 for a local voter, else the
  domain tier's weight (trusted 1.0, standard 0.5, new 0.25, limited 0); alpha = 0 below
  ``MODERATION_MIN_ACCOUNT_AGE_DAYS`` (0 disables the minimum), else ``min(1, age / ramp)``
  (``MODERATION_AGE_RAMP_DAYS``; ramp 0 gives alpha = 1); age counts from account creation (local)
  or from when this server first saw the actor (remote: ``published`` is set by the attacker);
  rho (track record) is 1 until appeals feed it.
- a vote counts when ``counts`` is true (the caller marks late, own-post, over-quota and
  ineligible votes false and keeps them for the record), it was cast no later than ``now`` and
  no earlier than ``now - MODERATION_VOTE_TTL_DAYS`` (0 disables ageing); at most one vote per
  voter counts (the latest); a vote pinned to an older content version counts half.
- ``T_eff = T · (1 + log10(1 + E / E0))``.
- caps, on the remove side and the keep side alike ("keep-bombing", moderation.md §4): each
  remote domain adds at most ``MODERATION_DOMAIN_CAP_FRACTION · T_eff`` (its votes are scaled
  down proportionally), then each signup-week cohort (first-seen week for remote accounts) at
  most ``MODERATION_COHORT_CAP_FRACTION · T_eff``; 0 disables a cap. Local voters have no
  domain cap.
- passes iff ``S_R ≥ T_eff``, ``N_R ≥ MODERATION_MIN_DISTINCT_VOTERS`` (remove voters with
  weight > 0), ``S_R / (S_R + S_K) ≥ MODERATION_SUPERMAJORITY``, and remote weight ≤ 50 % of
  ``S_R`` or at least ``MODERATION_MIN_DOMAINS_IF_REMOTE_HEAVY`` remote domains among the remove
  voters (0 disables).
- burst alarm: a passing case is held for review (``held_for_review``; the caller must hold, not
  remove) when ``MODERATION_BURST_FRACTION`` > 0 and the share of ``S_R`` cast within one
  15-minute window by voters with no interaction with the author in 90 days reaches it.

`raw` (``MODERATION_RULE=raw``, kept for comparison) passes when the number of counted remove
votes reaches T: no weights, ramp, caps, exposure or keep votes; same `Outcome` shape.

A ``Flag`` from non-OUR-Voice software counts as ONE voter for its domain: the caller passes it
as one `Vote` with ``voter_id = flag_voter_id(host)`` (``"domain:<host>"``), weighed with the
domain's tier and the age of our first sighting of the domain; it shares the domain cap with the
domain's individual voters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

RULE_VERSION_OV_1 = "ov-rule/1"
RULE_VERSION_RAW = "raw"

REMOVE: Literal["remove"] = "remove"
KEEP: Literal["keep"] = "keep"
Verdict = Literal["remove", "keep"]

#: Tier label of a local voter (tau = `RuleConfig.local_weight`).
LOCAL_TIER = "local"
DEFAULT_TIER_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"trusted": 1.0, "standard": 0.5, "new": 0.25, "limited": 0.0}
)
#: The burst alarm looks at remove weight cast within any window this long.
BURST_WINDOW = timedelta(minutes=15)
#: A vote pinned to an older content version counts this much (moderation.md §3.3).
STALE_VERSION_FACTOR = 0.5
#: A remove side is "remote-heavy" when remote weight exceeds this share of S_R.
REMOTE_HEAVY_SHARE = 0.5

_DAY_SECONDS = 86_400.0


def iso_week(moment: datetime) -> str:
    """The ISO year-week key ("2025-W07") of an aware datetime, in UTC: a signup cohort."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def flag_voter_id(host: str) -> str:
    """The voter id of a `Flag` from another server: one domain-level voter per host."""
    return f"domain:{host.lower()}"


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True, kw_only=True)
class RuleConfig:
    """Every `MODERATION_*` knob of decisions.md, with the same names (lowercase) and defaults.

    Build it from Django settings with `RuleConfig.from_settings(settings)`; tests and the
    simulation build it directly. `tier_weights` and `local_weight` are not env knobs (per-domain
    tiers live in the DB; their weights are fixed by decisions.md).
    """

    rule: str = "weighted"
    removal_threshold: float = 6.0
    min_distinct_voters: int = 5
    supermajority: float = 0.667
    exposure_ref: int = 1000
    min_account_age_days: float = 7.0
    age_ramp_days: float = 30.0
    domain_cap_fraction: float = 0.25
    cohort_cap_fraction: float = 0.25
    min_domains_if_remote_heavy: int = 3
    domain_tier_default: str = "standard"
    grace_seconds: int = 600
    vote_ttl_days: int = 14
    case_max_days: int = 30
    votes_per_day: int = 20
    burst_fraction: float = 0.6
    appeal_days: int = 14
    tier_weights: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TIER_WEIGHTS)
    local_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, not {self.rule!r}")
        non_negative = (
            "removal_threshold",
            "min_distinct_voters",
            "min_account_age_days",
            "age_ramp_days",
            "domain_cap_fraction",
            "cohort_cap_fraction",
            "min_domains_if_remote_heavy",
            "grace_seconds",
            "vote_ttl_days",
            "case_max_days",
            "votes_per_day",
            "burst_fraction",
            "appeal_days",
            "local_weight",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if not 0 <= self.supermajority <= 1:
            raise ValueError("supermajority must be between 0 and 1")
        if not self.exposure_ref > 0:
            raise ValueError("exposure_ref must be > 0")
        weights = dict(self.tier_weights)
        if LOCAL_TIER in weights:
            raise ValueError(f"{LOCAL_TIER!r} is not a domain tier")
        if any(not (math.isfinite(w) and w >= 0) for w in weights.values()):
            raise ValueError("tier weights must be finite numbers >= 0")
        if self.domain_tier_default not in weights:
            raise ValueError(f"domain_tier_default {self.domain_tier_default!r} has no weight")
        object.__setattr__(self, "tier_weights", MappingProxyType(weights))

    @classmethod
    def from_settings(cls, settings: Any) -> RuleConfig:
        """Read `MODERATION_<FIELD>` from a settings object (django.conf.settings or any object).

        A knob the settings object does not define keeps its default.
        """
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"MODERATION_{f.name.upper()}"
            if hasattr(settings, name):
                values[f.name] = getattr(settings, name)
        return cls(**values)

    def tier_weight(self, tier: str) -> float:
        """tau of a tier label (`LOCAL_TIER` or a domain tier)."""
        if tier == LOCAL_TIER:
            return self.local_weight
        try:
            return self.tier_weights[tier]
        except KeyError:
            raise ValueError(f"unknown domain tier {tier!r}") from None


@dataclass(frozen=True, kw_only=True)
class VoterFacts:
    """What the caller knows about a voter when the vote is cast.

    `first_seen_at` is the account's `created_at` for a local voter and the moment this server
    first saw the actor for a remote one. `tier` is the remote domain's tier (None: the
    configured default). `prior_interaction_with_author`: any reply, like, boost, mention or
    follow between voter and author in the last 90 days (the caller looks it up).
    """

    is_local: bool
    first_seen_at: datetime
    domain: str = ""
    tier: str | None = None
    prior_interaction_with_author: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.first_seen_at, "first_seen_at")
        if self.is_local and (self.domain or self.tier is not None):
            raise ValueError("a local voter has no domain and no tier")
        if not self.is_local and not self.domain:
            raise ValueError("a remote voter needs its domain")

    @property
    def signup_week(self) -> str:
        """The cohort key: ISO week of creation (local) or first sighting (remote)."""
        return iso_week(self.first_seen_at)

    def tier_label(self, config: RuleConfig) -> str:
        if self.is_local:
            return LOCAL_TIER
        return self.tier if self.tier is not None else config.domain_tier_default


def age_factor(age_days: float, config: RuleConfig) -> float:
    """alpha: 0 below the minimum age (0 disables it), then min(1, age/ramp); ramp 0 gives 1."""
    if config.min_account_age_days > 0 and age_days < config.min_account_age_days:
        return 0.0
    if config.age_ramp_days == 0:
        return 1.0
    return min(1.0, max(0.0, age_days) / config.age_ramp_days)


def vote_weight(
    facts: VoterFacts, *, now: datetime, config: RuleConfig
) -> tuple[float, dict[str, float]]:
    """The weight of a vote cast at `now`, and its inputs (to be frozen with the vote).

    Returns `(w, {"tau": tau, "alpha": alpha, "rho": rho, "age_days": age})` with w = tau*alpha*rho.
    """
    _require_aware(now, "now")
    age_days = max(0.0, (now - facts.first_seen_at).total_seconds() / _DAY_SECONDS)
    tau = config.tier_weight(facts.tier_label(config))
    alpha = age_factor(age_days, config)
    rho = 1.0  # track record: 1 until appeal outcomes feed it (moderation.md §3.1)
    return tau * alpha * rho, {"tau": tau, "alpha": alpha, "rho": rho, "age_days": age_days}


@dataclass(frozen=True, kw_only=True)
class Vote:
    """One vote on a case as the rule sees it, with its weight frozen at cast time.

    `domain` is "" for a local voter (then `tier` is `LOCAL_TIER`); `cohort` is the voter's
    signup week. `counts` is False for a vote recorded but not counted (late, own post, over
    quota, ineligible). `content_version_current` is False when the voter saw an older version
    of the post (the vote then counts half). `prior_interaction` feeds the burst alarm.
    """

    voter_id: str
    verdict: Verdict
    weight: float
    cast_at: datetime
    tier: str = LOCAL_TIER
    tau: float = 1.0
    alpha: float = 1.0
    rho: float = 1.0
    domain: str = ""
    cohort: str = ""
    counts: bool = True
    content_version_current: bool = True
    prior_interaction: bool = False

    def __post_init__(self) -> None:
        if self.verdict not in (REMOVE, KEEP):
            raise ValueError(f"verdict must be 'remove' or 'keep', not {self.verdict!r}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError("weight must be a finite number >= 0")
        if (self.domain == "") != (self.tier == LOCAL_TIER):
            raise ValueError("a local vote has no domain and tier 'local'; a remote one has both")
        _require_aware(self.cast_at, "cast_at")

    @property
    def is_local(self) -> bool:
        return not self.domain

    def sort_key(self) -> tuple[Any, ...]:
        """A total order used to make evaluation independent of the input order."""
        return (
            self.voter_id,
            self.cast_at,
            self.verdict,
            self.weight,
            self.tier,
            self.tau,
            self.alpha,
            self.rho,
            self.domain,
            self.cohort,
            self.counts,
            self.content_version_current,
            self.prior_interaction,
        )


def vote_from_facts(
    *,
    voter_id: str,
    facts: VoterFacts,
    verdict: Verdict,
    cast_at: datetime,
    config: RuleConfig,
    counts: bool = True,
    content_version_current: bool = True,
) -> Vote:
    """A `Vote` cast at `cast_at` with its weight and inputs frozen from `facts`."""
    weight, inputs = vote_weight(facts, now=cast_at, config=config)
    return Vote(
        voter_id=voter_id,
        verdict=verdict,
        weight=weight,
        cast_at=cast_at,
        tier=facts.tier_label(config),
        tau=inputs["tau"],
        alpha=inputs["alpha"],
        rho=inputs["rho"],
        domain=facts.domain,
        cohort=facts.signup_week,
        counts=counts,
        content_version_current=content_version_current,
        prior_interaction=facts.prior_interaction_with_author,
    )


@dataclass(frozen=True, kw_only=True)
class CaseFacts:
    """A case at decision time `now`: exposure E and every vote recorded so far.

    E = the author's followers at decision time + distinct accounts that replied, liked or
    boosted the post.
    """

    exposure: int
    now: datetime
    votes: tuple[Vote, ...] = ()

    def __post_init__(self) -> None:
        if self.exposure < 0:
            raise ValueError("exposure must be >= 0")
        _require_aware(self.now, "now")
        object.__setattr__(self, "votes", tuple(self.votes))


@dataclass(frozen=True, kw_only=True)
class Tally:
    """The numbers behind an outcome (the public case page shows them, never voter identities).

    Weights are after caps; for `raw` they are vote counts. `weight_by_tier` splits the remove
    weight by voter tier; `remote_share` is the remote part of it; `burst_share` the largest
    share of it cast within 15 minutes by voters without prior interaction with the author.
    """

    remove_weight: float
    keep_weight: float
    threshold: float
    distinct_remove_voters: int
    remote_domains: int
    remote_share: float
    remove_share: float
    weight_by_tier: dict[str, float]
    burst_share: float
    counted_votes: int


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The rule's answer. Remove only when `passes` and not `held_for_review`."""

    passes: bool
    held_for_review: bool
    reasons: tuple[str, ...]
    rule_version: str
    tally: Tally

    @property
    def removes(self) -> bool:
        return self.passes and not self.held_for_review


def exposure_threshold(exposure: int, config: RuleConfig) -> float:
    """T_eff = T · (1 + log10(1 + E / E0))."""
    return config.removal_threshold * (1.0 + math.log10(1.0 + exposure / config.exposure_ref))


def counted_votes(case: CaseFacts, config: RuleConfig) -> list[Vote]:
    """The votes that count at `case.now`, one per voter (the latest), in a canonical order."""
    oldest = case.now - timedelta(days=config.vote_ttl_days) if config.vote_ttl_days > 0 else None
    latest: dict[str, Vote] = {}
    for vote in sorted(case.votes, key=Vote.sort_key):
        if not vote.counts or vote.cast_at > case.now:
            continue
        if oldest is not None and vote.cast_at < oldest:
            continue
        latest[vote.voter_id] = vote  # sorted by (voter, cast_at, ...): the last one wins
    return sorted(latest.values(), key=Vote.sort_key)


def _cap(keys: list[str], weights: list[float], cap: float) -> list[float]:
    """Scale the weights of each group (key "" is never capped) down to a sum of at most `cap`."""
    totals: dict[str, list[float]] = defaultdict(list)
    for key, weight in zip(keys, weights, strict=True):
        if key:
            totals[key].append(weight)
    sums = {key: math.fsum(values) for key, values in totals.items()}
    return [
        weight * (cap / sums[key]) if key and sums[key] > cap else weight
        for key, weight in zip(keys, weights, strict=True)
    ]


def capped_weights(votes: list[Vote], *, threshold: float, config: RuleConfig) -> list[float]:
    """Per-vote weights after the stale-version factor, the domain cap and the cohort cap.

    Call it for one side (remove or keep) at a time: caps bound each side separately.
    """
    weights = [
        v.weight * (1.0 if v.content_version_current else STALE_VERSION_FACTOR) for v in votes
    ]
    if config.domain_cap_fraction > 0:
        weights = _cap([v.domain for v in votes], weights, config.domain_cap_fraction * threshold)
    if config.cohort_cap_fraction > 0:
        # Every vote is in a cohort; "" would mean "uncapped", so prefix the keys.
        keys = [f"c:{v.cohort}" for v in votes]
        weights = _cap(keys, weights, config.cohort_cap_fraction * threshold)
    return weights


def _burst_share(votes: list[Vote], weights: list[float], total: float) -> float:
    """Largest share of `total` cast within one BURST_WINDOW by voters without prior interaction."""
    if total <= 0:
        return 0.0
    timed = sorted(
        ((v.cast_at, w) for v, w in zip(votes, weights, strict=True) if not v.prior_interaction),
        key=lambda item: item[0],
    )
    # Two pointers over votes sorted by time (ties keep the canonical order, so the float sums
    # are deterministic): the window [timed[start], timed[end]] spans at most BURST_WINDOW.
    best = running = 0.0
    start = 0
    for cast_at, weight in timed:
        running += weight
        while cast_at - timed[start][0] > BURST_WINDOW:
            running -= timed[start][1]
            start += 1
        best = max(best, running)
    return min(1.0, best / total)


def _by_tier(
    votes: Iterable[Vote], weights: Iterable[float], config: RuleConfig
) -> dict[str, float]:
    by_tier: dict[str, list[float]] = {LOCAL_TIER: [], **{t: [] for t in config.tier_weights}}
    for vote, weight in zip(votes, weights, strict=True):
        by_tier.setdefault(vote.tier, []).append(weight)
    return {tier: math.fsum(values) for tier, values in by_tier.items()}


def evaluate_ov_rule_1(case: CaseFacts, config: RuleConfig) -> Outcome:
    """`ov-rule/1`: weighted votes, caps, minimum voters, supermajority, burst alarm."""
    votes = counted_votes(case, config)
    removes = [v for v in votes if v.verdict == REMOVE]
    keeps = [v for v in votes if v.verdict == KEEP]
    threshold = exposure_threshold(case.exposure, config)
    remove_w = capped_weights(removes, threshold=threshold, config=config)
    keep_w = capped_weights(keeps, threshold=threshold, config=config)
    s_r, s_k = math.fsum(remove_w), math.fsum(keep_w)
    positive = [v for v in removes if v.weight > 0]
    n_r = len(positive)
    domains = {v.domain for v in positive if v.domain}
    remote_w = math.fsum(w for v, w in zip(removes, remove_w, strict=True) if v.domain)
    share = s_r / (s_r + s_k) if s_r + s_k > 0 else 0.0
    burst = _burst_share(removes, remove_w, s_r)

    reasons: list[str] = []
    if s_r < threshold:
        reasons.append(f"threshold: remove weight {s_r:.2f} is below the threshold {threshold:.2f}")
    if n_r < config.min_distinct_voters:
        reasons.append(
            f"min_voters: {n_r} distinct remove voters, {config.min_distinct_voters} needed"
        )
    if share < config.supermajority:
        reasons.append(
            f"supermajority: remove share {share:.3f} is below {config.supermajority:.3f}"
        )
    min_domains = config.min_domains_if_remote_heavy
    if min_domains > 0 and remote_w > REMOTE_HEAVY_SHARE * s_r and len(domains) < min_domains:
        reasons.append(
            f"remote_heavy: remote voters hold {remote_w / s_r:.0%} of the remove weight "
            f"from {len(domains)} domains, {min_domains} needed"
        )
    passes = not reasons
    held = passes and config.burst_fraction > 0 and burst >= config.burst_fraction
    if held:
        reasons.append(
            f"burst: {burst:.0%} of the remove weight arrived within 15 minutes from voters "
            f"without prior interaction with the author (alarm at {config.burst_fraction:.0%})"
        )
    return Outcome(
        passes=passes,
        held_for_review=held,
        reasons=tuple(reasons),
        rule_version=RULE_VERSION_OV_1,
        tally=Tally(
            remove_weight=s_r,
            keep_weight=s_k,
            threshold=threshold,
            distinct_remove_voters=n_r,
            remote_domains=len(domains),
            remote_share=remote_w / s_r if s_r > 0 else 0.0,
            remove_share=share,
            weight_by_tier=_by_tier(removes, remove_w, config),
            burst_share=burst,
            counted_votes=len(votes),
        ),
    )


def evaluate_raw(case: CaseFacts, config: RuleConfig) -> Outcome:
    """`raw`: the number of counted remove votes reaches T. No weights, caps or exposure.

    Vote ageing, `counts` and one vote per voter still apply: they are lifecycle rules.
    """
    votes = counted_votes(case, config)
    removes = [v for v in votes if v.verdict == REMOVE]
    n_r, n_k = len(removes), len(votes) - len(removes)
    remote = [v for v in removes if v.domain]
    threshold = config.removal_threshold
    passes = n_r >= threshold
    reasons = () if passes else (f"threshold: {n_r} remove votes, {threshold:g} needed",)
    return Outcome(
        passes=passes,
        held_for_review=False,
        reasons=reasons,
        rule_version=RULE_VERSION_RAW,
        tally=Tally(
            remove_weight=float(n_r),
            keep_weight=float(n_k),
            threshold=float(threshold),
            distinct_remove_voters=n_r,
            remote_domains=len({v.domain for v in remote}),
            remote_share=len(remote) / n_r if n_r else 0.0,
            remove_share=n_r / len(votes) if votes else 0.0,
            weight_by_tier=_by_tier(removes, [1.0] * n_r, config),
            burst_share=0.0,
            counted_votes=len(votes),
        ),
    )


#: `MODERATION_RULE` value → rule. A later rule (e.g. "bridged") is one more entry here.
RULES: Mapping[str, Callable[[CaseFacts, RuleConfig], Outcome]] = MappingProxyType(
    {"weighted": evaluate_ov_rule_1, "raw": evaluate_raw}
)


def evaluate(case: CaseFacts, config: RuleConfig) -> Outcome:
    """Decide `case` with the rule `config.rule` names. Pure and deterministic."""
    return RULES[config.rule](case, config)
