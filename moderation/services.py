"""Moderation services: filing and resolving reports.

Later the moderation issue turns reports into community votes (decisions.md, "Who votes"):
`report_create` with `post_ids` will also cast a "remove" vote by the reporter on each listed
post. Callers (the Mastodon reports endpoint) keep calling `report_create` unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from moderation.models import Report
from ourvoice.accounts.models import Account, User
from ourvoice.core.errors import Invalid, NotAllowed, NotFound
from ourvoice.core.models import InstanceRule
from ourvoice.core.outbox import outbox_record
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import posts_visible_q

logger = logging.getLogger(__name__)

#: Mastodon's limit on the report comment.
COMMENT_MAX_LENGTH = 1000
#: How many posts one report may list.
MAX_REPORTED_POSTS = 100


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

    A report without posts is an account report for the admin queue. The moderation issue
    will make a report with posts also cast a "remove" vote by `reporter` on each post (an
    ineligible vote keeps the report for admins and is not counted); `forward` only asks to
    send a `Flag` to a remote target's server and does not matter for votes.
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
    outbox_record(
        kind="report.created",
        payload={
            "report_id": report.id,
            "reporter_id": reporter.id,
            "target_account_id": target_account.id,
            "post_ids": report.status_ids,
        },
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
