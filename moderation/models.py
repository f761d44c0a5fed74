"""Moderation records: cases, votes, decisions, reports and the hash-chained audit log.

A `Case` is opened per post the first time someone votes on it (or a remote server flags it).
`Vote` rows are the source of truth for tallies (Redis only caches running sums); each keeps the
weight and its inputs frozen at cast time. A `Decision` records what the rule (or an admin)
decided with the tally behind it. `AuditEvent` is append-only: every state change, vote, void
and admin action, chained per case by SHA-256 (`moderation.audit`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ourvoice.accounts.models import Account
from ourvoice.core.fields import SnowflakeIdField
from ourvoice.posts.models import Post


class Report(models.Model):
    """A report by `reporter` about `target_account`, optionally about some of its posts.

    `status_ids` holds ids of the target's posts that the reporter could read when reporting
    (validated by `report_create`); they are plain ids, not foreign keys, so the report keeps
    its evidence list when a post is later deleted or removed.
    """

    class Category(models.TextChoices):
        SPAM = "spam", "Spam"
        LEGAL = "legal", "Illegal content"
        VIOLATION = "violation", "Violates server rules"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    id = SnowflakeIdField()
    reporter = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="reports_made")
    target_account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="reports_received"
    )
    #: Ids (integers) of reported posts by `target_account`; empty for an account report.
    status_ids = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True, default="", max_length=1000)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.OTHER)
    #: Ids (integers) of the `core.InstanceRule`s broken (category "violation" only).
    rule_ids = models.JSONField(default=list, blank=True)
    #: The reporter asked to forward the report to the target's server (remote targets only).
    forward = models.BooleanField(default=False)
    #: Id of the incoming `Flag` for a report from another server ("" for a local report).
    uri = models.URLField(max_length=2048, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    #: The admin who resolved it (null while open, or when resolved by the system).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        indexes = [
            models.Index(fields=["state", "-id"], name="report_state_id"),
            models.Index(fields=["target_account", "-id"], name="report_target_id"),
        ]

    def __str__(self) -> str:
        return f"Report {self.id} on {self.target_account_id} ({self.state})"

    @property
    def is_resolved(self) -> bool:
        return self.state == self.State.RESOLVED

    @property
    def forwarded(self) -> bool:
        """Mastodon's `forwarded`: asked for, and the target lives on another server."""
        return self.forward and bool(self.target_account.domain)


class Case(models.Model):
    """Community moderation of one post.

    `scope` says who decides: `local` (our post: the rule decides, removal federates as a
    Delete), `remote` (a post from non-OUR-Voice software: the rule decides a local hide and one
    aggregated Flag to its origin) or `forwarded` (another OUR Voice server's post: our users'
    votes are forwarded to its origin, which alone decides; nothing is decided here).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending (grace period)"
        HELD = "held", "Held for review"
        REMOVED = "removed", "Removed"
        APPEALED = "appealed", "Appealed"
        UPHELD = "upheld", "Upheld after appeal"
        RESTORED = "restored", "Restored"
        CLOSED = "closed", "Closed (no action)"
        MOOT = "moot", "Moot (deleted by its author)"

    class Scope(models.TextChoices):
        LOCAL = "local", "Local post (decided here)"
        REMOTE = "remote", "Remote post (hidden here, flagged to its origin)"
        FORWARDED = "forwarded", "OUR Voice peer's post (votes forwarded)"

    #: States in which votes count and the rule is evaluated.
    VOTING_STATES = (State.OPEN, State.PENDING, State.HELD)
    #: States of a case that still "owns" its post (at most one such case per post).
    LIVE_STATES = (
        State.OPEN,
        State.PENDING,
        State.HELD,
        State.REMOVED,
        State.APPEALED,
        State.UPHELD,
    )

    id = SnowflakeIdField()
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    #: Bumped whenever votes are voided or recomputed: Redis tally keys carry it.
    tally_version = models.PositiveIntegerField(default=1)
    opened_at = models.DateTimeField(default=timezone.now)
    last_vote_at = models.DateTimeField(null=True, blank=True)
    #: When a PENDING case is re-checked (end of the grace period).
    pending_until = models.DateTimeField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    #: The author may appeal until then (set on removal).
    appeal_until = models.DateTimeField(null=True, blank=True)
    appealed_at = models.DateTimeField(null=True, blank=True)
    appeal_text = models.TextField(blank=True, default="", max_length=2000)
    #: The aggregated Flag was sent to a remote origin (scope remote).
    flagged_origin_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["post"],
                condition=models.Q(
                    state__in=[
                        "open",
                        "pending",
                        "held",
                        "removed",
                        "appealed",
                        "upheld",
                    ]
                ),
                name="case_one_live_per_post",
            )
        ]
        indexes = [
            models.Index(fields=["state", "-id"], name="case_state_id"),
            models.Index(
                fields=["pending_until"],
                name="case_pending_due",
                condition=models.Q(state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.id} on post {self.post_id} ({self.state})"

    @property
    def is_voting(self) -> bool:
        return self.state in self.VOTING_STATES


class Vote(models.Model):
    """One vote on a case, with its weight and inputs frozen at cast time.

    `voter_key` identifies the voter for the rule: the account id, or `domain:<host>` for a
    `Flag` from another server (one domain-level voter, `voter` then names the flagging actor).
    Changing a vote deactivates the old row (kept, `replaced_at`) and adds a new one; at most
    one active vote per (case, voter). `counts` is false for a vote recorded but not counted
    (`not_counted` says why: late, own post, quota, ineligible, forwarded).
    """

    class Verdict(models.TextChoices):
        REMOVE = "remove", "Remove"
        KEEP = "keep", "Keep"

    class Source(models.TextChoices):
        LOCAL = "local", "Local user"
        REMOTE = "remote", "Remote OUR Voice user"
        FLAG = "flag", "Flag from another server (one domain-level voter)"

    id = SnowflakeIdField()
    # No single-column indexes: vote_case_active and vote_voter_cast lead with these columns.
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="votes", db_index=False)
    voter = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    voter_key = models.CharField(max_length=300)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LOCAL)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    #: An instance rule id ("rule:<id>"), or spam / legal / other.
    reason_code = models.CharField(max_length=32, blank=True, default="other")
    comment = models.TextField(blank=True, default="", max_length=500)
    #: ActivityPub id of the vote (ours for local votes, the remote ModerationVote id).
    #: Unique by the `vote_uri_unique` constraint (a plain btree: no LIKE lookups on it).
    uri = models.URLField(max_length=2048)
    #: The content version the voter saw ("sha256:<hex>").
    content_version = models.CharField(max_length=80, blank=True, default="")
    rule_version = models.CharField(max_length=16)
    ### weight and its inputs, frozen at cast time ###
    weight = models.FloatField(default=0.0)
    tier = models.CharField(max_length=16, default="local")
    tau = models.FloatField(default=1.0)
    alpha = models.FloatField(default=1.0)
    rho = models.FloatField(default=1.0)
    age_days = models.FloatField(default=0.0)
    domain = models.CharField(max_length=255, blank=True, default="")
    cohort = models.CharField(max_length=10, blank=True, default="")
    prior_interaction = models.BooleanField(default=False)
    counts = models.BooleanField(default=True)
    not_counted = models.CharField(max_length=32, blank=True, default="")
    cast_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True)
    #: Set when the voter changed (a newer row replaces it) or withdrew the vote.
    replaced_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    #: Set when an admin voided the vote (it no longer counts; the row stays).
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "voter_key"],
                condition=models.Q(active=True),
                name="vote_one_active_per_voter",
            ),
            models.UniqueConstraint(fields=["uri"], name="vote_uri_unique"),
        ]
        indexes = [
            models.Index(fields=["voter", "-cast_at"], name="vote_voter_cast"),
            models.Index(fields=["case", "active"], name="vote_case_active"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.voter_key} on case {self.case_id}"


class Decision(models.Model):
    """An outcome of a case: by the rule (`by_admin` empty) or by an admin, with its tally."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Rule passed: grace period started"
        HELD = "held", "Held for review (burst alarm)"
        REMOVE = "remove", "Removed"
        KEEP = "keep", "Kept"
        CLOSED = "closed", "Closed with no action"
        UPHOLD = "uphold", "Upheld after appeal"
        RESTORE = "restore", "Restored"
        MOOT = "moot", "Moot"

    id = SnowflakeIdField()
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    rule_version = models.CharField(max_length=16, blank=True, default="")
    #: The rule's numbers (moderation.rule.Tally as a dict) at decision time.
    tally = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    exposure = models.PositiveIntegerField(default=0)
    by_admin = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["case", "-created_at"], name="decision_case_created")]

    def __str__(self) -> str:
        return f"{self.outcome} on case {self.case_id}"


class AuditEvent(models.Model):
    """Append-only, hash-chained log of every moderation step.

    Each case has its own chain (`case` set, `seq` 1, 2, ...); events about no single case
    (domain tiers, bulk voids) form the global chain (`case` null). `hash` =
    SHA-256(`prev_hash` + canonical JSON of the event); `moderation.audit.audit_chain_verify`
    recomputes it. Rows are never updated or deleted by the application.
    """

    id = models.BigAutoField(primary_key=True)
    #: No database constraint: the log outlives any case row (the id is part of the hash).
    case = models.ForeignKey(
        Case,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_case_seq (case, seq) serves lookups by case
        related_name="audit_events",
    )
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    #: Who acted: "account:<id>", "admin:<user id>", "system" or "domain:<host>".
    actor = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    rule_version = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    #: Not indexed: nothing looks an event up by its hash (chains are read by case and seq),
    #: and (case, seq) is unique already, which the hashed document includes.
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="audit_case_seq"),
            models.UniqueConstraint(
                fields=["seq"], condition=models.Q(case__isnull=True), name="audit_global_seq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} (case {self.case_id})"
