"""Native API (`/api/ourvoice/v1/`): community moderation cases, votes, outcomes and appeals.

Same tokens, scope checks, parameter parsing, errors and pagination as the Mastodon API
(`MastodonView`). Scopes: reading cases needs `read:statuses` (a case is a post under review;
`read` covers it); voting, withdrawing and appealing need `write:reports`, because Mastodon's
scope model files community votes with reports (`POST /api/v1/reports` casts the same votes).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from moderation import selectors, services
from moderation.models import Case
from ourvoice.accounts.models import Account
from ourvoice.api.mastodon.base import MastodonView
from ourvoice.api.mastodon.entities import render_status
from ourvoice.api.mastodon.pagination import page_from, window
from ourvoice.api.native import schema
from ourvoice.api.native.entities import (
    CaseView,
    render_case,
    render_outcome,
    render_vote,
    statuses_for,
)
from ourvoice.core.errors import Conflict, NotFound
from ourvoice.posts.models import Post
from ourvoice.posts.selectors import post_get_visible_to

READ = "read:statuses"
WRITE = "write:reports"

CASE_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="Case id")
STATUS_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="Status id")


def readable_post(viewer: Account, post_id: int) -> Post | None:
    try:
        return post_get_visible_to(viewer=viewer, post_id=post_id)
    except NotFound:
        return None


def case_for(viewer: Account, case_id: str) -> tuple[Case, Post | None]:
    """A case the viewer may look at, with its post when the viewer can read it.

    Open cases are visible to whoever can read the post and to its author; decided cases are
    public (their transparency page is), their post only to those who can still read it.
    """
    case = selectors.case_get(case_id=case_id)
    post = readable_post(viewer, case.post_id)
    if post is None and case.is_voting and case.author_id != viewer.pk:
        raise NotFound("Record not found")
    return case, post


def case_view(case: Case, post: Post | None, viewer: Account) -> CaseView:
    outcome = None
    if not case.is_voting:
        outcome = render_outcome(
            case,
            selectors.decision_latest(case=case),
            selectors.decision_latest_tallied(case=case),
        )
    return CaseView(
        case=case,
        status=render_status(post, viewer=viewer) if post is not None else None,
        my_vote=selectors.vote_active_of(case=case, voter=viewer),
        remove_voters=selectors.cases_remove_voters(cases=[case]).get(case.pk, 0),
        outcome=outcome,
    )


def case_response(case_id: int, viewer: Account) -> Response:
    case, post = case_for(viewer, str(case_id))
    return Response(render_case(case_view(case, post, viewer), viewer=viewer))


class NativeView(MastodonView):
    """A native API view: `MastodonView` with the OAuth security scheme in the schema."""


class CaseList(NativeView):
    scopes = {"GET": READ}

    @extend_schema(
        summary="Cases the user may vote on",
        description=(
            "Open, pending and held cases on posts the user can read and did not write, newest "
            "first, paginated with a `Link` header like Mastodon lists."
        ),
        parameters=schema.PAGE_PARAMETERS,
        responses={200: schema.CaseSerializer(many=True), **schema.errors()},
    )
    def get(self, request: Request) -> Response:
        viewer = self.viewer
        page = page_from(self.params)
        cases = window(selectors.cases_votable_for(viewer=viewer), page)
        statuses = statuses_for(cases, viewer=viewer)
        mine = selectors.votes_active_for(cases=cases, voter=viewer)
        voters = selectors.cases_remove_voters(cases=cases)
        data = [
            render_case(
                CaseView(
                    case=c,
                    status=statuses[c.pk],
                    my_vote=mine.get(c.pk),
                    remove_voters=voters.get(c.pk, 0),
                ),
                viewer=viewer,
            )
            for c in cases
        ]
        return self.paginated(request, data, [c.pk for c in cases], page)


class CaseDetail(NativeView):
    scopes = {"GET": READ}

    @extend_schema(
        summary="One case",
        description=(
            "The case as its voters see it; a decided case also shows its public outcome "
            "(never voter identities)."
        ),
        parameters=[CASE_ID],
        responses={200: schema.CaseSerializer, **schema.errors(404)},
    )
    def get(self, request: Request, id: str) -> Response:
        case, post = case_for(self.viewer, id)
        return Response(render_case(case_view(case, post, self.viewer), viewer=self.viewer))


def _vote_input(view: MastodonView) -> dict[str, str]:
    p = view.params
    return {
        "verdict": p.str("verdict"),
        "reason_code": p.str("reason") or "other",
        "comment": p.str("comment"),
    }


class CaseVote(NativeView):
    scopes = {"POST": WRITE, "DELETE": WRITE}

    @extend_schema(
        summary="Cast or change a vote on a case",
        parameters=[CASE_ID],
        request=schema.VoteRequestSerializer,
        responses={200: schema.VoteSerializer, **schema.errors(404, 422, 429)},
    )
    def post(self, request: Request, id: str) -> Response:
        case = selectors.case_get(case_id=id)
        post = post_get_visible_to(viewer=self.viewer, post_id=case.post_id)
        if case.state not in Case.LIVE_STATES:
            raise Conflict("This case is closed; vote on the post to open a new one.")
        vote = services.vote_cast(voter=self.viewer, post=post, **_vote_input(self))
        return Response(render_vote(vote))

    @extend_schema(
        summary="Withdraw your vote on a case",
        description="Answers the case. A vote on a decided case cannot be withdrawn (422).",
        parameters=[CASE_ID],
        responses={200: schema.CaseSerializer, **schema.errors(404, 422)},
    )
    def delete(self, request: Request, id: str) -> Response:
        case, _ = case_for(self.viewer, id)
        withdraw(self.viewer, case)
        return case_response(case.pk, self.viewer)


def withdraw(viewer: Account, case: Case) -> None:
    withdrawn = services.vote_withdraw(voter=viewer, case=case)
    if not withdrawn and selectors.vote_active_of(case=case, voter=viewer) is not None:
        raise Conflict("The case is decided: its votes can no longer be withdrawn.")


class StatusModerationVote(NativeView):
    scopes = {"POST": WRITE, "DELETE": WRITE}

    @extend_schema(
        summary="Cast or change a vote on a status",
        description="Opens the status's case on the first vote.",
        parameters=[STATUS_ID],
        request=schema.VoteRequestSerializer,
        responses={200: schema.VoteSerializer, **schema.errors(404, 422, 429)},
    )
    def post(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        vote = services.vote_cast(voter=self.viewer, post=post, **_vote_input(self))
        return Response(render_vote(vote))

    @extend_schema(
        summary="Withdraw your vote on a status",
        description="Answers the status's case; 404 when the status has no case.",
        parameters=[STATUS_ID],
        responses={200: schema.CaseSerializer, **schema.errors(404, 422)},
    )
    def delete(self, request: Request, id: str) -> Response:
        post = post_get_visible_to(viewer=self.viewer, post_id=id)
        case = selectors.case_live_for_post(post=post)
        if case is None:
            raise NotFound("Record not found")
        withdraw(self.viewer, case)
        return case_response(case.pk, self.viewer)


class CaseAppeal(NativeView):
    scopes = {"POST": WRITE}

    @extend_schema(
        summary="Appeal a removal (the post's author only)",
        description="Once, within MODERATION_APPEAL_DAYS of the removal; admins decide.",
        parameters=[CASE_ID],
        request=schema.AppealRequestSerializer,
        responses={200: schema.CaseSerializer, **schema.errors(404, 422)},
    )
    def post(self, request: Request, id: str) -> Response:
        case, _ = case_for(self.viewer, id)
        services.case_appeal(author=self.viewer, case=case, text=self.params.str("text"))
        return case_response(case.pk, self.viewer)


class ReasonList(NativeView):
    public = {"GET"}

    @extend_schema(
        summary="Reason codes for votes",
        description="spam, legal and other, then one `rule:<id>` per instance rule.",
        responses={200: schema.ReasonSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"code": code, "text": text, "hint": hint}
                for code, text, hint in selectors.reason_choices()
            ]
        )
