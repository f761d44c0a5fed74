"""Property-based tests (hypothesis) of the pure decision rule (moderation/rule.py)."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from moderation.rule import (
    KEEP,
    REMOVE,
    CaseFacts,
    RuleConfig,
    VoterFacts,
    age_factor,
    capped_weights,
    counted_votes,
    evaluate,
    exposure_threshold,
    flag_voter_id,
    vote_from_facts,
    vote_weight,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
DOMAINS = ("a.example", "b.example", "c.example", "d.example", "e.example", "f.example")
TIERS = ("trusted", "standard", "new", "limited")
EPS = 1e-9
DEFAULT = RuleConfig()
ANY_TIER = st.sampled_from((*TIERS, None))
VOTER_IDS = st.sampled_from([f"v{i}" for i in range(40)])

#: Applied to every test here (not a global profile: other test modules keep their settings).
RULE_SETTINGS = settings(deadline=None, max_examples=100, derandomize=True)


@st.composite
def voter_facts(draw, *, local=None, domain=None, tiers=None):
    is_local = draw(st.booleans()) if local is None else local
    return VoterFacts(
        is_local=is_local,
        domain="" if is_local else (domain or draw(st.sampled_from(DOMAINS))),
        tier=None if is_local else draw(ANY_TIER if tiers is None else tiers),
        first_seen_at=NOW - timedelta(days=draw(st.floats(0, 800))),
        prior_interaction_with_author=draw(st.booleans()),
    )


@st.composite
def votes(draw, *, facts=None, verdict=None, ids=None, counts=None):
    """A vote cast within the last 20 days (or slightly in the future) by a drawn voter."""
    voter_id = draw(VOTER_IDS if ids is None else ids)
    return vote_from_facts(
        voter_id=voter_id,
        facts=draw(voter_facts() if facts is None else facts),
        verdict=verdict or draw(st.sampled_from((REMOVE, KEEP))),
        cast_at=NOW - timedelta(minutes=draw(st.integers(-30, 20 * 1440))),
        config=DEFAULT,
        counts=draw(st.booleans()) if counts is None else counts,
        content_version_current=draw(st.booleans()),
    )


exposures = st.integers(0, 200_000)
configs = st.builds(
    RuleConfig,
    rule=st.sampled_from(("weighted", "raw")),
    removal_threshold=st.floats(0.5, 20),
    min_distinct_voters=st.integers(0, 10),
    supermajority=st.floats(0, 1),
    domain_cap_fraction=st.sampled_from((0, 0.1, 0.25, 0.5, 0.99)),
    cohort_cap_fraction=st.sampled_from((0, 0.1, 0.25, 0.5, 0.99)),
    min_domains_if_remote_heavy=st.integers(0, 4),
    burst_fraction=st.sampled_from((0, 0.3, 0.6, 1.0)),
    vote_ttl_days=st.sampled_from((0, 1, 14)),
)


def case(vote_list, exposure=0, now=NOW):
    return CaseFacts(exposure=exposure, now=now, votes=tuple(vote_list))


# --- weights --------------------------------------------------------------------------------


@RULE_SETTINGS
@given(facts=voter_facts(), config=configs)
def test_weight_is_bounded_by_the_tier_weight(facts, config):
    weight, inputs = vote_weight(facts, now=NOW, config=config)
    assert 0 <= weight <= inputs["tau"] <= 1
    assert 0 <= inputs["alpha"] <= 1
    assert inputs["rho"] == 1.0
    assert weight == inputs["tau"] * inputs["alpha"] * inputs["rho"]


@RULE_SETTINGS
@given(
    a=st.floats(0, 1000),
    b=st.floats(0, 1000),
    min_age=st.sampled_from((0, 3, 7, 30)),
    ramp=st.sampled_from((0, 1, 30, 90)),
)
def test_age_factor_is_a_monotone_ramp(a, b, min_age, ramp):
    config = RuleConfig(min_account_age_days=min_age, age_ramp_days=ramp)
    low, high = sorted((a, b))
    assert age_factor(low, config) <= age_factor(high, config)
    if min_age and low < min_age:
        assert age_factor(low, config) == 0
    if high >= max(min_age, ramp):
        assert age_factor(high, config) == 1


# --- invariance: order, determinism, votes that do not count -------------------------------


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=30), exposure=exposures, config=configs, data=st.data())
def test_order_of_votes_does_not_matter(vote_list, exposure, config, data):
    shuffled = data.draw(st.permutations(vote_list))
    assert evaluate(case(vote_list, exposure), config) == evaluate(case(shuffled, exposure), config)


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=30), exposure=exposures, config=configs)
def test_same_input_same_output(vote_list, exposure, config):
    first = evaluate(case(vote_list, exposure), config)
    assert first == evaluate(case(list(vote_list), exposure), config)
    assert first.held_for_review <= first.passes  # held only ever applies to a passing case


@RULE_SETTINGS
@given(
    base=st.lists(votes(), max_size=25),
    uncounted=st.lists(votes(counts=False), max_size=25),
    exposure=exposures,
    config=configs,
)
def test_votes_not_counted_never_change_the_outcome(base, uncounted, exposure, config):
    # Uncounted votes may even share voter ids with counted ones (a late change of mind).
    assert evaluate(case([*base, *uncounted], exposure), config) == evaluate(
        case(base, exposure), config
    )


@RULE_SETTINGS
@given(
    base=st.lists(votes(), max_size=25),
    extra=st.lists(votes(), max_size=10),
    days_late=st.floats(0.001, 60),
    exposure=exposures,
)
def test_aged_out_and_future_votes_never_change_the_outcome(base, extra, days_late, exposure):
    config = RuleConfig()
    ttl = timedelta(days=config.vote_ttl_days)
    aged = [replace(v, cast_at=NOW - ttl - timedelta(days=days_late)) for v in extra]
    future = [replace(v, cast_at=NOW + timedelta(days=days_late)) for v in extra]
    expected = evaluate(case(base, exposure), config)
    assert evaluate(case([*base, *aged], exposure), config) == expected
    assert evaluate(case([*base, *future], exposure), config) == expected


# --- caps -----------------------------------------------------------------------------------


@st.composite
def one_domain_brigade(draw):
    """1-300 remove votes from one domain (any tier, ages, cohorts, timing) plus its Flag."""
    domain = draw(st.sampled_from(DOMAINS))
    tier = draw(ANY_TIER)
    members = draw(
        st.lists(
            st.tuples(st.floats(0, 800), st.integers(0, 20_000), st.booleans(), st.booleans()),
            min_size=1,
            max_size=300,
        )
    )
    brigade = [
        vote_from_facts(
            voter_id=f"sock{i}",
            facts=VoterFacts(
                is_local=False,
                domain=domain,
                tier=tier,
                first_seen_at=NOW - timedelta(days=age),
                prior_interaction_with_author=interacted,
            ),
            verdict=REMOVE,
            cast_at=NOW - timedelta(minutes=minutes),
            config=DEFAULT,
            content_version_current=current,
        )
        for i, (age, minutes, interacted, current) in enumerate(members)
    ]
    flag_facts = VoterFacts(is_local=False, domain=domain, tier=tier, first_seen_at=NOW)
    flag = vote_from_facts(
        voter_id=flag_voter_id(domain),
        facts=flag_facts,
        verdict=REMOVE,
        cast_at=NOW,
        config=RuleConfig(min_account_age_days=0, age_ramp_days=0),
    )
    return [*brigade, flag]


@RULE_SETTINGS
@given(
    brigade=one_domain_brigade(),
    exposure=exposures,
    cap=st.floats(0.01, 0.99),
    cohort_cap=st.sampled_from((0, 0.25, 1.0)),
    min_domains=st.integers(0, 4),
    threshold=st.floats(0.1, 20),
    min_voters=st.integers(0, 5),
    supermajority=st.floats(0, 1),
)
def test_any_number_of_voters_from_one_domain_never_removes_alone(
    brigade, exposure, cap, cohort_cap, min_domains, threshold, min_voters, supermajority
):
    config = RuleConfig(
        removal_threshold=threshold,
        domain_cap_fraction=cap,
        cohort_cap_fraction=cohort_cap,
        min_domains_if_remote_heavy=min_domains,
        min_distinct_voters=min_voters,
        supermajority=supermajority,
    )
    outcome = evaluate(case(brigade, exposure), config)
    assert not outcome.passes
    assert outcome.tally.remove_weight <= cap * outcome.tally.threshold * (1 + EPS)


@RULE_SETTINGS
@given(brigade=one_domain_brigade(), exposure=exposures)
def test_one_domain_never_removes_alone_with_the_default_knobs(brigade, exposure):
    assert not evaluate(case(brigade, exposure), RuleConfig()).passes


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), min_size=1, max_size=200), exposure=exposures)
def test_one_signup_week_never_removes_alone(vote_list, exposure):
    # Every voter created (local) or first seen (remote) in one week, local and remote mixed.
    same_week = [replace(v, cohort="2025-W22") for v in vote_list]
    outcome = evaluate(case(same_week, exposure), DEFAULT)
    assert not outcome.passes
    assert outcome.tally.remove_weight <= 0.25 * outcome.tally.threshold * (1 + EPS)


@RULE_SETTINGS
@given(
    vote_list=st.lists(votes(verdict=REMOVE, counts=True), max_size=60),
    threshold=st.floats(0.1, 30),
    config=configs,
)
def test_caps_bound_every_domain_and_cohort(vote_list, threshold, config):
    weights = capped_weights(vote_list, threshold=threshold, config=config)
    by_domain: dict[str, float] = defaultdict(float)
    by_cohort: dict[str, float] = defaultdict(float)
    for vote, weight in zip(vote_list, weights, strict=True):
        assert 0 <= weight <= vote.weight
        if vote.domain:
            by_domain[vote.domain] += weight
        by_cohort[vote.cohort] += weight
    if config.domain_cap_fraction:
        assert max(by_domain.values(), default=0) <= (
            config.domain_cap_fraction * threshold * (1 + EPS)
        )
    if config.cohort_cap_fraction:
        assert max(by_cohort.values(), default=0) <= (
            config.cohort_cap_fraction * threshold * (1 + EPS)
        )


# --- minimum voters, supermajority, exposure ------------------------------------------------


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=40), exposure=exposures, config=configs)
def test_fewer_distinct_remove_voters_than_the_minimum_never_pass(vote_list, exposure, config):
    config = dataclasses.replace(config, rule="weighted")
    outcome = evaluate(case(vote_list, exposure), config)
    counted = counted_votes(case(vote_list, exposure), config)
    voters = {v.voter_id for v in counted if v.verdict == REMOVE and v.weight > 0}
    assert outcome.tally.distinct_remove_voters == len(voters)
    if len(voters) < config.min_distinct_voters:
        assert not outcome.passes


@RULE_SETTINGS
@given(
    vote_list=st.lists(votes(), max_size=30),
    keeps=st.lists(
        votes(verdict=KEEP, ids=st.sampled_from([f"k{i}" for i in range(20)])), max_size=20
    ),
    exposure=exposures,
    config=configs,
)
def test_more_keep_votes_never_turn_a_case_into_a_removal(vote_list, keeps, exposure, config):
    with_keeps = evaluate(case([*vote_list, *keeps], exposure), config)
    without = evaluate(case(vote_list, exposure), config)
    assert with_keeps.passes <= without.passes
    assert with_keeps.tally.keep_weight >= without.tally.keep_weight
    if with_keeps.passes and config.rule == "weighted":
        assert with_keeps.tally.remove_share >= config.supermajority


@RULE_SETTINGS
@given(low=exposures, high=exposures, threshold=st.floats(0.1, 30))
def test_threshold_grows_with_exposure(low, high, threshold):
    assume(low < high)
    config = RuleConfig(removal_threshold=threshold)
    assert exposure_threshold(low, config) < exposure_threshold(high, config)


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=40), low=exposures, high=exposures, config=configs)
def test_threshold_condition_gets_no_easier_with_exposure(vote_list, low, high, config):
    # Caps scale with T_eff too, but S_R / T_eff can only fall as E grows.
    low, high = sorted((low, high))
    assume(low < high)
    config = dataclasses.replace(config, rule="weighted")
    a = evaluate(case(vote_list, low), config).tally
    b = evaluate(case(vote_list, high), config).tally
    assert b.remove_weight / b.threshold <= a.remove_weight / a.threshold * (1 + EPS)


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=40), low=exposures, high=exposures)
def test_without_caps_a_removal_at_high_exposure_is_a_removal_at_low_exposure(vote_list, low, high):
    low, high = sorted((low, high))
    assume(low < high)
    config = RuleConfig(domain_cap_fraction=0, cohort_cap_fraction=0)
    if evaluate(case(vote_list, high), config).passes:
        assert evaluate(case(vote_list, low), config).passes


# --- raw rule -------------------------------------------------------------------------------


@RULE_SETTINGS
@given(vote_list=st.lists(votes(), max_size=40), exposure=exposures, t=st.integers(1, 15))
def test_raw_counts_distinct_counted_remove_voters(vote_list, exposure, t):
    config = RuleConfig(rule="raw", removal_threshold=t)
    outcome = evaluate(case(vote_list, exposure), config)
    counted = counted_votes(case(vote_list, exposure), config)
    n_remove = sum(1 for v in counted if v.verdict == REMOVE)
    assert outcome.passes == (n_remove >= t)
    assert not outcome.held_for_review
    assert outcome.tally.remove_weight == n_remove
    assert outcome.tally.threshold == t
    assert math.isclose(sum(outcome.tally.weight_by_tier.values()), n_remove)
