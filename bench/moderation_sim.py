"""Seeded brigade simulation of the moderation rule (moderation.md §3.7), on the production rule.

Every vote is built with `moderation.rule.vote_from_facts` (which calls `vote_weight`) and every
decision is taken by `moderation.rule.evaluate`: the module the server runs, not a copy. Two
rules are compared on the same simulated cases: `raw` with T = 10 and `ov-rule/1` (`weighted`)
with T = 6 and every other knob at its decisions.md default.

Model (one trial = one post and everything that happens to it; each trial has its own seeded
`random.Random`, so results do not depend on the number of workers):

- Exposure E ~ LogNormal(median 500, sigma 1.2), rounded, capped at 100,000. The rule's E is
  "followers + distinct accounts that replied, liked or boosted"; the model uses the viewer
  count for it (sockpuppets do not interact, so they add nothing to E).
- Viewers: 60 % local, 40 % remote over 40 honest domains whose sizes follow Zipf (weight 1/k for
  the k-th domain); per trial, 8 domains are trusted, 28 standard and 4 new (20/70/10 %),
  shuffled. Account age: 90 % "a year old", drawn uniformly from 365-730 days so their signup
  weeks spread over a year (all of them in one week would make the cohort cap bind on honest
  voters: a modelling choice, see docs/moderation.md); 10 % uniformly 0-30 days. Remote ages
  count from our first sighting, as the rule requires. The track-record factor rho is 1 (as in
  ov-rule/1 today), so the N(1, 0.1) rho of §3.7 is not drawn.
- Votes per viewer, independently: violating post 3 % remove / 0.2 % keep; benign post
  0.1 % remove / 0.4 % keep; honest partisan case (a benign post by a segment-0 author, viewers
  50/50 in two segments): segment 1 votes like on a violating post (3 % / 0.2 %), segment 0
  like on a benign one (0.1 % / 0.4 %). Voters are drawn by geometric skipping over the E
  viewers, which is exact for independent per-viewer votes.
- Timing (coarse, for the burst alarm only): an honest vote arrives Exponential(mean 24 h)
  after the post; 30 % of honest voters have interacted with the author in the last 90 days.
  A brigade starts Uniform(0, 48 h) after the post and each sockpuppet votes within
  `spread` minutes of the start (10 minutes unless the row says otherwise).
- Brigades: N sockpuppets on M attacker domains (sock0.example...; round-robin) or local, all
  voting remove on a benign post. "new" domains have tier new (tau 0.25), "aged" ones standard
  (tau 0.5). Age at attack time 10 or 60 days. "One cohort": created (first seen) within one
  ISO week, aged 0-7 days more than the nominal age (the 10-day rows are batch-created too);
  "staggered 12 wk": first seen uniformly over the 12 weeks before the nominal age. History
  (one-sided, two-sided) is what the bridging factor of §3.2 would look at; ov-rule/1 has no
  bridging, so history only matters through the burst alarm: none and one-sided sockpuppets
  never interacted with the author; two-sided ones did with probability 0.5.
- Lifecycle: the rule is evaluated after every remove vote, in time order, with `now` = that
  vote's time (keep votes cannot make a case pass). The first evaluation that passes decides
  the trial: "held" if the burst alarm fired, else "removed". Not modelled: grace period (no
  Undo or veto is modelled, so the re-check would agree), appeals, quotas, edits, vote ageing
  beyond what the 14-day TTL does on its own, admin review of held cases, bridging.

Usage: `uv run python bench/moderation_sim.py [--honest-trials 2000] [--attack-trials 1000]
[--workers 2] [--seed 20251120] [--no-write]`. Prints the table and the goal check and writes
them into docs/moderation.md between `<!-- sim:start -->` and `<!-- sim:end -->`.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moderation.rule import (
    KEEP,
    REMOVE,
    CaseFacts,
    RuleConfig,
    Vote,
    VoterFacts,
    evaluate,
    vote_from_facts,
)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "moderation.md"
START, END = "<!-- sim:start -->", "<!-- sim:end -->"
DEFAULT_SEED = 20251120
POST_AT = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)

RAW = RuleConfig(rule="raw", removal_threshold=10)
OV_RULE_1 = RuleConfig(rule="weighted", removal_threshold=6)
#: Votes are built (weights frozen) once with ov-rule/1's tiers and age ramp; `raw` ignores them.
OV = OV_RULE_1

EXPOSURE_MEDIAN, EXPOSURE_SIGMA, EXPOSURE_CAP = 500, 1.2, 100_000
LOCAL_SHARE = 0.6
HONEST_DOMAINS = 40
HONEST_TIERS = ["trusted"] * 8 + ["standard"] * 28 + ["new"] * 4
ZIPF_CUM = [sum(1 / k for k in range(1, i + 2)) for i in range(HONEST_DOMAINS)]
OLD_SHARE, OLD_AGE_DAYS, YOUNG_AGE_DAYS = 0.9, (365.0, 730.0), (0.0, 30.0)
PRIOR_INTERACTION_SHARE = 0.3
HONEST_DELAY_MEAN = timedelta(hours=24)
BRIGADE_START_MAX = timedelta(hours=48)

#: (remove, keep) probability per viewer.
VIOLATING, BENIGN = (0.03, 0.002), (0.001, 0.004)
PARTISAN = (0.5 * VIOLATING[0] + 0.5 * BENIGN[0], 0.5 * VIOLATING[1] + 0.5 * BENIGN[1])
POSTS = {"violating": VIOLATING, "benign": BENIGN, "partisan": PARTISAN}


@dataclass(frozen=True)
class Brigade:
    size: int
    domains: int  # 0: local sockpuppets
    tier: str = "new"  # remote domains: "new" (tau 0.25) or "standard" ("aged", tau 0.5)
    age_days: float = 10
    staggered: bool = False  # False: one signup week; True: first seen over 12 weeks
    two_sided: bool = False  # history on both sides: half interacted with the author
    spread_minutes: float = 10
    verdict: str = REMOVE


@dataclass(frozen=True)
class Scenario:
    label: str
    post: str
    brigade: Brigade | None = None
    goal: str = ""  # "zero": must never remove; "recall": ov-rule/1 ≥ raw
    note: str = ""  # rows beyond the §3.7 table

    @property
    def honest(self) -> bool:
        return self.brigade is None


SCENARIOS = [
    Scenario("Violating post (recall)", "violating", goal="recall"),
    Scenario("Benign, no attack", "benign"),
    Scenario("Benign, honest partisan mass-report", "partisan"),
    Scenario("20 remote socks, 1 new domain, 10 d", "benign", Brigade(20, 1), goal="zero"),
    Scenario("40 remote socks, 3 new domains, 10 d", "benign", Brigade(40, 3), goal="zero"),
    Scenario(
        "40 remote socks, 10 aged domains, 60 d, one cohort",
        "benign",
        Brigade(40, 10, "standard", 60),
        goal="zero",
    ),
    Scenario(
        "40 remote socks, 10 aged domains, 60 d, staggered 12 wk",
        "benign",
        Brigade(40, 10, "standard", 60, staggered=True),
    ),
    Scenario(
        "80 remote socks, 10 aged domains, staggered, no history",
        "benign",
        Brigade(80, 10, "standard", 60, staggered=True),
    ),
    Scenario(
        "80 remote socks, same, history on one side",
        "benign",
        Brigade(80, 10, "standard", 60, staggered=True),
    ),
    Scenario(
        "80 remote socks, same, history on both sides",
        "benign",
        Brigade(80, 10, "standard", 60, staggered=True, two_sided=True),
    ),
    Scenario("20 local socks, 10 d", "benign", Brigade(20, 0), goal="zero"),
    Scenario(
        "20 local socks, 60 d, one cohort", "benign", Brigade(20, 0, age_days=60), goal="zero"
    ),
    Scenario(
        "40 local socks, 60 d, staggered 12 wk, one-sided history",
        "benign",
        Brigade(40, 0, age_days=60, staggered=True),
    ),
    Scenario(
        "80 remote socks, 10 aged domains, staggered, votes spread over 6 h",
        "benign",
        Brigade(80, 10, "standard", 60, staggered=True, spread_minutes=360),
        note="extra",
    ),
    Scenario(
        "Violating post, keep-bombed by 40 remote socks on 1 aged domain, staggered",
        "violating",
        Brigade(40, 1, "standard", 60, staggered=True, verdict=KEEP),
        note="extra",
    ),
]


@dataclass
class Tallies:
    trials: int = 0
    results: Counter = field(default_factory=Counter)  # (rule, "removed"|"held"|"open") → n

    def add(self, other: Tallies) -> None:
        self.trials += other.trials
        self.results.update(other.results)

    def share(self, rule: str, result: str) -> float:
        return self.results[(rule, result)] / self.trials if self.trials else 0.0


def _geometric_voters(rng: random.Random, viewers: int, p: float) -> int:
    """How many of `viewers` independent viewers vote, each with probability `p` (exact)."""
    if p <= 0 or viewers <= 0:
        return 0
    log_q = math.log1p(-p)
    count, index = 0, -1
    while True:
        index += int(math.log(1.0 - rng.random()) / log_q) + 1
        if index >= viewers:
            return count
        count += 1


def _honest_votes(rng: random.Random, post: str, exposure: int) -> list[Vote]:
    p_remove, p_keep = POSTS[post]
    tiers = HONEST_TIERS[:]
    rng.shuffle(tiers)
    votes = []
    for i in range(_geometric_voters(rng, exposure, p_remove + p_keep)):
        verdict = REMOVE if rng.random() < p_remove / (p_remove + p_keep) else KEEP
        low, high = OLD_AGE_DAYS if rng.random() < OLD_SHARE else YOUNG_AGE_DAYS
        first_seen = POST_AT - timedelta(days=rng.uniform(low, high))
        interacted = rng.random() < PRIOR_INTERACTION_SHARE
        if rng.random() < LOCAL_SHARE:
            facts = VoterFacts(
                is_local=True, first_seen_at=first_seen, prior_interaction_with_author=interacted
            )
        else:
            k = rng.choices(range(HONEST_DOMAINS), cum_weights=ZIPF_CUM)[0]
            facts = VoterFacts(
                is_local=False,
                domain=f"honest{k}.example",
                tier=tiers[k],
                first_seen_at=first_seen,
                prior_interaction_with_author=interacted,
            )
        delay = timedelta(seconds=rng.expovariate(1 / HONEST_DELAY_MEAN.total_seconds()))
        votes.append(
            vote_from_facts(
                voter_id=f"h{i}", facts=facts, verdict=verdict, cast_at=POST_AT + delay, config=OV
            )
        )
    return votes


def _brigade_votes(rng: random.Random, brigade: Brigade) -> list[Vote]:
    start = POST_AT + rng.random() * BRIGADE_START_MAX
    nominal = start - timedelta(days=brigade.age_days)
    week_start = datetime.combine(
        (nominal - timedelta(days=nominal.weekday())).date(), datetime.min.time(), tzinfo=UTC
    )
    votes = []
    for i in range(brigade.size):
        if brigade.staggered:
            first_seen = nominal - timedelta(days=rng.uniform(0, 84))
        else:  # one ISO week: between that week's Monday 00:00 and the nominal creation time
            first_seen = week_start + rng.random() * (nominal - week_start)
        interacted = brigade.two_sided and rng.random() < 0.5
        if brigade.domains:
            facts = VoterFacts(
                is_local=False,
                domain=f"sock{i % brigade.domains}.example",
                tier=brigade.tier,
                first_seen_at=first_seen,
                prior_interaction_with_author=interacted,
            )
        else:
            facts = VoterFacts(
                is_local=True, first_seen_at=first_seen, prior_interaction_with_author=interacted
            )
        cast_at = start + timedelta(minutes=rng.uniform(0, brigade.spread_minutes))
        votes.append(
            vote_from_facts(
                voter_id=f"s{i}", facts=facts, verdict=brigade.verdict, cast_at=cast_at, config=OV
            )
        )
    return votes


def _first_decision(votes: list[Vote], exposure: int, config: RuleConfig) -> str:
    """Evaluate after each remove vote, in time order; the first pass decides."""
    for k, vote in enumerate(votes, start=1):
        if vote.verdict != REMOVE:
            continue
        outcome = evaluate(CaseFacts(exposure=exposure, now=vote.cast_at, votes=votes[:k]), config)
        if outcome.passes:
            return "held" if outcome.held_for_review else "removed"
    return "open"


def run_trial(scenario: Scenario, seed: int, trial: int) -> dict[str, str]:
    rng = random.Random(f"{seed}/{scenario.label}/{trial}")  # seeded per trial: worker-independent
    exposure = round(EXPOSURE_MEDIAN * math.exp(rng.gauss(0, EXPOSURE_SIGMA)))
    exposure = min(EXPOSURE_CAP, exposure)
    votes = _honest_votes(rng, scenario.post, exposure)
    if scenario.brigade:
        votes += _brigade_votes(rng, scenario.brigade)
    votes.sort(key=lambda v: (v.cast_at, v.voter_id))
    return {
        "raw": _first_decision(votes, exposure, RAW),
        "ov": _first_decision(votes, exposure, OV_RULE_1),
    }


def _run_chunk(job: tuple[int, int, int, int]) -> tuple[int, Tallies]:
    index, seed, first, last = job
    tallies = Tallies()
    for trial in range(first, last):
        for rule, result in run_trial(SCENARIOS[index], seed, trial).items():
            tallies.results[(rule, result)] += 1
        tallies.trials += 1
    return index, tallies


def simulate(honest_trials: int, attack_trials: int, seed: int, workers: int) -> list[Tallies]:
    jobs = []
    for index, scenario in enumerate(SCENARIOS):
        trials = honest_trials if scenario.honest else attack_trials
        jobs += [(index, seed, a, min(trials, a + 100)) for a in range(0, trials, 100)]
    results = [Tallies() for _ in SCENARIOS]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for index, tallies in pool.imap_unordered(_run_chunk, jobs):
                results[index].add(tallies)
    else:
        for job in jobs:
            index, tallies = _run_chunk(job)
            results[index].add(tallies)
    return results


def goal_check(results: list[Tallies]) -> list[str]:
    lines = []
    for scenario, tallies in zip(SCENARIOS, results, strict=True):
        removed_ov = tallies.share("ov", "removed")
        if scenario.goal == "zero":
            ok = tallies.results[("ov", "removed")] == 0
            lines.append(
                f"{'MET' if ok else 'NOT MET'}: {scenario.label}: ov-rule/1 removed "
                f"{tallies.results[('ov', 'removed')]} of {tallies.trials} benign posts"
            )
        elif scenario.goal == "recall":
            removed_raw = tallies.share("raw", "removed")
            ok = removed_ov >= removed_raw
            lines.append(
                f"{'MET' if ok else 'NOT MET'}: recall on violating posts: ov-rule/1 "
                f"{removed_ov:.3f} vs raw {removed_raw:.3f} (ov-rule/1 also held "
                f"{tallies.share('ov', 'held'):.3f} for review)"
            )
    return lines


def markdown(results: list[Tallies], seed: int, honest: int, attack: int) -> str:
    rows = [
        "| Scenario: share of posts | trials | `raw` T=10: removed | `ov-rule/1` T=6: removed "
        "| `ov-rule/1`: held by the burst alarm | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    goals = {"zero": "no removal", "recall": "≥ raw", "": ""}
    for scenario, tallies in zip(SCENARIOS, results, strict=True):
        label = scenario.label + (" *(extra)*" if scenario.note else "")
        rows.append(
            f"| {label} | {tallies.trials} | {tallies.share('raw', 'removed'):.3f} "
            f"| {tallies.share('ov', 'removed'):.3f} | {tallies.share('ov', 'held'):.3f} "
            f"| {goals[scenario.goal]} |"
        )
    checks = goal_check(results)
    verdict = "met" if all(line.startswith("MET") for line in checks) else "NOT met"
    return "\n".join(
        [
            f"Seed {seed}; {honest} trials per honest row, {attack} per attack row; generated by "
            "`uv run python bench/moderation_sim.py` (do not edit by hand).",
            "",
            *rows,
            "",
            f"**Goal {verdict}** with the default knobs:",
            "",
            *(f"- {line}" for line in checks),
        ]
    )


def write_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise SystemExit(f"{DOC} lacks the {START} / {END} markers")
    head, rest = doc.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--honest-trials", type=int, default=2000)
    parser.add_argument("--attack-trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    began = time.perf_counter()
    results = simulate(args.honest_trials, args.attack_trials, args.seed, args.workers)
    text = markdown(results, args.seed, args.honest_trials, args.attack_trials)
    print(text)
    print(f"\n{time.perf_counter() - began:.1f} s with {args.workers} worker(s)")
    if not args.no_write:
        write_doc(text)
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
