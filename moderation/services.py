"""Moderation services: votes, cases and their decisions, reports, appeals and admin actions.

The flow (decisions.md, "Community moderation"; moderation.md §3):

- `vote_cast` (local users: native API, web page, Mastodon reports) and `vote_receive_remote`
  (a signed `ModerationVote` from an OUR Voice peer) open the post's case on first vote, lock
  the case row, store the vote with its weight frozen (`moderation.rule.vote_from_facts`),
  append to the audit log and update the Redis sums (`moderation.tally`). Only when those sums
  say the rule could pass is the rule evaluated, from PostgreSQL rows.
- A passing rule sends the case to PENDING (the post collapses locally) for
  `MODERATION_GRACE_SECONDS`, then `case_finalize` re-checks it; the burst alarm sends it to
  HELD for admins instead. With grace 0 the removal happens in the voting transaction.
- Removal is a compare-and-set on the case and the post plus one outbox event in the same
  transaction (`posts.services.post_remove` with the Delete's deterministic id), so exactly one
  `Delete` is announced; the author gets a direct message from the moderation account.
- Votes on another OUR Voice server's post are stored here and forwarded to its origin
  (`moderation.vote.forward`); that origin alone decides. A post from other software that
  passes the rule is hidden here and one aggregated `Flag` goes to its origin.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from federation.models import Instance
from federation.moderation_peers import instance_is_ourvoice
from federation.services import instance_get_or_create, instance_set_moderation_tier
from moderation import links, rule, selectors, tally
from moderation.audit import audit_append, audit_event_next
from moderation.models import AuditEvent, Case, Decision, Report, Vote
from ourvoice.accounts.models import Account, User
from ourvoice.accounts.services import system_actor_get
from ourvoice.core import rawsql
from ourvoice.core.errors import Conflict, Invalid, LimitReached, NotAllowed, NotFound
from ourvoice.core.html import html_to_text
from ourvoice.core.models import InstanceRule
from ourvoice.core.outbox import outbox_record
from ourvoice.core.rawsql import insert_statement, quoted_table
from ourvoice.notifications.models import Notification
from ourvoice.notifications.services import notification_create
from ourvoice.posts.models import Post, Visibility
from ourvoice.posts.selectors import posts_visible_q
from ourvoice.posts.services import post_create, post_remove, post_restore, post_set_collapsed

logger = logging.getLogger(__name__)

#: Mastodon's limit on the report comment.
COMMENT_MAX_LENGTH = 1000
#: How many posts one report may list.
MAX_REPORTED_POSTS = 100


def _report_recorded(report: Report) -> None:
    """Record `report.created` for a new report (admins are notified by its consumer)."""
    outbox_record(
        kind="report.created",
        payload={
            "report_id": report.id,
            "reporter_id": report.reporter_id,
            "target_account_id": report.target_account_id,
            "post_ids": report.status_ids,
        },
    )


def _int_ids(values: Sequence[int | str], *, field: str, error: type[Exception]) -> list[int]:
    ids: dict[int, None] = {}
    for value in values:
        try:
            ids[int(value)] = None
        except (TypeError, ValueError) as exc:
            if error is NotFound:
                raise NotFound("Record not found") from exc
            raise Invalid(f"{field} must be a list of ids", field=field) from exc
    return list(ids)


@transaction.atomic
def report_create(
    *,
    reporter: Account,
    target_account: Account,
    post_ids: Sequence[int | str] = (),
    comment: str = "",
    category: str = "",
    rule_ids: Sequence[int | str] = (),
    forward: bool = False,
) -> Report:
    """File a report by a local account about `target_account` and, optionally, its posts.

    Mirrors Mastodon's ReportService: an empty `category` means "other", and any `rule_ids`
    make it "violation". Every post id must name a post by `target_account` that `reporter`
    can read (else NotFound, never revealing which); rule ids must name instance rules
    (else Invalid). Reporting yourself, a comment over 1000 characters or an unknown category
    is Invalid; a remote or suspended reporter is NotAllowed. Records `report.created`.

    A report without posts is an account report for the admin queue. A report with posts
    also casts a "remove" vote by `reporter` on each post (decisions.md, "Who votes"); an
    ineligible vote (own post, quota, decided case, too-young account) keeps the report for
    admins and is not counted. `forward` only asks to send a `Flag` to a remote target's
    server and does not matter for votes.
    Precondition: `target_account` was fetched with a selector that hides suspended accounts.
    """
    if not reporter.local:
        raise NotAllowed("Only local accounts can file reports here.")
    if reporter.is_suspended:
        raise NotAllowed("Your account is suspended.")
    if reporter.pk == target_account.pk:
        raise Invalid("You cannot report yourself", field="account_id")
    comment = (comment or "").replace("\r\n", "\n")
    if len(comment) > COMMENT_MAX_LENGTH:
        raise Invalid(
            f"Comment is too long (maximum is {COMMENT_MAX_LENGTH} characters)", field="comment"
        )
    rules = _int_ids(rule_ids, field="rule_ids", error=Invalid)
    category = (category or "").strip() or Report.Category.OTHER
    if category not in Report.Category.values:
        choices = ", ".join(Report.Category.values)
        raise Invalid(f"Category must be one of {choices}", field="category")
    if rules:
        category = Report.Category.VIOLATION
        known = set(InstanceRule.objects.filter(pk__in=rules).values_list("pk", flat=True))
        if known != set(rules):
            raise Invalid("Rule ids do not match the rules of this server", field="rule_ids")
    posts = _int_ids(post_ids, field="status_ids", error=NotFound)
    if len(posts) > MAX_REPORTED_POSTS:
        raise Invalid(f"A report can list at most {MAX_REPORTED_POSTS} statuses")
    if posts:
        found = set(
            Post.objects.filter(
                posts_visible_q(reporter), pk__in=posts, author=target_account
            ).values_list("pk", flat=True)
        )
        if found != set(posts):
            raise NotFound("Record not found")
    report = Report.objects.create(
        reporter=reporter,
        target_account=target_account,
        status_ids=sorted(posts),
        comment=comment,
        category=category,
        rule_ids=sorted(rules),
        forward=bool(forward),
    )
    _report_recorded(report)
    reason = _report_reason(category, rules)
    for post in Post.objects.filter(pk__in=posts).select_related("author"):
        try:
            with transaction.atomic():
                vote_cast(
                    voter=reporter, post=post, verdict=Vote.Verdict.REMOVE, reason_code=reason
                )
        except (NotAllowed, NotFound, LimitReached, Invalid, Conflict) as exc:
            logger.info(
                "report vote not cast report_id=%s post_id=%s reason=%s",
                report.id,
                post.id,
                exc.message,
            )
    logger.info(
        "report created report_id=%s reporter_id=%s target_id=%s posts=%s category=%s",
        report.id,
        reporter.id,
        target_account.id,
        len(posts),
        category,
    )
    return report


def _report_reason(category: str, rule_ids: Sequence[int]) -> str:
    if category == Report.Category.VIOLATION and rule_ids:
        return f"rule:{sorted(rule_ids)[0]}"
    if category in BASIC_REASONS:
        return category
    return "other"


@transaction.atomic
def report_receive_remote(
    *,
    actor: Account,
    object_uris: Sequence[str],
    content: str,
    activity_id: str,
    now: datetime | None = None,
) -> Report | None:
    """A `Flag` from another server about our accounts or posts: one report for the admin
    queue (per target account) and one domain-level remove vote per named post.

    Idempotent on the activity id. Returns the report (None when the Flag named nothing of
    ours or was seen before).
    """
    now = now or timezone.now()
    if Report.objects.filter(uri=activity_id).exists():
        return None
    posts = list(
        Post.objects.filter(uri__in=list(object_uris), local=True).select_related("author")
    )
    accounts = list(Account.objects.filter(uri__in=list(object_uris), domain=""))
    target = accounts[0] if accounts else (posts[0].author if posts else None)
    if target is None:
        return None
    report = Report.objects.create(
        reporter=actor,
        target_account=target,
        status_ids=sorted(p.pk for p in posts if p.author_id == target.pk),
        comment=(content or "")[:COMMENT_MAX_LENGTH],
        category=Report.Category.OTHER,
        uri=activity_id,
        created_at=now,
    )
    _report_recorded(report)
    flag_receive(actor=actor, posts=posts, activity_id=activity_id, now=now)
    logger.info(
        "remote report received report_id=%s actor=%s activity_id=%s posts=%s",
        report.id,
        actor.uri,
        activity_id,
        len(posts),
    )
    return report


def report_notify_admins(*, report: Report) -> int:
    """An `admin.report` notification for every active admin (not the reporter or target)."""
    sent = 0
    admins = Account.objects.filter(domain="", user__is_staff=True, user__is_active=True)
    for admin in admins.exclude(pk__in=[report.reporter_id, report.target_account_id]):
        created = notification_create(
            recipient=admin,
            from_account=report.reporter,
            type=Notification.Type.ADMIN_REPORT,
            dedupe_key=f"report:{report.id}",
            report_id=report.id,
        )
        sent += created is not None
    return sent


@transaction.atomic
def report_resolve(*, report: Report, resolved_by: User | None = None) -> bool:
    """Mark an open report resolved; returns False when it was already resolved.

    A compare-and-set on `state`, so two admins resolving at once record one resolution.
    """
    now = timezone.now()
    updated = Report.objects.filter(pk=report.pk, state=Report.State.OPEN).update(
        state=Report.State.RESOLVED, resolved_at=now, resolved_by=resolved_by
    )
    if updated:
        report.state, report.resolved_at, report.resolved_by = (
            Report.State.RESOLVED,
            now,
            resolved_by,
        )
        logger.info(
            "report resolved report_id=%s by=%s",
            report.id,
            resolved_by.pk if resolved_by else None,
        )
    return bool(updated)


# --- Votes -----------------------------------------------------------------------------------

#: Reason codes besides the instance rules ("rule:<id>").
BASIC_REASONS = ("spam", "legal", "other")
VOTE_COMMENT_MAX = 500
APPEAL_TEXT_MAX = 2000
#: A held case that no admin handled returns to OPEN after this long (moderation.md §3.2).
HELD_REVIEW_WINDOW = timedelta(hours=24)
REMOVAL_SUMMARY = "Removed by community moderation"


def _actor_label(account: Account | None = None, user: User | None = None) -> str:
    if user is not None:
        return f"admin:{user.pk}"
    if account is not None:
        return f"account:{account.pk}" if account.local else f"actor:{account.uri}"
    return "system"


def reason_code_clean(value: str, *, strict: bool = True) -> str:
    """A reason code: spam, legal, other or `rule:<id>` of an instance rule.

    With `strict=False` (remote votes) an unknown code becomes "other" instead of an error.
    """
    code = (value or "").strip().lower() or "other"
    if code in BASIC_REASONS:
        return code
    if code.startswith("rule:"):
        rule_id = code.removeprefix("rule:")
        if rule_id.isdigit() and InstanceRule.objects.filter(pk=int(rule_id)).exists():
            return f"rule:{int(rule_id)}"
    if not strict:
        return "other"
    raise Invalid(
        "Reason must be spam, legal, other or rule:<id> of one of this server's rules",
        field="reason",
    )


def _verdict_clean(verdict: str) -> str:
    value = (verdict or "").strip().lower()
    if value not in Vote.Verdict.values:
        raise Invalid("Verdict must be remove or keep", field="verdict")
    return value


def _scope_for(post: Post) -> str:
    if post.local:
        return Case.Scope.LOCAL
    software = Instance.objects.filter(domain=post.author.domain).values_list(
        "software", "moderation_inbox"
    )
    row = software.first()
    if row is not None and (row[0] == "ourvoice" or row[1]):
        return Case.Scope.FORWARDED
    return Case.Scope.REMOTE


def _case_open_or_get(post: Post, *, now: datetime) -> tuple[Case, bool]:
    """The post's live case, created if there is none; returns (case locked, created)."""
    for _ in range(3):
        found = selectors.case_live_locked(post_id=post.pk)
        if found is not None:
            return found, False
        if not Post.objects.filter(pk=post.pk, state=Post.State.ACTIVE).exists():
            raise NotFound("Record not found")
        try:
            with transaction.atomic():
                created = Case.objects.create(
                    post=post,
                    author_id=post.author_id,
                    scope=_scope_for(post),
                    opened_at=now,
                    state_changed_at=now,
                )
        except IntegrityError:  # a concurrent first vote opened it
            continue
        audit_append(
            case=created,
            kind="case.opened",
            actor="system",
            payload={"post": post.uri, "scope": created.scope, "author": post.author_id},
        )
        logger.info("moderation case opened case_id=%s post_id=%s", created.id, post.id)
        # Our uncommitted insert: nobody else can lock it (a concurrent first vote waits on
        # the unique index, then finds this case).
        return created, True
    raise Conflict("The case changed while voting; try again.")


def _lock_case(case: Case) -> Case:
    return Case.objects.select_for_update().select_related("post", "author").get(pk=case.pk)


def _record_vote(
    *,
    case: Case,
    post: Post,
    voter: Account,
    voter_key: str,
    source: str,
    verdict: str,
    reason_code: str,
    comment: str,
    content_version: str,
    uri: str,
    facts: Callable[[bool], rule.VoterFacts],
    now: datetime,
    actor_label: str,
    new_case: bool = False,
    daily_quota: int = 0,
    context: selectors.VoteContext | None = None,
) -> Vote:
    """Store one vote on a locked case (replacing the voter's active one) and maybe decide.

    `facts(prior_interaction)` gives the voter's facts for the rule; `new_case`: the case was
    opened by this transaction (so it holds no vote yet); `daily_quota`: refuse (LimitReached)
    a voter who cast that many local votes in the last day (0: no quota); `context`: the vote
    context when the caller read it with the lock (`selectors.case_live_try_lock_with_context`).

    The hot path of every vote: one statement reads the voter's previous vote, the audit
    chain's head and the voter's history with the author (`selectors.vote_context`, or the
    statement that locked the case), one statement writes the vote, its audit event and the
    case's `last_vote_at`, and one Redis round trip updates the running sums.
    """
    config = selectors.rule_config()
    if context is None:
        query = _context_query(voter_key, voter.pk, post, now=now, daily_quota=daily_quota)
        context = selectors.vote_context(case=case, query=query)
    if daily_quota and (context.votes_since or 0) >= daily_quota:
        raise LimitReached(f"You can cast at most {daily_quota} moderation votes per day.")
    counts, not_counted = True, ""
    if case.scope == Case.Scope.FORWARDED:
        counts, not_counted = False, "forwarded"
    elif not case.is_voting:
        counts, not_counted = False, "late"
    voter_facts = facts(context.prior_interaction)
    frozen = rule.vote_from_facts(
        voter_id=voter_key,
        facts=voter_facts,
        verdict=verdict,  # type: ignore[arg-type]
        cast_at=now,
        config=config,
    )
    previous = context.previous
    if previous is not None:
        _vote_deactivate(previous.pk, now=now)
    vote = Vote(
        case=case,
        voter=voter,
        voter_key=voter_key,
        source=source,
        verdict=verdict,
        reason_code=reason_code,
        comment=comment,
        uri=uri or "",
        content_version=content_version or selectors.post_content_version(post),
        rule_version=selectors.rule_version(config),
        weight=frozen.weight,
        tier=frozen.tier,
        tau=frozen.tau,
        alpha=frozen.alpha,
        rho=frozen.rho,
        age_days=max(0.0, (now - voter_facts.first_seen_at).total_seconds() / 86_400),
        domain=frozen.domain,
        cohort=frozen.cohort,
        prior_interaction=frozen.prior_interaction,
        counts=counts,
        not_counted=not_counted,
        cast_at=now,
    )
    if not vote.uri:
        vote.uri = links.vote_uri(voter.username, vote.id)
    event = audit_event_next(
        case=case,
        head=context.audit_head,
        kind="vote.changed" if previous is not None else "vote.cast",
        actor=actor_label,
        rule_version=vote.rule_version,
        payload={
            "vote": vote.id,
            "voter": voter_key,
            "verdict": verdict,
            "reason": reason_code,
            "weight": vote.weight,
            "inputs": {"tau": vote.tau, "alpha": vote.alpha, "rho": vote.rho},
            "cohort": vote.cohort,
            "domain": vote.domain,
            "content_version": vote.content_version,
            "counts": counts,
            "not_counted": not_counted,
            "replaces": previous.id if previous is not None else None,
        },
    )
    _vote_insert(vote, event, case_id=case.pk, now=now)
    if case.scope == Case.Scope.FORWARDED and source == Vote.Source.LOCAL:
        outbox_record(
            kind="moderation.vote.forward",
            payload={
                "vote_uri": vote.uri,
                "voter_id": voter.pk,
                "post_uri": post.uri,
                "verdict": verdict,
                "reason_code": reason_code,
                "comment": comment,
                "content_version": vote.content_version,
                "published": now.isoformat(),
            },
        )
    if counts:
        delta = tally.vote_sums(vote)
        if previous is not None:
            delta = delta.plus(tally.vote_sums(previous), sign=-1)
        after = tally.tally_record(case, delta, new_case=new_case)
        if case.state == Case.State.OPEN and _could_pass(after, config):
            _evaluate_open(case=case, post=post, now=now, config=config)
    logger.info(
        "moderation vote case_id=%s vote_id=%s voter=%s verdict=%s weight=%.3f counts=%s",
        case.id,
        vote.id,
        voter_key,
        verdict,
        vote.weight,
        counts,
    )
    return vote


@cache
def _vote_deactivate_sql() -> str:
    return f"UPDATE {quoted_table(Vote)} SET active = false, replaced_at = %s WHERE id = %s"


def _vote_deactivate(vote_id: int, *, now: datetime) -> None:
    rawsql.execute(_vote_deactivate_sql(), [now, vote_id])


@cache
def _vote_insert_sql() -> tuple[str, ...]:
    vote, event = insert_statement(Vote), insert_statement(AuditEvent, with_pk=False)
    case = f"UPDATE {quoted_table(Case)} SET last_vote_at = %s WHERE id = %s"
    if connection.vendor == "postgresql":
        return (f"WITH v AS ({vote.sql}), e AS ({event.sql}) {case}",)
    return (vote.sql, event.sql, case)  # no data-modifying WITH elsewhere


def _vote_insert(vote: Vote, event: AuditEvent, *, case_id: int, now: datetime) -> None:
    """The vote row, its audit event and the case's `last_vote_at` (one statement on
    PostgreSQL)."""
    values = [
        insert_statement(Vote).values(vote),
        insert_statement(AuditEvent, with_pk=False).values(event),
        [now, case_id],
    ]
    statements = _vote_insert_sql()
    if len(statements) == 1:
        rawsql.execute(statements[0], [v for group in values for v in group])
    else:
        for sql, params in zip(statements, values, strict=True):
            rawsql.execute(sql, params)
    vote._state.adding, event._state.adding = False, False


def _could_pass(sums: tally.Sums, config: rule.RuleConfig) -> bool:
    """A necessary condition for the rule to pass, from the (over-estimating) running sums."""
    if config.rule == "raw":
        return sums.rc >= config.removal_threshold
    return sums.rw + 1e-9 >= config.removal_threshold and sums.rn >= config.min_distinct_voters


def _check_voter(voter: Account, post: Post) -> None:
    if voter.is_suspended:
        raise NotAllowed("Your account is suspended.")
    if voter.pk == post.author_id:
        raise NotAllowed("You cannot vote on your own post.")
    if post.state != Post.State.ACTIVE:
        raise NotFound("Record not found")


def vote_cast(
    *,
    voter: Account,
    post: Post,
    verdict: str,
    reason_code: str = "other",
    comment: str = "",
    content_version: str = "",
    now: datetime | None = None,
) -> Vote:
    """Cast (or change) a local user's vote on a post; see `_vote_cast`.

    For a remote post, first learns (once, cached on the domain's `Instance` row) whether its
    origin is an OUR Voice server, which decides the case's scope: votes forwarded to the
    origin, or a local hide plus one Flag.
    """
    if not post.local:
        instance_is_ourvoice(post.author.domain)
    arguments = {
        "voter": voter,
        "post": post,
        "verdict": verdict,
        "reason_code": reason_code,
        "comment": comment,
        "content_version": content_version,
        "now": now,
    }
    if not connection.features.has_select_for_update_skip_locked:
        return _vote_cast(**arguments, optimistic=False)
    try:
        return _vote_cast(**arguments, optimistic=True)
    except IntegrityError:
        # A writer committed between the one-statement read's snapshot and its lock (rare):
        # a unique index refused the stale audit head or previous vote and nothing was kept.
        logger.info("moderation vote: stale optimistic read, locking first post_id=%s", post.pk)
        return _vote_cast(**arguments, optimistic=False)


def _context_query(
    voter_key: str, voter_id: int, post: Post, *, now: datetime, daily_quota: int
) -> selectors.VoteContextQuery:
    return selectors.VoteContextQuery(
        voter_key=voter_key,
        voter_id=voter_id,
        author_id=post.author_id,
        now=now,
        quota_since=now - timedelta(days=1) if daily_quota else None,
    )


@transaction.atomic
def _vote_cast(
    *,
    voter: Account,
    post: Post,
    verdict: str,
    reason_code: str,
    comment: str,
    content_version: str,
    now: datetime | None,
    optimistic: bool,
) -> Vote:
    """Cast (or change) a local user's vote on a post; returns the stored vote.

    Opens the post's case on the first vote. A vote on a decided case is kept but not counted
    (`counts` false, `not_counted` "late"); on another OUR Voice server's post it is stored and
    forwarded to that origin. Refused: own post or a suspended voter (NotAllowed), a post the
    voter cannot read (NotFound), bad input (Invalid), the daily quota
    `MODERATION_VOTES_PER_DAY` used up (LimitReached).
    Precondition: `post` was fetched with a selector that checks the voter may read it.

    `optimistic`: lock the case and read the vote context in one statement when nobody else
    holds the lock (IntegrityError when that context went stale; see
    `selectors.case_live_try_lock_with_context`).
    """
    now = now or timezone.now()
    if not voter.local:
        raise NotAllowed("Only local accounts vote here; remote votes arrive signed.")
    verdict = _verdict_clean(verdict)
    reason_code = reason_code_clean(reason_code)
    comment = (comment or "").replace("\r\n", "\n").strip()
    if len(comment) > VOTE_COMMENT_MAX:
        raise Invalid(
            f"Comment is too long (maximum is {VOTE_COMMENT_MAX} characters)", field="comment"
        )
    _check_voter(voter, post)
    daily_quota = settings.MODERATION_VOTES_PER_DAY
    voter_key = str(voter.pk)
    found = None
    if optimistic:
        query = _context_query(voter_key, voter.pk, post, now=now, daily_quota=daily_quota)
        found = selectors.case_live_try_lock_with_context(post_id=post.pk, query=query)
    if found is not None:
        (case, context), created = found, False
    else:
        (case, created), context = _case_open_or_get(post, now=now), None
    return _record_vote(
        new_case=created,
        daily_quota=daily_quota,
        context=context,
        case=case,
        post=post,
        voter=voter,
        voter_key=voter_key,
        source=Vote.Source.LOCAL,
        verdict=verdict,
        reason_code=reason_code,
        comment=comment,
        content_version=content_version,
        uri="",
        facts=lambda interacted: selectors.voter_facts(voter=voter, now=now, interacted=interacted),
        now=now,
        actor_label=_actor_label(voter),
    )


@transaction.atomic
def vote_receive_remote(
    *,
    voter: Account,
    post: Post,
    verdict: str,
    uri: str,
    reason_code: str = "other",
    comment: str = "",
    content_version: str = "",
    now: datetime | None = None,
) -> Vote | None:
    """Apply a signed `ModerationVote` from a user of an OUR Voice peer to one of our posts.

    Returns the stored vote, or None when the activity id was seen before (replay). Refused
    with NotAllowed and nothing written: a local or suspended voter, the post's own author, a
    post that is not ours or not active. Votes on a decided case are kept, not counted.
    """
    now = now or timezone.now()
    if voter.local:
        raise NotAllowed("A remote vote must come from a remote actor.")
    verdict = _verdict_clean(verdict)
    if not post.local:
        raise NotAllowed("Votes are decided by the post's origin.")
    _check_voter(voter, post)
    if not uri or Vote.objects.filter(uri=uri).exists():
        return None
    comment = html_to_text(comment or "")[:VOTE_COMMENT_MAX]
    case, created = _case_open_or_get(post, now=now)
    return _record_vote(
        new_case=created,
        case=case,
        post=post,
        voter=voter,
        voter_key=str(voter.pk),
        source=Vote.Source.REMOTE,
        verdict=verdict,
        reason_code=reason_code_clean(reason_code, strict=False),
        comment=comment,
        content_version=(content_version or "")[:80],
        uri=uri,
        facts=lambda interacted: selectors.voter_facts(voter=voter, now=now, interacted=interacted),
        now=now,
        actor_label=_actor_label(voter),
    )


def _withdraw(vote: Vote, *, actor_label: str, now: datetime) -> bool:
    case = _lock_case(vote.case)
    vote = Vote.objects.get(pk=vote.pk)
    if not vote.active:
        return False
    if case.scope != Case.Scope.FORWARDED and not case.is_voting:
        audit_append(
            case=case,
            kind="vote.withdraw_late",
            actor=actor_label,
            payload={"vote": vote.id, "voter": vote.voter_key},
        )
        return False
    Vote.objects.filter(pk=vote.pk).update(active=False, withdrawn_at=now)
    tally.tally_apply(case, tally.Sums().plus(tally.vote_sums(vote), sign=-1))
    audit_append(
        case=case,
        kind="vote.withdrawn",
        actor=actor_label,
        payload={"vote": vote.id, "voter": vote.voter_key},
    )
    if case.scope == Case.Scope.FORWARDED and vote.source == Vote.Source.LOCAL:
        outbox_record(
            kind="moderation.vote.withdraw",
            payload={
                "vote_uri": vote.uri,
                "voter_id": vote.voter_id,
                "post_uri": case.post.uri,
                "undo_uri": f"{vote.uri}/undo",
            },
        )
    logger.info("moderation vote withdrawn case_id=%s vote_id=%s", case.id, vote.id)
    return True


@transaction.atomic
def vote_withdraw(*, voter: Account, case: Case, now: datetime | None = None) -> bool:
    """Withdraw the voter's active vote. True if withdrawn; False when there was none or the
    case is already decided (votes freeze at decision time; the attempt is logged)."""
    vote = selectors.vote_active_of(case=case, voter=voter)
    if vote is None:
        return False
    return _withdraw(vote, actor_label=_actor_label(voter), now=now or timezone.now())


@transaction.atomic
def vote_undo_remote(*, voter: Account, vote_uri: str, now: datetime | None = None) -> bool:
    """Apply an `Undo{ModerationVote}`: only the vote's own actor may withdraw it."""
    vote = Vote.objects.filter(uri=vote_uri, voter=voter, source=Vote.Source.REMOTE).first()
    if vote is None:
        return False
    return _withdraw(vote, actor_label=_actor_label(voter), now=now or timezone.now())


@transaction.atomic
def flag_receive(
    *, actor: Account, posts: Sequence[Post], activity_id: str, now: datetime | None = None
) -> list[Vote]:
    """A `Flag` from other software: on each named local post, one domain-level remove vote.

    The flagging domain counts as ONE voter per case (`voter_key` "domain:<host>"), weighed by
    the domain's tier and the age of our first sighting of the domain; a later Flag from the
    same domain replaces its earlier vote. A repeated activity id changes nothing.
    """
    now = now or timezone.now()
    votes: list[Vote] = []
    if actor.local:
        return votes
    for post in posts:
        if not post.local or post.state != Post.State.ACTIVE or post.author_id == actor.pk:
            continue
        uri = f"{activity_id}#post-{post.pk}"
        if Vote.objects.filter(uri=uri).exists():
            continue
        case, created = _case_open_or_get(post, now=now)
        votes.append(
            _record_vote(
                new_case=created,
                case=case,
                post=post,
                voter=actor,
                voter_key=rule.flag_voter_id(actor.domain),
                source=Vote.Source.FLAG,
                verdict=Vote.Verdict.REMOVE,
                reason_code="other",
                comment="",
                content_version="",
                uri=uri,
                facts=lambda _interacted: selectors.flag_voter_facts(domain=actor.domain, now=now),
                now=now,
                actor_label=f"domain:{actor.domain}",
            )
        )
    return votes


# --- Deciding --------------------------------------------------------------------------------


def _tally_dict(outcome: rule.Outcome) -> dict[str, Any]:
    data = asdict(outcome.tally)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in data.items()}


def _decision(
    case: Case,
    outcome_name: str,
    *,
    outcome: rule.Outcome | None = None,
    exposure: int = 0,
    by_admin: User | None = None,
    note: str = "",
    now: datetime,
) -> Decision:
    decision = Decision.objects.create(
        case=case,
        outcome=outcome_name,
        rule_version=outcome.rule_version if outcome else "",
        tally=_tally_dict(outcome) if outcome else {},
        reasons=list(outcome.reasons) if outcome else [],
        exposure=exposure,
        by_admin=by_admin,
        note=note,
        created_at=now,
    )
    audit_append(
        case=case,
        kind=f"decision.{outcome_name}",
        actor=_actor_label(user=by_admin),
        rule_version=decision.rule_version,
        payload={
            "decision": decision.id,
            "tally": decision.tally,
            "reasons": decision.reasons,
            "exposure": exposure,
            "note": note,
        },
    )
    return decision


def _set_state(
    case: Case, state: str, *, now: datetime, allowed_from: Iterable[str], **fields: Any
) -> bool:
    """Compare-and-set of the case state (the caller holds the row lock)."""
    changed = Case.objects.filter(pk=case.pk, state__in=list(allowed_from)).update(
        state=state, state_changed_at=now, **fields
    )
    if changed:
        previous = case.state
        case.state = state
        for name, value in fields.items():
            setattr(case, name, value)
        audit_append(
            case=case,
            kind="case.state",
            actor="system",
            payload={"from": previous, "to": state},
        )
    return bool(changed)


def _evaluate(
    case: Case, post: Post, now: datetime, config: rule.RuleConfig
) -> tuple[rule.Outcome, int]:
    post = Post.objects.get(pk=post.pk)  # the current version, whatever the caller holds
    facts = selectors.case_facts(case=case, post=post, now=now)
    return rule.evaluate(facts, config), facts.exposure


def _evaluate_open(*, case: Case, post: Post, now: datetime, config: rule.RuleConfig) -> None:
    """The sums say the rule could pass: evaluate from PostgreSQL and act on the outcome."""
    outcome, exposure = _evaluate(case, post, now, config)
    if not outcome.passes:
        return
    if outcome.held_for_review:
        if _set_state(case, Case.State.HELD, now=now, allowed_from=[Case.State.OPEN], held_at=now):
            post_set_collapsed(post=post, collapsed=True)
            _decision(case, Decision.Outcome.HELD, outcome=outcome, exposure=exposure, now=now)
            _notify_admins_of_case(case)
        return
    if config.grace_seconds <= 0:
        _remove(case=case, post=post, outcome=outcome, exposure=exposure, now=now)
        return
    due = now + timedelta(seconds=config.grace_seconds)
    if _set_state(
        case, Case.State.PENDING, now=now, allowed_from=[Case.State.OPEN], pending_until=due
    ):
        post_set_collapsed(post=post, collapsed=True)
        _decision(case, Decision.Outcome.PENDING, outcome=outcome, exposure=exposure, now=now)
        case_id = case.id
        transaction.on_commit(lambda: _schedule_finalize(case_id, config.grace_seconds))


FINALIZE_TASK = "moderation.tasks.moderation_case_finalize"


def _schedule_finalize(case_id: int, delay: float) -> None:
    try:
        task = current_app.tasks.get(FINALIZE_TASK)
        if task is not None:
            task.apply_async(args=[case_id], countdown=delay)
        else:
            current_app.send_task(FINALIZE_TASK, args=[case_id], countdown=delay)
    except Exception:  # broker down: the beat sweep finalizes due cases anyway
        logger.warning("moderation finalize not queued case_id=%s", case_id, exc_info=True)


def _remove(
    *,
    case: Case,
    post: Post,
    outcome: rule.Outcome | None,
    exposure: int,
    now: datetime,
    by_admin: User | None = None,
    note: str = "",
    allowed_from: Iterable[str] = (Case.State.OPEN, Case.State.PENDING),
) -> bool:
    """REMOVED: one compare-and-set on the case and on the post, one outbox event. True if it
    was this call that removed the post."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.state == Post.State.DELETED:
        _set_state(case, Case.State.MOOT, now=now, allowed_from=Case.LIVE_STATES)
        return False
    appeal_until = now + timedelta(days=settings.MODERATION_APPEAL_DAYS)
    if not _set_state(
        case,
        Case.State.REMOVED,
        now=now,
        allowed_from=allowed_from,
        decided_at=now,
        appeal_until=appeal_until,
        pending_until=None,
    ):
        return False
    _decision(
        case,
        Decision.Outcome.REMOVE,
        outcome=outcome,
        exposure=exposure,
        by_admin=by_admin,
        note=note,
        now=now,
    )
    if case.scope == Case.Scope.LOCAL:
        post_remove(
            post=post,
            activity_id=links.delete_activity_uri(case.id),
            extra={"summary": REMOVAL_SUMMARY, "decision": links.decision_uri(case.id)},
        )
        _message_author(case=case, post=post, appeal_until=appeal_until)
    else:
        post_remove(post=post)  # hidden here; nothing federates for someone else's post
        if case.scope == Case.Scope.REMOTE:
            _flag_origin(case=case, post=post, outcome=outcome, now=now)
    logger.info(
        "moderation removal case_id=%s post_id=%s scope=%s by_admin=%s",
        case.id,
        post.id,
        case.scope,
        by_admin.pk if by_admin else None,
    )
    return True


def _message_author(*, case: Case, post: Post, appeal_until: datetime) -> None:
    """A direct message from the moderation account: a `mention` every client shows."""
    moderation = system_actor_get(role=Account.Role.MODERATION)
    author = Account.objects.get(pk=post.author_id)
    text = (
        f"@{author.username} Your post {post.url or post.uri} was removed after a community "
        f"moderation vote. Details: {links.transparency_url(case.id)} . You can appeal until "
        f"{appeal_until:%Y-%m-%d %H:%M} UTC."
    )
    post_create(author=moderation, text=text, visibility=Visibility.DIRECT)


def _flag_origin(*, case: Case, post: Post, outcome: rule.Outcome | None, now: datetime) -> None:
    if case.flagged_origin_at is not None:
        return
    Case.objects.filter(pk=case.pk).update(flagged_origin_at=now)
    case.flagged_origin_at = now
    voters = outcome.tally.distinct_remove_voters if outcome else 0
    domains = outcome.tally.remote_domains if outcome else 0
    content = (
        f"Hidden on {settings.OURVOICE_DOMAIN} after a community vote "
        f"({voters} voters, {domains} remote servers). Details: {links.decision_uri(case.id)}"
    )
    outbox_record(
        kind="moderation.flag",
        payload={
            "case_id": case.id,
            "flag_uri": links.flag_activity_uri(case.id),
            "post_id": post.id,
            "content": content[:5000],
            "decision_url": links.decision_uri(case.id),
        },
    )


@transaction.atomic
def case_finalize(*, case: Case, now: datetime | None = None) -> str:
    """End of the grace period: re-check a PENDING case from PostgreSQL; returns the new state.

    Still passing: REMOVED (or HELD if the burst alarm now fires); not passing any more (votes
    withdrawn, keep votes): back to OPEN and the post expands. Not due yet: unchanged.
    """
    now = now or timezone.now()
    case = _lock_case(case)
    if case.state != Case.State.PENDING or (case.pending_until and case.pending_until > now):
        return case.state
    config = selectors.rule_config()
    post = case.post
    outcome, exposure = _evaluate(case, post, now, config)
    if outcome.removes:
        _remove(case=case, post=post, outcome=outcome, exposure=exposure, now=now)
    elif outcome.passes:
        _set_state(
            case,
            Case.State.HELD,
            now=now,
            allowed_from=[Case.State.PENDING],
            held_at=now,
            pending_until=None,
        )
        _decision(case, Decision.Outcome.HELD, outcome=outcome, exposure=exposure, now=now)
        _notify_admins_of_case(case)
    else:
        _set_state(
            case, Case.State.OPEN, now=now, allowed_from=[Case.State.PENDING], pending_until=None
        )
        post_set_collapsed(post=post, collapsed=False)
        audit_append(
            case=case,
            kind="grace.failed",
            actor="system",
            rule_version=outcome.rule_version,
            payload={"tally": _tally_dict(outcome), "reasons": list(outcome.reasons)},
        )
    return case.state


def cases_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Periodic upkeep: finalize due PENDING cases, return unhandled HELD cases to OPEN after
    24 h, close OPEN cases older than `MODERATION_CASE_MAX_DAYS` with no action."""
    now = now or timezone.now()
    counts = {"finalized": 0, "reopened": 0, "closed": 0}
    due = Case.objects.filter(state=Case.State.PENDING, pending_until__lte=now)
    for case in due.order_by("pending_until")[:limit]:
        case_finalize(case=case, now=now)
        counts["finalized"] += 1
    stale_held = Case.objects.filter(state=Case.State.HELD, held_at__lte=now - HELD_REVIEW_WINDOW)
    for case in stale_held[:limit]:
        with transaction.atomic():
            locked = _lock_case(case)
            if _set_state(
                locked, Case.State.OPEN, now=now, allowed_from=[Case.State.HELD], held_at=None
            ):
                post_set_collapsed(post=locked.post, collapsed=False)
                counts["reopened"] += 1
    max_days = settings.MODERATION_CASE_MAX_DAYS
    if max_days:
        old = Case.objects.filter(
            state=Case.State.OPEN, opened_at__lte=now - timedelta(days=max_days)
        )
        for case in old[:limit]:
            with transaction.atomic():
                locked = _lock_case(case)
                if _set_state(
                    locked,
                    Case.State.CLOSED,
                    now=now,
                    allowed_from=[Case.State.OPEN],
                    decided_at=now,
                ):
                    _decision(locked, Decision.Outcome.CLOSED, now=now, note="no action in time")
                    counts["closed"] += 1
    if any(counts.values()):
        logger.info("moderation sweep task=moderation_sweep %s", counts)
    return counts


@transaction.atomic
def case_mark_moot(*, post: Post, now: datetime | None = None) -> bool:
    """The author deleted the post: its undecided case becomes MOOT (no Delete is sent)."""
    now = now or timezone.now()
    case = Case.objects.select_for_update().filter(post=post, state__in=Case.VOTING_STATES).first()
    if case is None:
        return False
    return _set_state(
        case, Case.State.MOOT, now=now, allowed_from=Case.VOTING_STATES, decided_at=now
    )


# --- Appeals and admin actions ----------------------------------------------------------------


#: Why a case needs admins, as the comment of the report it files in the admin queue.
_CASE_ATTENTION = {
    Case.State.HELD: "held for review: a burst of remove votes from voters with no prior "
    "interaction with the author",
    Case.State.APPEALED: "appealed by the author",
    Case.State.REMOVED: "lost the basis of its removal after votes were voided: restore review",
}


def _notify_admins_of_case(case: Case) -> Report:
    """File a report in the admin queue for a case that needs admins (held, appealed, restore
    review): the moderation account reports the author's post, so admins get the usual
    `admin.report` notification and a queue entry they can resolve."""
    moderation = system_actor_get(role=Account.Role.MODERATION)
    why = _CASE_ATTENTION.get(case.state, case.state)
    report = Report.objects.create(
        reporter=moderation,
        target_account_id=case.author_id,
        status_ids=[case.post_id],
        comment=f"Case {case.id} {why}. {links.case_admin_hint(case.id)}"[:COMMENT_MAX_LENGTH],
        category=Report.Category.OTHER,
    )
    _report_recorded(report)
    return report


@transaction.atomic
def case_appeal(
    *, author: Account, case: Case, text: str = "", now: datetime | None = None
) -> Case:
    """The author appeals a removal within `MODERATION_APPEAL_DAYS` (once)."""
    now = now or timezone.now()
    case = _lock_case(case)
    if case.author_id != author.pk or not author.local:
        raise NotAllowed("Only the author of the post can appeal.")
    if case.state != Case.State.REMOVED:
        raise Conflict("Only a removed post can be appealed, once.")
    if case.appeal_until is None or case.appeal_until < now:
        raise Conflict("The appeal window has closed.")
    text = (text or "").strip()
    if len(text) > APPEAL_TEXT_MAX:
        raise Invalid(f"Appeal is too long (maximum is {APPEAL_TEXT_MAX} characters)", field="text")
    _set_state(
        case,
        Case.State.APPEALED,
        now=now,
        allowed_from=[Case.State.REMOVED],
        appealed_at=now,
        appeal_text=text,
    )
    _notify_admins_of_case(case)
    return case


def _admin_check(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise NotAllowed("Only admins can do this.")


def _restore_post(case: Case, post: Post) -> None:
    if post.state == Post.State.REMOVED:
        post_restore(post=post)


@transaction.atomic
def case_admin_veto(
    *, case: Case, admin: User, note: str = "", now: datetime | None = None
) -> Case:
    """Veto an undecided case (open, pending or held): closed, post kept and expanded."""
    _admin_check(admin)
    now = now or timezone.now()
    case = _lock_case(case)
    if not _set_state(
        case,
        Case.State.CLOSED,
        now=now,
        allowed_from=Case.VOTING_STATES,
        decided_at=now,
        pending_until=None,
    ):
        raise Conflict("Only an open, pending or held case can be vetoed.")
    post_set_collapsed(post=case.post, collapsed=False)
    _decision(case, Decision.Outcome.KEEP, by_admin=admin, note=note, now=now)
    return case


@transaction.atomic
def case_admin_release(
    *, case: Case, admin: User, note: str = "", now: datetime | None = None
) -> Case:
    """Release a held case after review: removed if the rule (without the alarm) still passes,
    else back to OPEN."""
    _admin_check(admin)
    now = now or timezone.now()
    case = _lock_case(case)
    if case.state != Case.State.HELD:
        raise Conflict("Only a held case can be released.")
    config = selectors.rule_config()
    outcome, exposure = _evaluate(case, case.post, now, config)
    audit_append(
        case=case, kind="admin.release", actor=_actor_label(user=admin), payload={"note": note}
    )
    if outcome.passes:
        _remove(
            case=case,
            post=case.post,
            outcome=outcome,
            exposure=exposure,
            now=now,
            by_admin=admin,
            note=note or "released after review",
            allowed_from=[Case.State.HELD],
        )
    else:
        _set_state(case, Case.State.OPEN, now=now, allowed_from=[Case.State.HELD], held_at=None)
        post_set_collapsed(post=case.post, collapsed=False)
    return case


@transaction.atomic
def case_admin_force_remove(
    *, case: Case, admin: User, note: str = "", now: datetime | None = None
) -> Case:
    """Remove at once, whatever the votes (legal fast path, admin judgement)."""
    _admin_check(admin)
    now = now or timezone.now()
    case = _lock_case(case)
    if not _remove(
        case=case,
        post=case.post,
        outcome=None,
        exposure=selectors.post_exposure(case.post),
        now=now,
        by_admin=admin,
        note=note,
        allowed_from=Case.VOTING_STATES,
    ):
        raise Conflict("This case is already decided.")
    return case


@transaction.atomic
def post_admin_force_remove(
    *, post: Post, admin: User, note: str = "", now: datetime | None = None
) -> Case:
    """Open (or take) the post's case and remove it by admin decision."""
    _admin_check(admin)
    now = now or timezone.now()
    case, _ = _case_open_or_get(post, now=now)
    return case_admin_force_remove(case=case, admin=admin, note=note, now=now)


@transaction.atomic
def case_admin_resolve_appeal(
    *, case: Case, admin: User, restore: bool, note: str = "", now: datetime | None = None
) -> Case:
    """Uphold the removal or restore the post after the author's appeal."""
    _admin_check(admin)
    now = now or timezone.now()
    case = _lock_case(case)
    if case.state != Case.State.APPEALED:
        raise Conflict("Only an appealed case can be resolved.")
    if restore:
        _set_state(case, Case.State.RESTORED, now=now, allowed_from=[Case.State.APPEALED])
        _restore_post(case, case.post)
        _decision(case, Decision.Outcome.RESTORE, by_admin=admin, note=note, now=now)
    else:
        _set_state(case, Case.State.UPHELD, now=now, allowed_from=[Case.State.APPEALED])
        _decision(case, Decision.Outcome.UPHOLD, by_admin=admin, note=note, now=now)
    return case


@transaction.atomic
def case_admin_restore(
    *, case: Case, admin: User, note: str = "", now: datetime | None = None
) -> Case:
    """Restore a removed post on the admins' own initiative (locally: restores never federate
    to Mastodon, whose Tombstone guard refuses the same URI again)."""
    _admin_check(admin)
    now = now or timezone.now()
    case = _lock_case(case)
    removed = (Case.State.REMOVED, Case.State.APPEALED, Case.State.UPHELD)
    if not _set_state(case, Case.State.RESTORED, now=now, allowed_from=removed):
        raise Conflict("Only a removed post can be restored.")
    _restore_post(case, case.post)
    _decision(case, Decision.Outcome.RESTORE, by_admin=admin, note=note, now=now)
    return case


@transaction.atomic
def votes_admin_void(
    *,
    admin: User,
    voter: Account | None = None,
    domain: str = "",
    cohort: str = "",
    note: str = "",
    now: datetime | None = None,
) -> int:
    """Void votes by one voter, one remote domain or one signup cohort ("2025-W07"), then
    recompute every affected undecided case from PostgreSQL. Returns how many votes were voided.

    A PENDING case that no longer passes returns to OPEN; a REMOVED case that loses its basis
    is logged for a restore review (admins decide with `case_admin_restore`).
    """
    _admin_check(admin)
    now = now or timezone.now()
    if sum(bool(x) for x in (voter, domain, cohort)) != 1:
        raise Invalid("Give exactly one of voter, domain or cohort.")
    qs = Vote.objects.filter(voided_at__isnull=True)
    if voter is not None:
        qs = qs.filter(voter=voter)
    elif domain:
        qs = qs.filter(domain=domain.strip().lower())
    else:
        qs = qs.filter(cohort=cohort.strip())
    case_ids = sorted(set(qs.values_list("case_id", flat=True)))
    selector = {"voter": voter.pk if voter else None, "domain": domain, "cohort": cohort}
    audit_append(
        case=None,
        kind="admin.void",
        actor=_actor_label(user=admin),
        payload={**selector, "cases": case_ids, "note": note},
    )
    voided = 0
    config = selectors.rule_config()
    for case in Case.objects.filter(pk__in=case_ids).order_by("pk"):
        case = _lock_case(case)
        n = qs.filter(case=case).update(voided_at=now)
        voided += n
        Case.objects.filter(pk=case.pk).update(tally_version=case.tally_version + 1)
        case.tally_version += 1
        audit_append(
            case=case,
            kind="admin.void",
            actor=_actor_label(user=admin),
            payload={**selector, "voided": n, "note": note},
        )
        outcome, _ = _evaluate(case, case.post, now, config)
        if case.state == Case.State.PENDING and not outcome.passes:
            _set_state(
                case,
                Case.State.OPEN,
                now=now,
                allowed_from=[Case.State.PENDING],
                pending_until=None,
            )
            post_set_collapsed(post=case.post, collapsed=False)
        elif case.state in (Case.State.REMOVED, Case.State.APPEALED) and not outcome.passes:
            audit_append(
                case=case,
                kind="restore_review",
                actor="system",
                rule_version=outcome.rule_version,
                payload={"tally": _tally_dict(outcome)},
            )
            _notify_admins_of_case(case)
    logger.info("moderation votes voided by=%s %s voided=%s", admin.pk, selector, voided)
    return voided


@transaction.atomic
def domain_tier_set(*, admin: User, domain: str, tier: str, note: str = "") -> Instance:
    """Set a remote domain's vote tier (trusted, standard, new, limited or "" for the default).

    Applies to votes cast from now on: weights already cast stay frozen (void and recompute to
    change those).
    """
    _admin_check(admin)
    if tier not in Instance.Tier.values:
        raise Invalid("Tier must be trusted, standard, new, limited or empty", field="tier")
    instance = instance_get_or_create(domain)
    previous = instance.moderation_tier
    instance_set_moderation_tier(instance=instance, tier=tier)
    audit_append(
        case=None,
        kind="admin.domain_tier",
        actor=_actor_label(user=admin),
        payload={"domain": instance.domain, "from": previous, "to": tier, "note": note},
    )
    return instance
