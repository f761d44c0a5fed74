"""Public moderation documents: the transparency pages and the ActivityPub case and decision ids.

- `/transparency` lists recent decisions; `/transparency/cases/<id>` is the public page of one
  decided case (404 for an unknown or undecided case). Never voter identities, never the
  removed content.
- `/mod/decisions/<id>` is the `ModerationDecision` notice (moderation.md §2.4) for ActivityPub
  clients; browsers are redirected to the transparency page (`Vary: Accept`).
- `/mod/cases/<id>` is the case (the `target` of a ModerationVote): its post and state.

These documents are public (like the moderation actor), so authorized fetch does not apply.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from federation.views.common import (
    GET_OR_HEAD,
    activitypub_content_type,
    html_response,
    html_status,
    json_response,
)
from moderation import links, transparency
from ourvoice.core.errors import NotFound

#: Decisions per page of the transparency index.
PAGE_SIZE = 50
#: Decided cases change only by appeal or restore: a short public cache is enough.
CACHE = "max-age=60, public"


def _not_found(request: HttpRequest) -> HttpResponse:
    if activitypub_content_type(request):
        return json_response(
            {"error": "Record not found"}, content_type="application/json", status=404
        )
    return html_status(request, 404, "Not found", "There is no decided case with this number.")


@GET_OR_HEAD
def transparency_index(request: HttpRequest) -> HttpResponse:
    """Recent decisions, newest first, `?page=N`."""
    paginator = Paginator(transparency.cases_decided().select_related("post"), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [
        {
            "case": case,
            "verdict": transparency.VERDICTS.get(case.state, case.state),
            "url": links.transparency_url(case.id),
        }
        for case in page.object_list
    ]
    return html_response(
        request, "moderation/transparency_index.html", {"page": page, "rows": rows}
    )


@GET_OR_HEAD
def transparency_case(request: HttpRequest, case_id: int) -> HttpResponse:
    """The public page of one decided case."""
    try:
        case = transparency.case_decided_get(case_id=case_id)
    except NotFound:
        return _not_found(request)
    public = transparency.case_public(case)
    response = html_response(
        request,
        "moderation/transparency_case.html",
        {"p": public, "decision_uri": links.decision_uri(case.id)},
    )
    response["Cache-Control"] = CACHE
    return response


@GET_OR_HEAD
def decision(request: HttpRequest, case_id: int) -> HttpResponse:
    """The ModerationDecision notice, or a redirect to the transparency page for browsers."""
    try:
        case = transparency.case_decided_get(case_id=case_id)
    except NotFound:
        return _not_found(request)
    content_type = activitypub_content_type(request)
    if content_type is None:
        response = HttpResponseRedirect(links.transparency_url(case.id))
        response["Vary"] = "Accept"
        return response
    document = transparency.decision_document(transparency.case_public(case))
    return json_response(document, content_type=content_type, cache=CACHE)


@GET_OR_HEAD
def case(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case document (any state); browsers go to the transparency page once decided."""
    try:
        found = transparency.case_any_get(case_id=case_id)
    except NotFound:
        return _not_found(request)
    content_type = activitypub_content_type(request)
    if content_type is None:
        if found.state not in transparency.DECIDED_STATES:
            return html_status(request, 404, "Not decided", "This case has not been decided (yet).")
        response = HttpResponseRedirect(links.transparency_url(found.id))
        response["Vary"] = "Accept"
        return response
    return json_response(
        transparency.case_document(found), content_type=content_type, cache="max-age=60, public"
    )
