"""Reads for community moderation: what the rule sees, what voters and the public may see."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import cache, lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet

from federation.models import Instance
from moderation import rule
from moderation.models import AuditEvent, Case, Decision, Report, Vote
from moderation.tally import counted_votes_q
from ourvoice.accounts.models import Account, Follow
from ourvoice.core import rawsql
from ourvoice.core.errors import NotFound
from ourvoice.core.models import InstanceRule
from ourvoice.core.rawsql import ModelColumns, model_columns, quoted_table, split_row
from ourvoice.interactions.models import Like, Repost
from ourvoice.posts.models import Mention, Post
from ourvoice.posts.selectors import posts_visible_q

#: Interactions older than this do not count as "prior interaction" for the burst alarm.
PRIOR_INTERACTION_DAYS = 90


def rule_config() -> rule.RuleConfig:
    """The rule's knobs from Django settings (MODERATION_*), built and checked once per set of
    values (every vote asks; settings change only in tests)."""
    key = tuple(_hashable(getattr(settings, name, None)) for name in _knob_names())
    return _rule_config_for(key)


@cache
def _knob_names() -> tuple[str, ...]:
    return tuple(f"MODERATION_{f.name.upper()}" for f in fields(rule.RuleConfig))


def _hashable(value: object) -> object:
    if isinstance(value, Mapping):
        return ("mapping", tuple(sorted((k, _hashable(v)) for k, v in value.items())))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


@lru_cache(maxsize=16)
def _rule_config_for(key: tuple[object, ...]) -> rule.RuleConfig:
    return rule.RuleConfig.from_settings(settings)


def rule_version(config: rule.RuleConfig | None = None) -> str:
    config = config or rule_config()
    return rule.RULE_VERSION_RAW if config.rule == "raw" else rule.RULE_VERSION_OV_1


def post_content_version(post: Post) -> str:
    """A stable fingerprint of what a voter saw: "sha256:" over content, warning and edit time."""
    edited = post.edited_at.isoformat() if post.edited_at else ""
    material = "\x00".join((post.content, post.spoiler_text, edited)).encode()
    return "sha256:" + hashlib.sha256(material).hexdigest()


def post_exposure(post: Post) -> int:
    """E: the author's followers now + distinct accounts that replied, liked or boosted."""
    interactors: set[int] = set(Like.objects.filter(post=post).values_list("account_id", flat=True))
    interactors.update(Repost.objects.filter(post=post).values_list("account_id", flat=True))
    interactors.update(
        Post.objects.filter(in_reply_to=post).values_list("author_id", flat=True).distinct()
    )
    interactors.discard(post.author_id)
    followers = Account.objects.filter(pk=post.author_id).values_list("followers_count", flat=True)
    return int(followers.first() or 0) + len(interactors)


@cache
def _prior_interaction_expr() -> str:
    """One boolean expression: does any interaction exist between %(a)s and %(b)s (either way)
    since %(since)s?

    Written once from the models' table names: building the same ten-branch query with the ORM
    on every vote cost more than running it.
    """
    like, repost = Like._meta.db_table, Repost._meta.db_table
    post, mention, follow = Post._meta.db_table, Mention._meta.db_table, Follow._meta.db_table
    branches = []
    for a, b in (("%(a)s", "%(b)s"), ("%(b)s", "%(a)s")):
        branches += [
            f"SELECT 1 FROM {like} x JOIN {post} p ON p.id = x.post_id"
            f" WHERE x.account_id = {a} AND p.author_id = {b} AND x.created_at >= %(since)s",
            f"SELECT 1 FROM {repost} x JOIN {post} p ON p.id = x.post_id"
            f" WHERE x.account_id = {a} AND p.author_id = {b} AND x.created_at >= %(since)s",
            f"SELECT 1 FROM {post} p WHERE p.author_id = {a}"
            f" AND p.in_reply_to_account_id = {b} AND p.published_at >= %(since)s",
            f"SELECT 1 FROM {mention} m JOIN {post} p ON p.id = m.post_id"
            f" WHERE p.author_id = {a} AND m.account_id = {b} AND p.published_at >= %(since)s",
            f"SELECT 1 FROM {follow} f WHERE f.follower_id = {a} AND f.target_id = {b}",
        ]
    return "(" + " OR ".join(f"EXISTS ({branch})" for branch in branches) + ")"


def _interaction_params(voter_id: int, author_id: int, now: datetime) -> dict[str, object]:
    return {"a": voter_id, "b": author_id, "since": now - timedelta(days=PRIOR_INTERACTION_DAYS)}


def prior_interaction(*, voter: Account, author: Account | int, now: datetime) -> bool:
    """Any reply, like, boost, mention or follow between voter and author in the last 90 days
    (one query)."""
    author_id = author if isinstance(author, int) else author.pk
    params = _interaction_params(voter.pk, author_id, now)
    row = rawsql.fetchone(f"SELECT {_prior_interaction_expr()}", params)
    return bool(row and row[0])


@dataclass(frozen=True)
class VoteContext:
    """What storing one vote needs to know, read in one statement with the case locked."""

    #: The voter's active vote on the case (the one a new vote replaces).
    previous: Vote | None
    #: (seq, hash) of the case's last audit event; None for an empty chain.
    audit_head: tuple[int, str] | None
    #: Any interaction between voter and author in the last 90 days (`prior_interaction`).
    prior_interaction: bool
    #: Local votes the voter cast since `quota_since` (None when not asked).
    votes_since: int | None


@dataclass(frozen=True)
class VoteContextQuery:
    """Who is about to vote on which author's post: what `vote_context` needs to know."""

    voter_key: str
    voter_id: int
    author_id: int
    now: datetime
    #: Count the voter's local votes since then (the daily quota); None: do not count.
    quota_since: datetime | None = None

    def params(self) -> dict[str, object]:
        params = _interaction_params(self.voter_id, self.author_id, self.now)
        params.update(key=self.voter_key, quota_since=self.quota_since)
        return params


def _vote_context_columns(with_quota: bool, case_ref: str) -> str:
    """The context's columns after the vote's: audit head (seq, hash), prior interaction and
    the quota count, for the case whose id is `case_ref` (a parameter or a column)."""
    quota = (
        f"(SELECT count(*) FROM {quoted_table(Vote)} q WHERE q.voter_id = %(a)s"
        f" AND q.source = '{Vote.Source.LOCAL}' AND q.cast_at >= %(quota_since)s)"
        if with_quota
        else "NULL"
    )
    head = (
        f"(SELECT e.{{}} FROM {quoted_table(AuditEvent)} e WHERE e.case_id = {case_ref}"
        " ORDER BY e.seq DESC LIMIT 1)"
    )
    return f"{head.format('seq')}, {head.format('hash')}, {_prior_interaction_expr()}, {quota}"


@cache
def _vote_context_sql(with_quota: bool) -> tuple[str, ModelColumns]:
    vote = model_columns(Vote, "v")
    # At most one active vote per (case, voter): a unique partial index guarantees it.
    sql = (
        f"SELECT {vote.select}, {_vote_context_columns(with_quota, '%(case)s')}"
        f" FROM (SELECT 1 AS one) one LEFT JOIN {quoted_table(Vote)} v ON v.case_id = %(case)s"
        " AND v.voter_key = %(key)s AND v.active"
    )
    return sql, vote


def _context_from_row(row: tuple, start: int, layout: ModelColumns) -> VoteContext:
    (previous,), end = split_row(row[start:], layout)
    seq, head_hash, interacted, votes_since = row[start + end :]
    return VoteContext(
        previous=previous,  # type: ignore[arg-type]
        audit_head=(seq, head_hash) if seq is not None else None,
        prior_interaction=bool(interacted),
        votes_since=votes_since,
    )


def vote_context(*, case: Case, query: VoteContextQuery) -> VoteContext:
    """The voter's active vote, the audit chain's head, prior interaction and (optionally) the
    voter's recent vote count, in one statement. Call with the case row locked, so the head and
    the previous vote are those the next write builds on."""
    sql, layout = _vote_context_sql(query.quota_since is not None)
    params = query.params()
    params["case"] = case.pk
    row = rawsql.fetchone(sql, params)
    assert row is not None
    return _context_from_row(row, 0, layout)


def _live_states() -> str:
    return ", ".join(f"'{state}'" for state in Case.LIVE_STATES)


@cache
def _case_live_locked_sql() -> tuple[str, ModelColumns]:
    case = model_columns(Case, "c")
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT {case.select} FROM {quoted_table(Case)} c WHERE c.post_id = %s"
        f" AND c.state IN ({_live_states()}) ORDER BY c.id LIMIT 1{lock}"
    )
    return sql, case


def case_live_locked(*, post_id: int) -> Case | None:
    """The post's live case, row-locked (one prebuilt statement). Inside a transaction."""
    sql, layout = _case_live_locked_sql()
    row = rawsql.fetchone(sql, [post_id])
    return layout.instance(row) if row is not None else None  # type: ignore[return-value]


@cache
def _case_try_lock_with_context_sql(with_quota: bool) -> tuple[str, ModelColumns, ModelColumns]:
    case, vote = model_columns(Case, "c"), model_columns(Vote, "v")
    sql = (
        f"SELECT {case.select}, {vote.select}, {_vote_context_columns(with_quota, 'c.id')}"
        f" FROM {quoted_table(Case)} c LEFT JOIN {quoted_table(Vote)} v ON v.case_id = c.id"
        " AND v.voter_key = %(key)s AND v.active"
        f" WHERE c.post_id = %(post)s AND c.state IN ({_live_states()}) ORDER BY c.id LIMIT 1"
        " FOR UPDATE OF c SKIP LOCKED"
    )
    return sql, case, vote


def case_live_try_lock_with_context(
    *, post_id: int, query: VoteContextQuery
) -> tuple[Case, VoteContext] | None:
    """The post's live case, locked, with the vote context, in one statement: the hot path of
    every vote on a case that exists (PostgreSQL only; inside a transaction).

    None when the post has no live case or another transaction holds the case's lock (then
    lock with `case_live_locked` and read `vote_context` after it). Optimistic: the context
    comes from the statement's snapshot, so a writer that commits between that snapshot and
    the lock leaves it stale. Such a stale audit head or previous vote makes the vote's write
    break a unique index (`audit_case_seq`, `vote_one_active_per_voter`), and the vote service
    then starts over on the locking path.
    """
    sql, case_layout, vote_layout = _case_try_lock_with_context_sql(query.quota_since is not None)
    params = query.params()
    params["post"] = post_id
    row = rawsql.fetchone(sql, params)
    if row is None:
        return None
    case = case_layout.instance(row[: len(case_layout)])
    return case, _context_from_row(row, len(case_layout), vote_layout)  # type: ignore[return-value]


def domain_tier(domain: str) -> tuple[str | None, datetime | None]:
    """The admin-set tier of a remote domain (None: the default) and when we first saw it."""
    row = Instance.objects.filter(domain=domain).values_list("moderation_tier", "first_seen_at")
    found = row.first()
    if found is None:
        return None, None
    tier, first_seen = found
    return (tier or None), first_seen


def voter_facts(*, voter: Account, now: datetime, interacted: bool) -> rule.VoterFacts:
    """What the rule needs to weigh a vote by `voter` cast at `now`; `interacted` is the
    voter's prior interaction with the post's author (read by `vote_context`)."""
    if voter.local:
        return rule.VoterFacts(
            is_local=True,
            first_seen_at=min(voter.created_at, now),
            prior_interaction_with_author=interacted,
        )
    tier, _ = domain_tier(voter.domain)
    return rule.VoterFacts(
        is_local=False,
        first_seen_at=min(voter.first_seen_at, now),
        domain=voter.domain,
        tier=tier,
        prior_interaction_with_author=interacted,
    )


def flag_voter_facts(*, domain: str, now: datetime) -> rule.VoterFacts:
    """A Flag from another server: one domain-level voter, aged from our first sighting."""
    tier, first_seen = domain_tier(domain)
    return rule.VoterFacts(
        is_local=False, first_seen_at=min(first_seen or now, now), domain=domain, tier=tier
    )


def rule_vote(vote: Vote, *, current_version: str, edited_at: datetime | None = None) -> rule.Vote:
    """A stored vote as the rule sees it.

    The vote saw the current version when its fingerprint matches, or when the post was not
    edited after the vote was cast (a remote voter's server fingerprints its own copy of the
    post, whose HTML may differ from ours byte for byte).
    """
    current = (
        not vote.content_version
        or vote.content_version == current_version
        or edited_at is None
        or vote.cast_at >= edited_at
    )
    return rule.Vote(
        voter_id=vote.voter_key,
        verdict=vote.verdict,  # type: ignore[arg-type]
        weight=vote.weight,
        cast_at=vote.cast_at,
        tier=vote.tier,
        tau=vote.tau,
        alpha=vote.alpha,
        rho=vote.rho,
        domain=vote.domain,
        cohort=vote.cohort,
        counts=vote.counts,
        content_version_current=current,
        prior_interaction=vote.prior_interaction,
    )


def case_facts(*, case: Case, post: Post, now: datetime) -> rule.CaseFacts:
    """The rule's view of a case, read from PostgreSQL (never from Redis)."""
    version = post_content_version(post)
    votes = Vote.objects.filter(counted_votes_q(), case=case)
    return rule.CaseFacts(
        exposure=post_exposure(post),
        now=now,
        votes=tuple(rule_vote(v, current_version=version, edited_at=post.edited_at) for v in votes),
    )


def case_live_for_post(*, post: Post) -> Case | None:
    """The case that currently owns the post (open to decided), if any."""
    return Case.objects.filter(post=post, state__in=Case.LIVE_STATES).first()


def cases_votable_for(*, viewer: Account) -> QuerySet[Case]:
    """Open cases on posts `viewer` can read and did not write, newest first."""
    visible = Post.objects.filter(posts_visible_q(viewer)).values("pk")
    return (
        Case.objects.filter(state__in=Case.VOTING_STATES, post__in=visible)
        .exclude(author=viewer)
        .select_related("post", "post__author", "author")
        .order_by("-id")
    )


def case_get(*, case_id: int | str) -> Case:
    try:
        return Case.objects.select_related("post", "author").get(pk=int(case_id))
    except (Case.DoesNotExist, TypeError, ValueError) as exc:
        raise NotFound("Record not found") from exc


def vote_active_of(*, case: Case, voter: Account) -> Vote | None:
    return Vote.objects.filter(case=case, voter_key=str(voter.pk), active=True).first()


def votes_active_for(*, cases: Iterable[Case], voter: Account) -> dict[int, Vote]:
    """The viewer's active vote per case (one query for a page of cases)."""
    rows = Vote.objects.filter(case__in=[c.pk for c in cases], voter_key=str(voter.pk), active=True)
    return {v.case_id: v for v in rows}


def decision_latest(*, case: Case, outcomes: Iterable[str] | None = None) -> Decision | None:
    qs = Decision.objects.filter(case=case)
    if outcomes is not None:
        qs = qs.filter(outcome__in=list(outcomes))
    return qs.order_by("-created_at", "-id").first()


# --- Native API and the moderation page (what voters and the public may see) ------------------


def cases_remove_voters(*, cases: Iterable[Case]) -> dict[int, int]:
    """Distinct counted "remove" voters per case (one query for a page of cases).

    Voters only learn whether this reached `MODERATION_MIN_DISTINCT_VOTERS` ("under review",
    moderation.md §3.3), never the number itself or any weight.
    """
    rows = (
        Vote.objects.filter(
            counted_votes_q(), case__in=[c.pk for c in cases], verdict=Vote.Verdict.REMOVE
        )
        .values("case_id")
        .annotate(n=Count("voter_key", distinct=True))
    )
    return {row["case_id"]: row["n"] for row in rows}


def decision_latest_tallied(*, case: Case) -> Decision | None:
    """The newest decision that carries the rule's numbers (admin-only steps carry none)."""
    return (
        Decision.objects.filter(case=case).exclude(tally={}).order_by("-created_at", "-id").first()
    )


def reason_choices() -> list[tuple[str, str, str]]:
    """Reason codes a voter may give: (code, text, hint), basic ones then the instance rules."""
    basic = [
        ("spam", "Spam", "Unwanted commercial or repetitive content"),
        ("legal", "Illegal content", "Content that is illegal where this server operates"),
        ("other", "Other", "Anything else"),
    ]
    rules = [
        (f"rule:{r.pk}", r.text, r.hint) for r in InstanceRule.objects.order_by("position", "id")
    ]
    return basic + rules


def reports_get_many(*, report_ids: Iterable[int]) -> list[Report]:
    """Reports by id with their target account (one query), for notification entities."""
    return list(Report.objects.filter(pk__in=list(report_ids)).select_related("target_account"))
