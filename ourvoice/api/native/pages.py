"""The server-rendered moderation page for logged-in users (Django session, CSRF-checked forms).

`/moderation` lists the cases the user may vote on with each post; `/moderation/cases/<id>`
shows one case (and a decided case's public outcome). Votes and withdrawals are POSTs that call
the same moderation services as the native API, then redirect back (post/redirect/get) with a
message. Voters see "under review" only, never a live tally (moderation.md §3.3).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from moderation import selectors, services
from moderation.models import Case
from ourvoice.accounts.models import Account
from ourvoice.api.native.entities import render_outcome, under_review
from ourvoice.api.native.views import case_for
from ourvoice.core.errors import ApplicationError, Conflict, NotFound
from ourvoice.interactions.selectors import Page, window
from ourvoice.posts.selectors import post_get_visible_to

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
VERDICT_LABELS = {"remove": "Remove", "keep": "Keep"}


def _viewer(request: HttpRequest) -> Account:
    account = getattr(request.user, "account", None)
    if account is None:  # e.g. a superuser made with createsuperuser, without an account
        raise Http404("No account")
    return account


def _cursor(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _reason_labels(reasons: list[tuple[str, str, str]]) -> dict[str, str]:
    return {code: text for code, text, _ in reasons}


def _item(
    case: Case,
    *,
    viewer: Account,
    post: Any,
    my_vote: Any,
    remove_voters: int,
    labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "case": case,
        "post": post,
        "my_vote": my_vote,
        "my_vote_label": VERDICT_LABELS.get(my_vote.verdict, "") if my_vote else "",
        "my_reason_label": labels.get(my_vote.reason_code, my_vote.reason_code) if my_vote else "",
        "under_review": under_review(case, remove_voters),
        "can_vote": case.is_voting and post is not None and case.author_id != viewer.pk,
    }


@never_cache
@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    page = Page(max_id=_cursor(request.GET.get("max_id")), limit=PAGE_SIZE)
    cases = window(selectors.cases_votable_for(viewer=viewer), page)
    mine = selectors.votes_active_for(cases=cases, voter=viewer)
    voters = selectors.cases_remove_voters(cases=cases)
    reasons = selectors.reason_choices()
    labels = _reason_labels(reasons)
    items = [
        _item(
            c,
            viewer=viewer,
            post=c.post,
            my_vote=mine.get(c.pk),
            remove_voters=voters.get(c.pk, 0),
            labels=labels,
        )
        for c in cases
    ]
    older = cases[-1].pk if len(cases) == PAGE_SIZE else None
    return render(
        request,
        "moderation/cases.html",
        {"items": items, "reasons": reasons, "older": older, "viewer": viewer},
    )


@never_cache
@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    viewer = _viewer(request)
    try:
        case, post = case_for(viewer, str(case_id))
    except NotFound:
        return render(request, "moderation/not_found.html", status=404)
    reasons = selectors.reason_choices()
    item = _item(
        case,
        viewer=viewer,
        post=post,
        my_vote=selectors.vote_active_of(case=case, voter=viewer),
        remove_voters=selectors.cases_remove_voters(cases=[case]).get(case.pk, 0),
        labels=_reason_labels(reasons),
    )
    outcome = None
    if not case.is_voting:
        outcome = render_outcome(
            case,
            selectors.decision_latest(case=case),
            selectors.decision_latest_tallied(case=case),
        )
    return render(
        request,
        "moderation/case.html",
        {"item": item, "reasons": reasons, "outcome": outcome, "viewer": viewer},
    )


def _back(request: HttpRequest, case_id: int) -> HttpResponseRedirect:
    if request.POST.get("back") == "detail":
        return HttpResponseRedirect(f"/moderation/cases/{case_id}")
    return HttpResponseRedirect(f"/moderation#case-{case_id}")


@login_required
@require_POST
def case_vote(request: HttpRequest, case_id: int) -> HttpResponse:
    viewer = _viewer(request)
    try:
        case = selectors.case_get(case_id=case_id)
        post = post_get_visible_to(viewer=viewer, post_id=case.post_id)
        if case.state not in Case.LIVE_STATES:
            raise Conflict("This case is closed.")
        vote = services.vote_cast(
            voter=viewer,
            post=post,
            verdict=request.POST.get("verdict", ""),
            reason_code=request.POST.get("reason", "") or "other",
            comment=request.POST.get("comment", ""),
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        label = VERDICT_LABELS.get(vote.verdict, vote.verdict)
        messages.success(request, f"Your vote ({label}) was recorded.")
    return _back(request, case_id)


@login_required
@require_POST
def case_withdraw(request: HttpRequest, case_id: int) -> HttpResponse:
    viewer = _viewer(request)
    try:
        case, _ = case_for(viewer, str(case_id))
        if services.vote_withdraw(voter=viewer, case=case):
            messages.success(request, "Your vote was withdrawn.")
        elif selectors.vote_active_of(case=case, voter=viewer) is not None:
            messages.error(request, "The case is decided: its votes can no longer be withdrawn.")
        else:
            messages.info(request, "You had no vote on this case.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(request, case_id)
