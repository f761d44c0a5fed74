"""Example tests of the pure decision rule (moderation/rule.py): no database, no Redis."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings

from moderation.rule import (
    KEEP,
    LOCAL_TIER,
    REMOVE,
    RULE_VERSION_OV_1,
    RULE_VERSION_RAW,
    CaseFacts,
    RuleConfig,
    Vote,
    VoterFacts,
    evaluate,
    exposure_threshold,
    flag_voter_id,
    iso_week,
    vote_from_facts,
    vote_weight,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
CFG = RuleConfig()
NO_CAPS = RuleConfig(domain_cap_fraction=0, cohort_cap_fraction=0)


def local_vote(
    voter: str,
    verdict: str = REMOVE,
    *,
    age_days: float = 400,
    cast_at: datetime | None = None,
    interacted: bool = True,
    config: RuleConfig = CFG,
    **extra: bool,
) -> Vote:
    facts = VoterFacts(
        is_local=True,
        first_seen_at=NOW - timedelta(days=age_days),
        prior_interaction_with_author=interacted,
    )
    return vote_from_facts(
        voter_id=voter,
        facts=facts,
        verdict=verdict,
        cast_at=cast_at or NOW - timedelta(hours=1),
        config=config,
        **extra,
    )


def remote_vote(
    voter: str,
    domain: str,
    tier: str | None = "trusted",
    verdict: str = REMOVE,
    *,
    age_days: float = 400,
    cast_at: datetime | None = None,
    interacted: bool = True,
    config: RuleConfig = CFG,
) -> Vote:
    facts = VoterFacts(
        is_local=False,
        domain=domain,
        tier=tier,
        first_seen_at=NOW - timedelta(days=age_days),
        prior_interaction_with_author=interacted,
    )
    return vote_from_facts(
        voter_id=voter,
        facts=facts,
        verdict=verdict,
        cast_at=cast_at or NOW - timedelta(hours=1),
        config=config,
    )


def locals_(n: int, verdict: str = REMOVE, *, prefix: str = "l", **kw) -> list[Vote]:
    """`n` seasoned local voters, each from a different signup week, votes an hour apart."""
    return [
        local_vote(
            f"{prefix}{i}",
            verdict,
            age_days=400 + 7 * i,
            cast_at=NOW - timedelta(hours=i + 1),
            **kw,
        )
        for i in range(n)
    ]


def decide(votes: list[Vote], config: RuleConfig = CFG, exposure: int = 0):
    return evaluate(CaseFacts(exposure=exposure, now=NOW, votes=tuple(votes)), config)


def reason_codes(outcome) -> set[str]:
    return {reason.split(":", 1)[0] for reason in outcome.reasons}


# --- weights --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("is_local", "tier", "expected"),
    [
        (True, None, 1.0),
        (False, "trusted", 1.0),
        (False, "standard", 0.5),
        (False, "new", 0.25),
        (False, "limited", 0.0),
        (False, None, 0.5),  # MODERATION_DOMAIN_TIER_DEFAULT = standard
    ],
)
@pytest.mark.parametrize(
    ("age_days", "alpha"),
    [(0, 0.0), (6.99, 0.0), (7, 7 / 30), (15, 0.5), (30, 1.0), (400, 1.0)],
)
def test_weight_is_tier_times_age_ramp(is_local, tier, expected, age_days, alpha):
    facts = VoterFacts(
        is_local=is_local,
        domain="" if is_local else "remote.example",
        tier=tier,
        first_seen_at=NOW - timedelta(days=age_days),
    )
    weight, inputs = vote_weight(facts, now=NOW, config=CFG)
    assert weight == pytest.approx(expected * alpha)
    assert inputs == {
        "tau": expected,
        "alpha": pytest.approx(alpha),
        "rho": 1.0,
        "age_days": pytest.approx(age_days),
    }


def test_default_tier_follows_the_setting():
    facts = VoterFacts(is_local=False, domain="x.example", first_seen_at=NOW - timedelta(days=90))
    assert vote_weight(facts, now=NOW, config=RuleConfig(domain_tier_default="new"))[0] == 0.25
    assert vote_weight(facts, now=NOW, config=RuleConfig(domain_tier_default="trusted"))[0] == 1


@pytest.mark.parametrize(
    ("min_age", "ramp", "age_days", "alpha"),
    [
        (7, 0, 6.9, 0.0),  # ramp 0: still nothing below the minimum age
        (7, 0, 7, 1.0),  # ramp 0: full weight once past the minimum
        (0, 30, 0, 0.0),  # no minimum: the ramp starts at zero
        (0, 30, 3, 0.1),
        (0, 0, 0, 1.0),  # both off: every account weighs its tier
        (10, 5, 10, 1.0),  # a ramp shorter than the minimum age is complete at the minimum
    ],
)
def test_age_ramp_edges(min_age, ramp, age_days, alpha):
    config = RuleConfig(min_account_age_days=min_age, age_ramp_days=ramp)
    facts = VoterFacts(is_local=True, first_seen_at=NOW - timedelta(days=age_days))
    assert vote_weight(facts, now=NOW, config=config)[0] == pytest.approx(alpha)


def test_remote_age_counts_from_first_sighting_and_is_frozen_at_cast_time():
    seen = NOW - timedelta(days=10)
    facts = VoterFacts(is_local=False, domain="b.example", tier="trusted", first_seen_at=seen)
    vote = vote_from_facts(
        voter_id="b1", facts=facts, verdict=REMOVE, cast_at=NOW - timedelta(days=5), config=CFG
    )
    # Cast at age 5 days: below the minimum age, and it stays 0 whatever `now` is later.
    assert (vote.weight, vote.alpha, vote.tau, vote.rho) == (0.0, 0.0, 1.0, 1.0)
    assert (vote.domain, vote.tier, vote.cohort) == ("b.example", "trusted", iso_week(seen))
    later = decide([vote], exposure=0)
    assert later.tally.distinct_remove_voters == 0


def test_iso_week_keys():
    assert iso_week(datetime(2024, 12, 30, tzinfo=UTC)) == "2025-W01"
    assert iso_week(datetime(2025, 6, 2, tzinfo=UTC)) == "2025-W23"
    # Converted to UTC first: 23:30 on Sunday at UTC-2 is 01:30 on Monday in UTC.
    sunday_late = datetime(2025, 6, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert iso_week(sunday_late) == "2025-W23"


# --- threshold, exposure, minimum voters ----------------------------------------------------


def test_exposure_scales_the_threshold():
    assert exposure_threshold(0, CFG) == 6.0
    assert exposure_threshold(1000, CFG) == pytest.approx(6 * (1 + math.log10(2)))
    assert exposure_threshold(9000, CFG) == pytest.approx(12.0)
    assert exposure_threshold(99_000, CFG) == pytest.approx(18.0)


def test_six_seasoned_local_voters_remove_an_unseen_post():
    outcome = decide(locals_(6))
    assert outcome.passes
    assert not outcome.held_for_review
    assert outcome.removes
    assert outcome.reasons == ()
    assert outcome.rule_version == RULE_VERSION_OV_1
    tally = outcome.tally
    assert (tally.remove_weight, tally.keep_weight, tally.threshold) == (6.0, 0.0, 6.0)
    assert tally.distinct_remove_voters == 6
    assert tally.weight_by_tier == {
        LOCAL_TIER: 6.0,
        "trusted": 0.0,
        "standard": 0.0,
        "new": 0.0,
        "limited": 0.0,
    }
    assert (tally.remote_domains, tally.remote_share, tally.remove_share) == (0, 0.0, 1.0)


def test_wider_exposure_needs_more_weight():
    assert decide(locals_(8), exposure=500).passes  # T_eff ≈ 7.06
    outcome = decide(locals_(8), exposure=9000)  # T_eff = 12
    assert not outcome.passes
    assert reason_codes(outcome) == {"threshold"}
    assert decide(locals_(12), exposure=9000).passes


def test_minimum_distinct_voters():
    config = RuleConfig(removal_threshold=2)
    outcome = decide(locals_(4), config)
    assert not outcome.passes
    assert reason_codes(outcome) == {"min_voters"}
    assert decide(locals_(5), config).passes


def test_zero_weight_voters_are_not_distinct_voters():
    young = [local_vote(f"y{i}", age_days=3) for i in range(5)]
    outcome = decide([*locals_(4), *young], RuleConfig(removal_threshold=2))
    assert outcome.tally.distinct_remove_voters == 4
    assert reason_codes(outcome) == {"min_voters"}


# --- supermajority and keep votes -----------------------------------------------------------


def test_supermajority_counts_keep_votes():
    assert decide([*locals_(10), *locals_(4, KEEP, prefix="k")]).passes  # 10/14 = 0.714
    outcome = decide([*locals_(8), *locals_(5, KEEP, prefix="k")])  # 8/13 = 0.615
    assert reason_codes(outcome) == {"supermajority"}
    assert outcome.tally.remove_share == pytest.approx(8 / 13)


def test_exactly_two_to_one_is_below_the_default_supermajority():
    # 8/12 = 0.6667 < 0.667: the default knob asks for slightly more than two to one.
    assert reason_codes(decide([*locals_(8), *locals_(4, KEEP, prefix="k")])) == {"supermajority"}
    assert decide([*locals_(8), *locals_(4, KEEP, prefix="k")], RuleConfig(supermajority=2 / 3))


def test_keep_bombing_from_one_domain_is_capped():
    bomb = [remote_vote(f"kb{i}", "shield.example", "standard", KEEP) for i in range(20)]
    outcome = decide([*locals_(10), *bomb])
    assert outcome.passes
    assert outcome.tally.keep_weight == pytest.approx(0.25 * 6)
    uncapped = decide([*locals_(10), *bomb], NO_CAPS)
    assert reason_codes(uncapped) == {"supermajority"}


# --- domain cap, remote-heavy cases, cohort cap ---------------------------------------------


def test_one_remote_domain_never_removes_alone():
    votes = [remote_vote(f"r{i}", "raid.example", age_days=400 + 7 * i) for i in range(100)]
    outcome = decide(votes)
    assert outcome.tally.remove_weight == pytest.approx(0.25 * 6)
    assert reason_codes(outcome) == {"threshold", "remote_heavy"}


def test_domain_cap_needs_four_domains_for_a_remote_only_removal():
    def from_domains(n_domains: int) -> list[Vote]:
        return [
            remote_vote(f"r{d}-{i}", f"d{d}.example", age_days=400 + 7 * (10 * d + i))
            for d in range(n_domains)
            for i in range(10)
        ]

    assert reason_codes(decide(from_domains(3))) == {"threshold"}  # 3 * 1.5 = 4.5 < 6
    outcome = decide(from_domains(5))
    assert outcome.passes
    assert outcome.tally.remove_weight == pytest.approx(7.5)
    assert outcome.tally.remote_domains == 5
    assert outcome.tally.remote_share == pytest.approx(1.0)
    assert outcome.tally.weight_by_tier["trusted"] == pytest.approx(7.5)


def test_domain_cap_and_remote_heavy_rule_switch_off_at_zero():
    votes = [remote_vote(f"r{i}", "one.example", age_days=400 + 7 * i) for i in range(20)]
    no_domain_cap = RuleConfig(domain_cap_fraction=0)
    assert reason_codes(decide(votes, no_domain_cap)) == {"remote_heavy"}
    assert decide(votes, RuleConfig(domain_cap_fraction=0, min_domains_if_remote_heavy=0)).passes


def test_remote_heavy_needs_three_domains():
    config = RuleConfig(domain_cap_fraction=0)

    def case(n_domains: int) -> list[Vote]:
        remote = [
            remote_vote(f"r{d}-{i}", f"d{d}.example", age_days=1000 + 7 * (4 * d + i))
            for d in range(n_domains)
            for i in range(4)
        ]
        return [*locals_(2), *remote]

    outcome = decide(case(2), config)  # remote 8 of 10
    assert reason_codes(outcome) == {"remote_heavy"}
    assert outcome.tally.remote_share == pytest.approx(0.8)
    assert decide(case(3), config).passes


def test_half_remote_is_not_remote_heavy():
    config = RuleConfig(domain_cap_fraction=0)
    remote = [remote_vote(f"r{i}", "d.example", age_days=1000 + 7 * i) for i in range(3)]
    outcome = decide([*locals_(3), *remote], config)
    assert outcome.tally.remote_share == 0.5
    assert outcome.passes


def test_cohort_cap_stops_batch_created_accounts():
    batch = [local_vote(f"b{i}", age_days=60 + i / 10) for i in range(20)]  # one signup week
    assert len({v.cohort for v in batch}) == 1
    outcome = decide(batch)
    assert outcome.tally.remove_weight == pytest.approx(1.5)
    assert reason_codes(outcome) == {"threshold"}
    assert decide(batch, RuleConfig(cohort_cap_fraction=0)).passes


def test_cohort_cap_uses_the_first_seen_week_of_remote_accounts():
    batch = [
        remote_vote(f"r{i}", f"d{i}.example", age_days=60 + i / 100, interacted=True)
        for i in range(20)
    ]
    outcome = decide(batch)
    assert outcome.tally.remove_weight == pytest.approx(1.5)
    assert not outcome.passes


# --- burst alarm ----------------------------------------------------------------------------


def burst(n: int, *, interacted: bool, spread: timedelta) -> list[Vote]:
    start = NOW - timedelta(hours=10)
    return [
        local_vote(
            f"b{i}",
            age_days=1000 + 7 * i,
            cast_at=start + spread * i / max(1, n - 1),
            interacted=interacted,
        )
        for i in range(n)
    ]


def test_burst_of_strangers_is_held_for_review():
    outcome = decide(burst(10, interacted=False, spread=timedelta(minutes=10)))
    assert outcome.passes
    assert outcome.held_for_review
    assert not outcome.removes
    assert reason_codes(outcome) == {"burst"}
    assert outcome.tally.burst_share == 1.0


def test_burst_from_voters_who_know_the_author_is_not_an_alarm():
    outcome = decide(burst(10, interacted=True, spread=timedelta(minutes=10)))
    assert outcome.removes
    assert outcome.tally.burst_share == 0.0


def test_votes_spread_over_hours_are_not_a_burst():
    outcome = decide(burst(10, interacted=False, spread=timedelta(hours=9)))
    assert outcome.removes
    assert outcome.tally.burst_share == pytest.approx(0.1)  # one vote per 15-minute window


def test_burst_window_is_fifteen_minutes_inclusive():
    six = burst(6, interacted=False, spread=timedelta(minutes=15))
    assert decide(six).tally.burst_share == 1.0
    wider = burst(6, interacted=False, spread=timedelta(minutes=15, seconds=5))
    assert decide(wider).tally.burst_share == pytest.approx(5 / 6)


def test_burst_share_reaching_the_fraction_holds():
    votes = [
        *burst(6, interacted=False, spread=timedelta(minutes=5)),
        *locals_(4, prefix="k", interacted=True),
    ]
    assert decide(votes).tally.burst_share == pytest.approx(0.6)
    assert decide(votes).held_for_review


def test_burst_alarm_switches_off_at_zero_and_never_holds_a_failing_case():
    votes = burst(10, interacted=False, spread=timedelta(minutes=1))
    assert decide(votes, RuleConfig(burst_fraction=0)).removes
    failing = decide(votes[:4])
    assert not failing.passes
    assert not failing.held_for_review
    assert failing.tally.burst_share == 1.0


# --- what counts ----------------------------------------------------------------------------


def test_votes_not_counted_are_ignored():
    late = [local_vote(f"x{i}", age_days=400 + 7 * i, counts=False) for i in range(10)]
    outcome = decide(late)
    assert not outcome.passes
    assert outcome.tally.counted_votes == 0
    assert decide([*locals_(6), *late]) == decide(locals_(6))


def test_aged_out_votes_are_ignored():
    old = [
        local_vote(f"o{i}", age_days=400 + 7 * i, cast_at=NOW - timedelta(days=14, seconds=1))
        for i in range(10)
    ]
    assert decide(old).tally.counted_votes == 0
    recent = [
        local_vote(f"o{i}", age_days=400 + 7 * i, cast_at=NOW - timedelta(days=14))
        for i in range(10)
    ]
    assert decide(recent).passes
    assert decide(old, RuleConfig(vote_ttl_days=0)).passes  # 0 disables ageing


def test_votes_cast_after_now_are_not_counted_yet():
    future = [
        local_vote(f"f{i}", age_days=400 + 7 * i, cast_at=NOW + timedelta(minutes=1))
        for i in range(10)
    ]
    assert decide(future).tally.counted_votes == 0


def test_votes_on_an_older_version_count_half():
    stale = [
        local_vote(f"s{i}", age_days=400 + 7 * i, content_version_current=False) for i in range(6)
    ]
    outcome = decide(stale)
    assert outcome.tally.remove_weight == 3.0
    assert reason_codes(outcome) == {"threshold"}
    assert outcome.tally.distinct_remove_voters == 6
    assert decide([*stale, *locals_(3)]).tally.remove_weight == 6.0


def test_latest_vote_of_a_voter_counts_once():
    first = local_vote("same", cast_at=NOW - timedelta(hours=3))
    again = local_vote("same", cast_at=NOW - timedelta(hours=2))
    assert decide([first, again]).tally.distinct_remove_voters == 1
    changed = local_vote("same", KEEP, cast_at=NOW - timedelta(hours=1))
    tally = decide([again, changed, first]).tally
    assert (tally.remove_weight, tally.keep_weight) == (0.0, 1.0)


def test_a_flag_is_one_domain_level_voter_sharing_the_domain_cap():
    assert flag_voter_id("Mastodon.Example") == "domain:mastodon.example"
    flag = remote_vote(flag_voter_id("masto.example"), "masto.example", "standard")
    users = [remote_vote(f"m{i}", "masto.example", "standard") for i in range(10)]
    outcome = decide([flag, *users])
    assert outcome.tally.distinct_remove_voters == 11
    assert outcome.tally.remote_domains == 1
    assert outcome.tally.remove_weight == pytest.approx(1.5)
    alone = decide([flag]).tally
    assert (alone.remove_weight, alone.distinct_remove_voters) == (0.5, 1)


# --- raw rule -------------------------------------------------------------------------------


def test_raw_rule_is_a_plain_count():
    config = RuleConfig(rule="raw", removal_threshold=10)
    # Too young, one limited domain, one cohort, one minute: raw sees ten votes.
    votes = [
        remote_vote(
            f"r{i}",
            "raid.example",
            "limited",
            age_days=1,
            cast_at=NOW - timedelta(seconds=i),
            interacted=False,
        )
        for i in range(10)
    ]
    keeps = locals_(100, KEEP, prefix="k")
    outcome = decide([*votes, *keeps], config, exposure=100_000)
    assert outcome.passes
    assert outcome.removes
    assert outcome.rule_version == RULE_VERSION_RAW
    assert outcome.tally.remove_weight == 10.0
    assert outcome.tally.keep_weight == 100.0
    assert outcome.tally.threshold == 10.0
    assert outcome.tally.remote_domains == 1
    assert outcome.tally.weight_by_tier["limited"] == 10.0
    nine = decide(votes[:9], config)
    assert not nine.passes
    assert nine.reasons == ("threshold: 9 remove votes, 10 needed",)


def test_raw_rule_still_ignores_uncounted_and_aged_out_votes():
    config = RuleConfig(rule="raw", removal_threshold=3)
    votes = [
        local_vote("a", counts=False),
        local_vote("b", cast_at=NOW - timedelta(days=20)),
        local_vote("c"),
        local_vote("d"),
    ]
    assert decide(votes, config).tally.distinct_remove_voters == 2


# --- determinism, configuration -------------------------------------------------------------


def test_same_input_same_output():
    votes = [*locals_(7), *locals_(2, KEEP, prefix="k"), remote_vote("r", "a.example")]
    assert decide(votes, exposure=777) == decide(list(votes), exposure=777)
    assert decide(votes, exposure=777) == decide(votes[::-1], exposure=777)


def test_config_from_django_settings():
    config = RuleConfig.from_settings(django_settings)
    assert config.rule == django_settings.MODERATION_RULE
    assert config.removal_threshold == django_settings.MODERATION_REMOVAL_THRESHOLD
    assert config.min_distinct_voters == django_settings.MODERATION_MIN_DISTINCT_VOTERS
    assert config.supermajority == django_settings.MODERATION_SUPERMAJORITY
    assert config.exposure_ref == django_settings.MODERATION_EXPOSURE_REF
    assert config.age_ramp_days == django_settings.MODERATION_AGE_RAMP_DAYS
    assert config.domain_cap_fraction == django_settings.MODERATION_DOMAIN_CAP_FRACTION
    assert config.burst_fraction == django_settings.MODERATION_BURST_FRACTION
    assert config.vote_ttl_days == django_settings.MODERATION_VOTE_TTL_DAYS
    assert config.domain_tier_default == django_settings.MODERATION_DOMAIN_TIER_DEFAULT
    assert dict(config.tier_weights) == {"trusted": 1.0, "standard": 0.5, "new": 0.25, "limited": 0}


def test_config_from_settings_overrides_and_defaults():
    config = RuleConfig.from_settings(
        SimpleNamespace(MODERATION_RULE="raw", MODERATION_REMOVAL_THRESHOLD=10.0)
    )
    assert (config.rule, config.removal_threshold) == ("raw", 10.0)
    assert config == RuleConfig(rule="raw", removal_threshold=10.0)
    assert RuleConfig.from_settings(SimpleNamespace()) == RuleConfig()


def test_defaults_match_decisions_md():
    assert RuleConfig() == RuleConfig(
        rule="weighted",
        removal_threshold=6.0,
        min_distinct_voters=5,
        supermajority=0.667,
        exposure_ref=1000,
        min_account_age_days=7,
        age_ramp_days=30,
        domain_cap_fraction=0.25,
        cohort_cap_fraction=0.25,
        min_domains_if_remote_heavy=3,
        domain_tier_default="standard",
        grace_seconds=600,
        vote_ttl_days=14,
        case_max_days=30,
        votes_per_day=20,
        burst_fraction=0.6,
        appeal_days=14,
        local_weight=1.0,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rule": "bridged"},
        {"supermajority": 1.5},
        {"removal_threshold": -1},
        {"exposure_ref": 0},
        {"domain_cap_fraction": float("nan")},
        {"domain_tier_default": "unknown"},
        {"tier_weights": {"trusted": 1.0, "standard": -0.5}},
    ],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        RuleConfig(**kwargs)


def test_bad_votes_and_facts_are_refused():
    with pytest.raises(ValueError, match="verdict"):
        Vote(voter_id="a", verdict="maybe", weight=1.0, cast_at=NOW)
    with pytest.raises(ValueError, match="aware"):
        Vote(voter_id="a", verdict=REMOVE, weight=1.0, cast_at=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="local"):
        Vote(voter_id="a", verdict=REMOVE, weight=1.0, cast_at=NOW, domain="x.example")
    with pytest.raises(ValueError, match="weight"):
        Vote(voter_id="a", verdict=REMOVE, weight=-1.0, cast_at=NOW)
    with pytest.raises(ValueError, match="domain"):
        VoterFacts(is_local=False, first_seen_at=NOW)
    with pytest.raises(ValueError, match="local"):
        VoterFacts(is_local=True, domain="x.example", first_seen_at=NOW)
    facts = VoterFacts(is_local=False, domain="x.example", tier="bogus", first_seen_at=NOW)
    with pytest.raises(ValueError, match="tier"):
        vote_weight(facts, now=NOW, config=CFG)
    with pytest.raises(ValueError, match="exposure"):
        CaseFacts(exposure=-1, now=NOW)
