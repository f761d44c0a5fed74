"""Django admin for community moderation (decisions.md, "Admins"; moderation.md §3.5).

Every page here is read-only: cases, votes, decisions and the audit log are written by
`moderation.services` alone. Admin steps are actions and small forms that call those services
with a reason note, and each service writes its own audit event:

- cases: list by state and scope, the post, its author, the live tally (Redis running sums next
  to the rule evaluated from PostgreSQL), the votes with voter identity, weight and inputs
  (admins only: the public page never names voters), the decisions; actions veto, release,
  force removal, uphold or restore after an appeal, restore;
- "Void votes" (by voter, remote domain or signup cohort), "Domain tiers" and "Remove a post"
  (legal fast path) forms, linked from the case list;
- the report queue (local reports and remote Flags) with "Mark resolved";
- the audit log with "Verify chain" (every chain, or the chains of the selected events).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from federation.models import Instance
from moderation import links, selectors_admin
from moderation.audit import audit_chain_verify, audit_head
from moderation.models import AuditEvent, Case, Decision, Report, Vote
from moderation.services import (
    case_admin_force_remove,
    case_admin_release,
    case_admin_resolve_appeal,
    case_admin_restore,
    case_admin_veto,
    domain_tier_set,
    post_admin_force_remove,
    report_resolve,
    votes_admin_void,
)
from moderation.transparency import DECIDED_STATES
from ourvoice.accounts.models import Account
from ourvoice.accounts.selectors import account_get_by_acct
from ourvoice.core.adminkit import ReadOnlyAdminMixin
from ourvoice.core.errors import ApplicationError, NotFound
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import post_get_by_uri

NOTE_MAX = 2000
COHORT_RE = re.compile(r"^\d{4}-W\d{2}$")


def _pretty_json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def _can_moderate(request: HttpRequest) -> bool:
    return request.user.has_perm("moderation.change_case")


# --- Forms -----------------------------------------------------------------------------------


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Reason",
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        help_text="Recorded with the decision and in the audit log (never shown publicly).",
    )


class VoidVotesForm(NoteForm):
    voter = forms.CharField(
        required=False,
        help_text="Account id, or user / user@domain: voids every vote of this voter.",
    )
    domain = forms.CharField(required=False, help_text="Remote domain: voids its votes and Flags.")
    cohort = forms.CharField(
        required=False, help_text='Signup cohort (ISO week, e.g. "2025-W07") of the voters.'
    )

    field_order = ("voter", "domain", "cohort", "note")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        given = [name for name in ("voter", "domain", "cohort") if data.get(name, "").strip()]
        if len(given) != 1:
            raise forms.ValidationError("Give exactly one of voter, domain or cohort.")
        voter = data.get("voter", "").strip()
        data["voter_account"] = None
        if voter:
            try:
                data["voter_account"] = (
                    Account.objects.get(pk=int(voter))
                    if voter.isdigit()
                    else account_get_by_acct(acct=voter, include_suspended=True)
                )
            except (Account.DoesNotExist, NotFound):
                self.add_error("voter", "No such account.")
        cohort = data.get("cohort", "").strip()
        if cohort and not COHORT_RE.match(cohort):
            self.add_error("cohort", 'A cohort looks like "2025-W07".')
        return data


class DomainTierForm(NoteForm):
    domain = forms.CharField(max_length=255)
    tier = forms.ChoiceField(choices=Instance.Tier.choices, required=False)

    field_order = ("domain", "tier", "note")


class RemovePostForm(NoteForm):
    post = forms.CharField(label="Post id or URI", max_length=2048)

    field_order = ("post", "note")

    def clean_post(self) -> Post:
        value = self.cleaned_data["post"].strip()
        post = (
            Post.objects.filter(pk=int(value)).first()
            if value.isdigit()
            else post_get_by_uri(uri=value)
        )
        if post is None:
            raise forms.ValidationError("No such post.")
        return post


# --- Reports ---------------------------------------------------------------------------------


class ReportOriginFilter(admin.SimpleListFilter):
    title = "origin"
    parameter_name = "origin"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("local", "Local report"), ("remote", "Flag from another server")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Report]) -> QuerySet[Report]:
        if self.value() == "local":
            return queryset.filter(uri="")
        if self.value() == "remote":
            return queryset.exclude(uri="")
        return queryset


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The report queue: local reports and remote Flags, read-only, with "Mark resolved"."""

    list_display = (
        "id",
        "created_at",
        "origin",
        "reporter",
        "target_account",
        "category",
        "reported_posts",
        "forward",
        "state",
        "resolved_at",
    )
    list_filter = (
        "state",
        ReportOriginFilter,
        "category",
        "forward",
        "target_account__domain",
    )
    list_select_related = ("reporter", "target_account", "resolved_by")
    search_fields = (
        "=id",
        "reporter__username",
        "target_account__username",
        "target_account__domain",
        "comment",
        "uri",
    )
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = (
        "id",
        "state",
        "reporter",
        "target_account",
        "category",
        "rule_ids",
        "status_ids",
        "comment",
        "forward",
        "uri",
        "created_at",
        "resolved_at",
        "resolved_by",
    )
    readonly_fields = fields
    actions = ("mark_resolved",)

    @admin.display(description="posts")
    def reported_posts(self, obj: Report) -> int:
        return len(obj.status_ids or [])

    @admin.display(description="origin")
    def origin(self, obj: Report) -> str:
        return "remote Flag" if obj.uri else "local"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        # The pages are read-only, but resolving is a change: keep Django's permission for it.
        return request.user.has_perm("moderation.change_report")

    @admin.action(description="Mark resolved", permissions=["resolve"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Report]) -> None:
        """Resolve each selected open report through `report_resolve`."""
        done = sum(
            1 for report in queryset if report_resolve(report=report, resolved_by=request.user)
        )
        skipped = queryset.count() - done
        self.message_user(request, f"{done} report(s) marked resolved.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} were already resolved.", messages.INFO)


# --- Cases -----------------------------------------------------------------------------------

VOTE_FIELDS = (
    "voter_identity",
    "source",
    "verdict",
    "reason_code",
    "comment",
    "weight",
    "tier",
    "tau",
    "alpha",
    "rho",
    "age_days",
    "domain",
    "cohort",
    "prior_interaction",
    "counts",
    "not_counted",
    "cast_at",
    "active",
    "voided_at",
)


class VoteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Vote
    fields = VOTE_FIELDS
    readonly_fields = VOTE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-cast_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vote]:
        return super().get_queryset(request).select_related("voter")

    @admin.display(description="voter")
    def voter_identity(self, obj: Vote) -> str:
        return format_html(
            '<a href="{}">{}</a> <span class="quiet">{}</span>',
            reverse("admin:accounts_account_change", args=[obj.voter_id]),
            obj.voter.acct,
            obj.voter_key,
        )


class DecisionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Decision
    fields = (
        "created_at",
        "outcome",
        "rule_version",
        "tally",
        "reasons",
        "exposure",
        "by_admin",
        "note",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at",)


@admin.register(Case)
class CaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "state",
        "scope",
        "post_link",
        "author",
        "opened_at",
        "last_vote_at",
        "decided_at",
    )
    list_filter = ("state", "scope")
    list_select_related = ("post", "author")
    search_fields = ("=id", "=post__id", "post__uri", "author__username", "author__domain")
    date_hierarchy = "opened_at"
    ordering = ("-id",)
    fields = (
        "id",
        "state",
        "scope",
        "post_link",
        "author",
        "live_tally",
        "opened_at",
        "last_vote_at",
        "pending_until",
        "held_at",
        "decided_at",
        "appeal_until",
        "appealed_at",
        "appeal_text",
        "flagged_origin_at",
        "state_changed_at",
        "tally_version",
        "public_links",
        "audit_trail",
    )
    readonly_fields = fields
    inlines = (VoteInline, DecisionInline)
    actions = (
        "veto",
        "release",
        "force_remove",
        "appeal_uphold",
        "appeal_restore",
        "restore",
    )

    def has_moderate_permission(self, request: HttpRequest) -> bool:
        return _can_moderate(request)

    # --- display ---

    @admin.display(description="post")
    def post_link(self, obj: Case) -> str:
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("admin:posts_post_change", args=[obj.post_id]),
            obj.post_id,
            obj.post.state,
        )

    @admin.display(description="live tally")
    def live_tally(self, obj: Case) -> str:
        live = selectors_admin.case_live_tally(case=obj)
        t = live.outcome.tally
        if live.sums is None:
            sums = "no Redis key (case decided; nothing cached)"
        else:
            sums = (
                f"remove weight {live.sums.rw:.3f} from {live.sums.rn} voters "
                f"({live.sums.rc} votes), keep weight {live.sums.kw:.3f} from {live.sums.kn}"
            )
        if live.outcome.removes:
            verdict = "passes: would remove"
        elif live.outcome.passes:
            verdict = "passes, but held for review (burst alarm)"
        else:
            verdict = "does not pass"
        rows = [
            ("Redis running sums (before caps)", sums),
            ("Rule", f"{live.outcome.rule_version} now: {verdict}"),
            ("Remove weight (after caps)", f"{t.remove_weight:.3f}"),
            ("Keep weight (after caps)", f"{t.keep_weight:.3f}"),
            (
                "Threshold",
                f"T = {live.config.removal_threshold:g}, T_eff = {t.threshold:.3f} "
                f"(exposure {live.exposure})",
            ),
            (
                "Remove voters",
                f"{t.distinct_remove_voters} (minimum {live.config.min_distinct_voters})",
            ),
            ("Counted votes", str(t.counted_votes)),
            ("Remote domains", f"{t.remote_domains} (remote share {t.remote_share:.0%})"),
            ("Remove share", f"{t.remove_share:.1%} (needed {live.config.supermajority:.1%})"),
            ("Burst share", f"{t.burst_share:.0%}"),
            (
                "Weight by tier",
                ", ".join(f"{k} {v:.3f}" for k, v in t.weight_by_tier.items() if v) or "-",
            ),
            ("Reasons", "; ".join(live.outcome.reasons) or "-"),
        ]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="live-tally">{}</table>', body)

    @admin.display(description="public")
    def public_links(self, obj: Case) -> str:
        if obj.state not in DECIDED_STATES:
            return "not decided: no public page yet"
        return format_html(
            '<a href="{}">transparency page</a> · <a href="{}">decision notice</a>',
            links.transparency_url(obj.id),
            links.decision_uri(obj.id),
        )

    @admin.display(description="audit log")
    def audit_trail(self, obj: Case) -> str:
        url = reverse("admin:moderation_auditevent_changelist")
        verify = reverse("admin:moderation_audit_verify")
        return format_html(
            '<a href="{}?q={}">{} events</a>, head <code>{}</code> · '
            '<a href="{}?case={}">verify this chain</a>',
            url,
            obj.id,
            obj.audit_events.count(),
            audit_head(case=obj),
            verify,
            obj.id,
        )

    # --- actions (each through its service, with a reason note) ---

    def _run(
        self,
        request: HttpRequest,
        queryset: QuerySet[Case],
        *,
        action: str,
        title: str,
        call: Callable[..., Any],
    ) -> HttpResponse | None:
        """Ask for the reason on an intermediate page, then call the service per case."""
        if "apply" in request.POST:
            form = NoteForm(request.POST)
            if form.is_valid():
                note = form.cleaned_data["note"]
                done, refused = 0, []
                for case in queryset.order_by("pk"):
                    try:
                        call(case=case, admin=request.user, note=note)
                        done += 1
                    except ApplicationError as exc:
                        refused.append(f"case {case.pk}: {exc.message}")
                self.message_user(request, f"{title}: {done} case(s) done.", messages.SUCCESS)
                if refused:
                    self.message_user(request, "Refused: " + "; ".join(refused), messages.WARNING)
                return None
        else:
            form = NoteForm()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "cases": list(queryset.order_by("pk")),
            "form": form,
            "action": action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/moderation/case/action_note.html", context)

    @admin.action(
        description="Veto (open, pending or held: keep the post)", permissions=["moderate"]
    )
    def veto(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(request, queryset, action="veto", title="Veto", call=case_admin_veto)

    @admin.action(description="Release held case (rule decides)", permissions=["moderate"])
    def release(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(
            request, queryset, action="release", title="Release", call=case_admin_release
        )

    @admin.action(description="Force removal", permissions=["moderate"])
    def force_remove(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(
            request,
            queryset,
            action="force_remove",
            title="Force removal",
            call=case_admin_force_remove,
        )

    @admin.action(description="Appeal: uphold the removal", permissions=["moderate"])
    def appeal_uphold(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(
            request,
            queryset,
            action="appeal_uphold",
            title="Uphold after appeal",
            call=lambda **kw: case_admin_resolve_appeal(restore=False, **kw),
        )

    @admin.action(description="Appeal: restore the post", permissions=["moderate"])
    def appeal_restore(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(
            request,
            queryset,
            action="appeal_restore",
            title="Restore after appeal",
            call=lambda **kw: case_admin_resolve_appeal(restore=True, **kw),
        )

    @admin.action(description="Restore a removed post", permissions=["moderate"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Case]) -> HttpResponse | None:
        return self._run(
            request, queryset, action="restore", title="Restore", call=case_admin_restore
        )

    # --- forms: void votes, domain tiers, remove a post ---

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("void-votes/", wrap(self.void_votes_view), name="moderation_void_votes"),
            path("domain-tier/", wrap(self.domain_tier_view), name="moderation_domain_tier"),
            path("remove-post/", wrap(self.remove_post_view), name="moderation_remove_post"),
            *super().get_urls(),
        ]

    def _form_page(
        self, request: HttpRequest, *, title: str, form: forms.Form, **extra: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            **extra,
        }
        return TemplateResponse(request, "admin/moderation/case/form_page.html", context)

    def void_votes_view(self, request: HttpRequest) -> HttpResponse:
        """Void votes by voter, domain or cohort: a preview first, then `votes_admin_void`."""
        if not _can_moderate(request):
            return HttpResponse("Forbidden", status=403)
        title = "Void votes"
        if request.method != "POST":
            form = VoidVotesForm(initial={k: request.GET.get(k, "") for k in ("voter", "domain")})
            return self._form_page(request, title=title, form=form)
        form = VoidVotesForm(request.POST)
        if not form.is_valid():
            return self._form_page(request, title=title, form=form)
        data = form.cleaned_data
        selector = {
            "voter": data["voter_account"],
            "domain": data["domain"].strip(),
            "cohort": data["cohort"].strip(),
        }
        if "_confirm" not in request.POST:
            votes = selectors_admin.votes_voidable(**selector)
            preview = {
                "votes": votes.count(),
                "cases": votes.values("case_id").distinct().count(),
            }
            return self._form_page(request, title=title, form=form, preview=preview)
        try:
            n = votes_admin_void(admin=request.user, note=data["note"], **selector)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            return self._form_page(request, title=title, form=form)
        self.message_user(
            request, f"{n} vote(s) voided; affected cases recomputed.", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:moderation_case_changelist"))

    def domain_tier_view(self, request: HttpRequest) -> HttpResponse:
        """Set a remote domain's vote tier through `domain_tier_set`."""
        if not _can_moderate(request):
            return HttpResponse("Forbidden", status=403)
        title = "Domain tiers"
        tiers = selectors_admin.domain_tiers_set()
        if request.method != "POST":
            form = DomainTierForm(initial={"domain": request.GET.get("domain", "")})
            return self._form_page(request, title=title, form=form, tiers=tiers)
        form = DomainTierForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                instance = domain_tier_set(
                    admin=request.user, domain=data["domain"], tier=data["tier"], note=data["note"]
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                label = instance.moderation_tier or "default"
                self.message_user(
                    request, f"{instance.domain}: tier set to {label}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:moderation_domain_tier"))
        return self._form_page(request, title=title, form=form, tiers=tiers)

    def remove_post_view(self, request: HttpRequest) -> HttpResponse:
        """Legal fast path: remove a post at once by admin decision (`post_admin_force_remove`)."""
        if not _can_moderate(request):
            return HttpResponse("Forbidden", status=403)
        title = "Remove a post"
        if request.method != "POST":
            return self._form_page(request, title=title, form=RemovePostForm())
        form = RemovePostForm(request.POST)
        if form.is_valid():
            try:
                case = post_admin_force_remove(
                    post=form.cleaned_data["post"],
                    admin=request.user,
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Post removed (case {case.pk}).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:moderation_case_change", args=[case.pk]))
        return self._form_page(request, title=title, form=form)


# --- Votes and decisions (read-only) -----------------------------------------------------------


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "case",
        "voter",
        "source",
        "verdict",
        "reason_code",
        "weight",
        "tier",
        "domain",
        "cohort",
        "counts",
        "active",
        "voided_at",
        "cast_at",
    )
    list_filter = ("source", "verdict", "active", "counts", "tier", "not_counted")
    list_select_related = ("case", "voter")
    search_fields = ("=case__id", "voter_key", "voter__username", "domain", "cohort", "uri")
    date_hierarchy = "cast_at"
    ordering = ("-id",)
    readonly_fields = [f.name for f in Vote._meta.fields]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "case", "outcome", "rule_version", "exposure", "by_admin", "created_at")
    list_filter = ("outcome", "rule_version")
    list_select_related = ("case", "by_admin")
    search_fields = ("=case__id", "note")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = (
        "id",
        "case",
        "outcome",
        "rule_version",
        "tally_pretty",
        "reasons",
        "exposure",
        "by_admin",
        "note",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="tally")
    def tally_pretty(self, obj: Decision) -> str:
        return _pretty_json(obj.tally)


# --- Audit log -----------------------------------------------------------------------------------


class ActorKindFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("account", "Account"),
            ("admin", "Admin"),
            ("system", "System"),
            ("domain", "Remote domain"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet:
        value = self.value()
        if value == "system":
            return queryset.filter(actor="system")
        if value:
            return queryset.filter(actor__startswith=f"{value}:")
        return queryset


class ChainFilter(admin.SimpleListFilter):
    title = "chain"
    parameter_name = "chain"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("global", "Global (domain tiers, bulk voids)"), ("case", "Case chains")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet:
        if self.value() == "global":
            return queryset.filter(case_id__isnull=True)
        if self.value() == "case":
            return queryset.filter(case_id__isnull=False)
        return queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The append-only log; search a case id to see its chain, "Verify chain" to check it."""

    list_display = ("id", "case_id", "seq", "kind", "actor", "created_at", "short_hash")
    list_filter = (ChainFilter, "kind", ActorKindFilter)
    search_fields = ("kind", "actor")
    ordering = ("-id",)
    fields = (
        "id",
        "case_id",
        "seq",
        "kind",
        "actor",
        "payload_pretty",
        "rule_version",
        "created_at",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields
    actions = ("verify_chains",)
    show_full_result_count = False

    @admin.display(description="hash")
    def short_hash(self, obj: AuditEvent) -> str:
        return obj.hash[:12]

    @admin.display(description="payload")
    def payload_pretty(self, obj: AuditEvent) -> str:
        return _pretty_json(obj.payload)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """A number is a case id (its whole chain); anything else searches kind and actor."""
        term = search_term.strip()
        if term.isdigit():
            return queryset.filter(case_id=int(term)), False
        if term.lower() == "global":
            return queryset.filter(case_id__isnull=True), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self) -> list[URLPattern]:
        verify = path(
            "verify/",
            self.admin_site.admin_view(self.verify_view),
            name="moderation_audit_verify",
        )
        return [verify, *super().get_urls()]

    def _verify_page(
        self, request: HttpRequest, case_ids: list[int | None] | None
    ) -> TemplateResponse:
        problems = audit_chain_verify(case_ids=case_ids)
        if case_ids is None:
            chains = AuditEvent.objects.values("case_id").distinct().count()
            events = AuditEvent.objects.count()
        else:
            chains = len(case_ids)
            events = AuditEvent.objects.filter(
                case_id__in=[c for c in case_ids if c is not None]
            ).count()
            if None in case_ids:
                events += AuditEvent.objects.filter(case_id__isnull=True).count()
        heads = [
            ("global", audit_head(case=None)),
            *[(str(c), audit_head(case=Case(pk=c))) for c in (case_ids or []) if c is not None][
                :50
            ],
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit chain check",
            "opts": self.model._meta,
            "problems": problems,
            "chains": chains,
            "events": events,
            "heads": heads,
            "scope": "every chain" if case_ids is None else f"{len(case_ids)} chain(s)",
        }
        return TemplateResponse(request, "admin/moderation/auditevent/verify.html", context)

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        """Recompute every hash chain (or `?case=<id>`, `?case=global`) and show the problems."""
        if not self.has_view_permission(request):
            return HttpResponse("Forbidden", status=403)
        case = request.GET.get("case", "").strip()
        case_ids: list[int | None] | None = None
        if case == "global":
            case_ids = [None]
        elif case.isdigit():
            case_ids = [int(case)]
        return self._verify_page(request, case_ids)

    @admin.action(description="Verify the chains of the selected events")
    def verify_chains(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent]
    ) -> TemplateResponse:
        case_ids = sorted(
            set(queryset.values_list("case_id", flat=True)), key=lambda c: (c is not None, c or 0)
        )
        return self._verify_page(request, list(case_ids))
